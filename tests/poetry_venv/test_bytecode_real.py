"""A cold setup for a job that cannot write bytecode (PYTHONDONTWRITEBYTECODE, #21 item 4):
every module Poetry imports at start comes from bytecode the build wrote."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.engine_cli import setup

# CPython's -v line for a module compiled from its source; bytecode loads quote the .pyc path.
FROM_SOURCE = "# code object from /"


def compiled_at_start(env: dict[str, str], cwd: Path) -> list[str]:
    """The site-packages modules `poetry --version` compiled in memory (no bytecode)."""
    done = subprocess.run(
        ["poetry", "--version"],
        env={**env, "PYTHONVERBOSE": "1"},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stderr.splitlines()
    return [line for line in lines if line.startswith(FROM_SOURCE) and "/site-packages/" in line]


def test_poetrys_start_finds_its_bytecode_after_a_cold_setup(project: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = setup(project, tmp_path / "install", tmp_path / "state", "no-bytecode", env=env)
    assert done.returncode == 0, done.stderr
    job = done.env(env)
    assert compiled_at_start(job, project) == []
    assert compiled_at_start(job, project) == []  # and later starts: nothing was left for them


def test_control_a_build_that_leaves_bytecode_to_the_first_start(
    project: Path, tmp_path: Path
) -> None:
    """Built for a job that writes bytecode (Poetry's own package compiled, the rest left to
    the first start), started by one that cannot: the check sees hundreds compiled in memory,
    every start."""
    writes = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = setup(project, tmp_path / "install", tmp_path / "state", "writes", env=writes)
    assert done.returncode == 0, done.stderr
    job = done.env({**writes, "PYTHONDONTWRITEBYTECODE": "1"})
    first, later = compiled_at_start(job, project), compiled_at_start(job, project)
    assert len(first) > 100
    assert first == later
    assert not any("/site-packages/poetry/" in line for line in first)  # COMPILE_POETRY's
