"""What compiles bytecode beside the build's check (poetry_venv/bytecode.py, issue #21)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

import pytest

from setup_poetry_parallel import process
from setup_poetry_parallel.paths import VenvPaths
from setup_poetry_parallel.poetry_venv import bytecode
from setup_poetry_parallel.poetry_venv.installer import COMPILE_POETRY, VERIFY, Installer
from setup_poetry_parallel.settings import read_index
from tests.test_seams import spec

VENV = VenvPaths(PurePosixPath("/install/key/builds/b1"), windows=False)
CHECK = '{"poetry": "2.5.1", "entry_points": [], "files": [], "sys_version": "3.11.7"}'


def scripts_run_by_verify(
    monkeypatch: pytest.MonkeyPatch, installer: str, env: Mapping[str, str]
) -> list[list[str]]:
    seen: list[list[str]] = []

    def fake_run(argv: Sequence[object], **_: object) -> str:
        seen.append([str(a) for a in argv])
        return CHECK

    monkeypatch.setattr(process, "run", fake_run)
    Installer(spec(installer), read_index({}), env).verify(VENV)
    return sorted(seen)


def test_jobs_that_cannot_write_bytecode_get_the_listed_modules_compiled_by_two_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = scripts_run_by_verify(monkeypatch, "uv", {"PYTHONDONTWRITEBYTECODE": "1"})
    python = str(VENV.python)
    listed = str(bytecode.HOT_MODULES)
    assert seen == [
        [python, "-c", bytecode.COMPILE, listed, "0", "2"],
        [python, "-c", bytecode.COMPILE, listed, "1", "2"],
        [python, "-c", VERIFY],
    ]


def test_jobs_that_write_bytecode_get_poetry_compiled_and_pip_compiles_by_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    python = str(VENV.python)
    seen = scripts_run_by_verify(monkeypatch, "uv", {"PYTHONDONTWRITEBYTECODE": ""})
    assert seen == [[python, "-c", COMPILE_POETRY], [python, "-c", VERIFY]]
    pip = scripts_run_by_verify(monkeypatch, "pip", {"PYTHONDONTWRITEBYTECODE": "1"})
    assert pip == [[python, "-c", VERIFY]]


def test_the_list_names_files_under_site_packages_poetrys_start_among_them() -> None:
    lines = bytecode.HOT_MODULES.read_text(encoding="utf-8").splitlines()
    listed = [line for line in lines if not line.startswith("#")]
    assert listed == sorted(set(listed))
    assert all(p.endswith(".py") and not p.startswith("/") and ".." not in p for p in listed)
    assert {"poetry/console/application.py", "cleo/application.py"} <= set(listed)


def test_the_workers_share_the_list_and_skip_what_this_venv_lacks(tmp_path: Path) -> None:
    """The compile script on a stand-in site-packages: each worker takes every other file."""
    site = tmp_path / "site"
    (site / "pkg").mkdir(parents=True)
    for name in ("a", "b", "c"):
        (site / "pkg" / f"{name}.py").write_text(f"{name} = 1\n")
    listed = tmp_path / "hot.txt"
    listed.write_text("# header\npkg/a.py\npkg/b.py\npkg/c.py\npkg/gone.py\n")
    # purelib pointed at the stand-in; the rest of the script as shipped.
    script = bytecode.COMPILE.replace('sysconfig.get_paths()["purelib"]', repr(str(site)))
    assert script != bytecode.COMPILE
    for index in ("0", "1"):
        argv = [sys.executable, "-c", script, str(listed), index, "2"]
        subprocess.run(argv, check=True)
        compiled = sorted(p.name.split(".")[0] for p in (site / "pkg/__pycache__").iterdir())
        assert compiled == (["a", "c"] if index == "0" else ["a", "b", "c"])
