"""Sandboxes and stopwatches: every command runs with its own HOME and package caches in a temp dir.

Nothing here touches the real home, the real package caches or the repository: each sandbox
is a fresh directory under one bench root that is removed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.projects import POETRY_VERSION, PYTHONS, make_project, pyenv_root, python_path

REPO = Path(__file__).resolve().parents[1]
# The requirement the usual way installs, and the one the test project declares.
PLUGIN = "poetry-dynamic-versioning[plugin]"
USUAL_REQUIREMENTS = (f"poetry=={POETRY_VERSION}", PLUGIN)
# pip's cert setting is the one machine setting kept: it names the system CA bundle.
KEEP = ("PIP_CERT",)
DROP_PREFIXES = ("PIP_", "UV_", "POETRY_", "XDG_", "GITHUB_", "RUNNER_", "INPUT_")
# PYTHONDONTWRITEBYTECODE is set in some dev shells but not on runners: with it, every Poetry
# start in a venv installed without bytecode (uv's default) compiles ~1,400 modules (1.7 s, not 0.6).
DROP = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX", "PYTHONDONTWRITEBYTECODE")


def base_python() -> Path:
    """The interpreter the engine runs on (its default Poetry Python); the usual way uses it too."""
    return Path(sys.executable).resolve()


def engine_command() -> list[str]:
    script = Path(sys.executable).with_name("setup-poetry-parallel")
    return [str(script)] if script.exists() else [sys.executable, "-m", "setup_poetry_parallel"]


def uv_bin() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


def clean_environ(home: Path, uv_cache: Path, pip_cache: Path) -> dict[str, str]:
    """The caller's environment minus every package-tool setting, with caches in the sandbox.

    PIP_CONFIG_FILE=devnull stops pip from reading this machine's config files (they add a
    local find-links and extra indexes that a runner does not have).
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k in KEEP or not (k.startswith(DROP_PREFIXES) or k in DROP)
    }
    env.update(
        HOME=str(home),
        UV_CACHE_DIR=str(uv_cache),
        PIP_CACHE_DIR=str(pip_cache),
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        UV_PYTHON_DOWNLOADS="never",
        PYENV_ROOT=pyenv_root(),
    )
    return env


@dataclass
class Sandbox:
    """A fresh directory with its own HOME, uv cache, pip cache, install dir and state dir."""

    root: Path

    @classmethod
    def new(cls, parent: Path, name: str) -> Sandbox:
        root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=parent))
        for sub in ("home", "uv-cache", "pip-cache", "install", "state"):
            (root / sub).mkdir()
        return cls(root)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def install(self) -> Path:
        return self.root / "install"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def pip_cache(self) -> Path:
        return self.root / "pip-cache"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **clean_environ(self.home, self.root / "uv-cache", self.pip_cache),
            **extra,
        }

    def project(self) -> Path:
        path = self.root / "project"
        return path if path.is_dir() else make_project(path)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Run:
    seconds: float
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = 3) -> str:
        return "\n".join((self.stdout + self.stderr).strip().splitlines()[-lines:])


def timed(
    argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None, timeout: float = 900
) -> Run:
    started = time.perf_counter()
    done = subprocess.run(
        list(argv),
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    )
    return Run(time.perf_counter() - started, done.returncode, done.stdout, done.stderr)


def timed_together(
    commands: Sequence[tuple[Sequence[str], Mapping[str, str]]], scratch: Path
) -> tuple[float, list[Run]]:
    """Start every command at once; the wall time runs until the last one has exited.

    Output goes to files rather than pipes, so no process can block on a full pipe while the
    harness waits on another.
    """
    procs = []
    started = time.perf_counter()
    for index, (argv, env) in enumerate(commands):
        out = (scratch / f"{index}.out").open("w+")
        err = (scratch / f"{index}.err").open("w+")
        procs.append(
            (subprocess.Popen(list(argv), env=dict(env), stdout=out, stderr=err), out, err)
        )
    runs = []
    for proc, out, err in procs:
        returncode = proc.wait(timeout=900)
        ended = time.perf_counter()
        out.seek(0)
        err.seek(0)
        runs.append(Run(ended - started, returncode, out.read(), err.read()))
        out.close()
        err.close()
    return time.perf_counter() - started, runs


def engine_outputs(run: Run) -> dict[str, Any]:
    """The `--format json` document of an engine run, or {} when it failed."""
    try:
        return dict(json.loads(run.stdout)) if run.ok else {}
    except ValueError:
        return {}


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


@dataclass
class Log:
    """Progress on stderr, so stdout carries only the final table."""

    started: float = field(default_factory=time.perf_counter)

    def __call__(self, message: str) -> None:
        elapsed = time.perf_counter() - self.started
        print(f"[{elapsed:6.1f} s] {message}", file=sys.stderr, flush=True)


__all__ = [
    "POETRY_VERSION",
    "PYTHONS",
    "make_project",
    "python_path",
]
