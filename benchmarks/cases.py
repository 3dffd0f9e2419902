"""One function per measurement; each returns the raw numbers of one round as a dict.

"The usual way" is what the official installer, the most used Poetry action and pipx do:
a venv, then `pip install poetry==X` plus the plugins, with pip's cache.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    POETRY_VERSION,
    PYTHONS,
    REPO,
    USUAL_REQUIREMENTS,
    Run,
    Sandbox,
    base_python,
    dir_bytes,
    engine_command,
    engine_outputs,
    python_path,
    timed,
    timed_together,
    uv_bin,
)

OUTDATED = "Removing the project's plugin cache because it is outdated"
BURST_JOBS = 8


def _engine_argv(box: Sandbox, project: Path, job_id: str, *extra: str) -> list[str]:
    return [*engine_command(), *engine_args(box, project, job_id, *extra)]


def engine_args(box: Sandbox, project: Path, job_id: str, *extra: str) -> list[str]:
    return [
        "--poetry-version",
        POETRY_VERSION,
        "--working-directory",
        str(project),
        "--install-dir",
        str(box.install),
        "--state-dir",
        str(box.state),
        "--job-id",
        job_id,
        "--format",
        "json",
        *extra,
    ]


def _check(run: Run, what: str) -> Run:
    if not run.ok:
        raise RuntimeError(f"{what} failed (exit {run.returncode}):\n{run.tail(15)}")
    return run


# --- cold: empty install dir, empty package caches ------------------------------------------


def cold_engine(parent: Path) -> dict[str, Any]:
    box = Sandbox.new(parent, "cold-engine")
    try:
        run = _check(timed(_engine_argv(box, box.project(), "cold"), box.env()), "cold engine")
        reused = engine_outputs(run)["outputs"]["reused"]
        return {"seconds": run.seconds, "reused": reused}
    finally:
        box.remove()


def usual_way(box: Sandbox, name: str) -> dict[str, Any]:
    """`python -m venv` + `pip install poetry==X plugin`: the venv and pip parts timed apart."""
    venv = box.root / name
    make = _check(timed([str(base_python()), "-m", "venv", str(venv)], box.env()), "venv")
    pip = _check(
        timed(
            [str(venv / "bin" / "python"), "-m", "pip", "install", *USUAL_REQUIREMENTS],
            box.env(),
            cwd=box.root,
        ),
        "pip install",
    )
    return {"seconds": make.seconds + pip.seconds, "venv": make.seconds, "pip": pip.seconds}


def cold_usual(parent: Path) -> dict[str, Any]:
    box = Sandbox.new(parent, "cold-usual")
    try:
        return usual_way(box, "poetry")
    finally:
        box.remove()


def cold_uv_by_hand(parent: Path) -> dict[str, Any]:
    """Reference: `uv venv` + `uv pip install` of the same set, no engine around it."""
    box = Sandbox.new(parent, "cold-uv")
    venv = box.root / "poetry"
    try:
        make = _check(
            timed([uv_bin(), "venv", "-q", "-p", str(base_python()), str(venv)], box.env()),
            "uv venv",
        )
        install = _check(
            timed(
                [
                    uv_bin(),
                    "pip",
                    "install",
                    "-q",
                    "-p",
                    str(venv / "bin" / "python"),
                    *USUAL_REQUIREMENTS,
                ],
                box.env(),
            ),
            "uv pip install",
        )
        return {"seconds": make.seconds + install.seconds}
    finally:
        box.remove()


# --- warm: the install present / a warm pip cache --------------------------------------------


@dataclass
class WarmHost:
    """One sandbox whose install dir holds a finished install and whose pip cache is warm."""

    box: Sandbox
    counter: int = 0

    @classmethod
    def prepare(cls, parent: Path) -> WarmHost:
        box = Sandbox.new(parent, "warm")
        _check(timed(_engine_argv(box, box.project(), "warm-up"), box.env()), "warm-up engine")
        usual_way(box, "warm-up-venv")  # fills pip's cache, as a previous CI run would
        return cls(box)

    def engine(self) -> dict[str, Any]:
        self.counter += 1
        job = f"warm-{self.counter}"  # a new job: its own dirs are created on this run
        run = _check(timed(_engine_argv(self.box, self.box.project(), job), self.box.env()), job)
        return {"seconds": run.seconds, "reused": engine_outputs(run)["outputs"]["reused"]}

    def usual(self) -> dict[str, Any]:
        self.counter += 1
        name = f"usual-{self.counter}"
        try:
            result = usual_way(self.box, name)
        finally:
            shutil.rmtree(self.box.root / name, ignore_errors=True)
        # This index sends no caching headers, so pip's HTTP cache may stay empty: recorded.
        return {**result, "pip_cache_bytes": dir_bytes(self.box.pip_cache)}


# --- burst: eight setups at once on a cold shared install dir -------------------------------


def burst(parent: Path, jobs: int = BURST_JOBS) -> dict[str, Any]:
    box = Sandbox.new(parent, "burst")
    scratch = box.root / "out"
    scratch.mkdir()
    try:
        project = box.project()
        commands = [(_engine_argv(box, project, f"burst-{i}"), box.env()) for i in range(jobs)]
        wall, runs = timed_together(commands, scratch)
        reused = [engine_outputs(r).get("outputs", {}).get("reused") for r in runs]
        return {
            "seconds": wall,
            "jobs": jobs,
            "each": [r.seconds for r in runs],
            "failed": sum(not r.ok for r in runs),
            "built": reused.count("false"),
            "reused": reused.count("true"),
            "errors": [r.tail() for r in runs if not r.ok],
        }
    finally:
        box.remove()


def solo(parent: Path) -> dict[str, Any]:
    """One setup alone on a cold install dir, for the burst's ratio (same as cold_engine)."""
    return cold_engine(parent)


# --- the action's bootstrap: from `python -I bootstrap.py` to the engine's start -------------


def action_python() -> Path:
    """What action.yml picks on this host: /usr/bin/python3 when it is 3.11+ and has pip."""
    system = Path("/usr/bin/python3")
    if system.exists():
        probe = timed(
            [str(system), "-c", "import sys, pip; sys.exit(sys.version_info < (3, 11))"], {}
        )
        if probe.ok:
            return system
    return base_python()


def action_checkout(parent: Path, name: str) -> Path:
    """A copy of what a job downloads for `uses:`: the sources and pyproject.toml, no bytecode."""
    root = parent / name
    shutil.copytree(
        REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    shutil.copy2(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


@dataclass
class BootstrapHost:
    """The action's first job on a host installs the engine's dependencies; later ones reuse."""

    box: Sandbox
    python: Path
    counter: int = 0

    @classmethod
    def new(cls, parent: Path) -> BootstrapHost:
        return cls(Sandbox.new(parent, "bootstrap"), action_python())

    def run(self, checkout: Path) -> Run:
        # --version is the engine's cheapest path: it parses its arguments and exits, so the
        # time is the bootstrap's plus the engine's start, without any setup work.
        argv = [
            str(self.python),
            "-I",
            str(checkout / "src/setup_poetry_parallel/bootstrap.py"),
            "--version",
        ]
        env = self.box.env(INPUT_INSTALL_DIR=str(self.box.install))
        return _check(timed(argv, env), "bootstrap")

    def first_job(self) -> dict[str, Any]:
        run = self.run(action_checkout(self.box.root, "action-first"))
        # The locked wheels fetched by the bootstrap itself, or pip when that path was refused.
        path = "pip" if "with pip from" in run.stderr else "locked wheels"
        return {"seconds": run.seconds, "python": str(self.python), "path": path}

    def later_job(self, *, fresh_checkout: bool) -> dict[str, Any]:
        self.counter += 1
        if fresh_checkout:  # a hosted runner downloads the action for every job: no bytecode
            checkout = action_checkout(self.box.root, f"action-{self.counter}")
        else:  # a self-hosted runner keeps the action: its bytecode from earlier jobs is there
            checkout = self.box.root / "action-first"
        return {"seconds": self.run(checkout).seconds}


# --- the original report's scenario -----------------------------------------------------------


@dataclass
class JobResult:
    seconds: float
    setup_seconds: float
    installs: list[Run]


def _count(runs: list[Run], text: str) -> int:
    return sum(text in (r.stdout + r.stderr) for r in runs)


def _error_kinds(runs: list[Run]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for run in runs:
        if not run.ok:
            line = run.tail(1)
            kind = re.sub(r"'[^']*'", "'…'", line)[:160]
            kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


@dataclass
class Scenario:
    """Four jobs, Poetry on 3.10-3.13, one shared project, each looping `poetry install`."""

    box: Sandbox
    loops: int
    round: int = 0

    @classmethod
    def prepare(cls, parent: Path, loops: int, log: Callable[[str], None]) -> Scenario:
        box = Sandbox.new(parent, "scenario")
        project = box.project()
        uv = uv_bin()
        for minor in PYTHONS:
            python = str(python_path(minor))
            log(f"  scenario setup: plain Poetry venv and engine install for Python {minor}")
            venv = box.root / f"plain-{minor}"
            _check(timed([uv, "venv", "-q", "-p", python, str(venv)], box.env()), "uv venv")
            _check(
                timed(
                    [
                        uv,
                        "pip",
                        "install",
                        "-q",
                        "-p",
                        str(venv / "bin/python"),
                        *USUAL_REQUIREMENTS,
                    ],
                    box.env(),
                ),
                "uv pip install",
            )
            _check(
                timed(
                    _engine_argv(box, project, f"prepare-{minor}", "--poetry-python", python),
                    box.env(),
                ),
                "engine install",
            )
        # One lock file up front, as a real project has: the jobs then only install.
        lock_home = box.root / "lock-home"
        lock_home.mkdir()
        _check(
            timed(
                [str(box.root / "plain-3.12/bin/poetry"), "lock"],
                box.env(HOME=str(lock_home)),
                cwd=project,
            ),
            "poetry lock",
        )
        shutil.rmtree(project / ".poetry", ignore_errors=True)
        return cls(box, loops)

    @property
    def project(self) -> Path:
        return self.box.root / "project"

    def _job_env(self, home: Path, minor: str) -> dict[str, str]:
        env = self.box.env(HOME=str(home))
        # Each job's own Python first on PATH, as actions/setup-python does in its container.
        env["PATH"] = f"{python_path(minor).parent}:{env['PATH']}"
        return env

    def _loop(self, poetry: str, env: dict[str, str]) -> list[Run]:
        return [
            timed([poetry, "install", "--no-interaction"], env, cwd=self.project)
            for _ in range(self.loops)
        ]

    def _engine_job(self, minor: str, home: Path, state: Path) -> JobResult:
        env = self._job_env(home, minor)
        python = str(python_path(minor))
        argv = [
            *_engine_argv(
                self.box,
                self.project,
                f"job-{minor}",
                "--poetry-python",
                python,
                "--python-version",
                minor,
            )
        ]
        argv[argv.index("--state-dir") + 1] = str(state)
        setup = timed(argv, env)
        if not setup.ok:
            return JobResult(setup.seconds, setup.seconds, [setup])
        exports = engine_outputs(setup)
        env.update(exports["env"])
        env["PATH"] = ":".join([*exports["path"], env["PATH"]])
        poetry = shutil.which("poetry", path=env["PATH"]) or "poetry"
        runs = self._loop(poetry, env)
        return JobResult(setup.seconds + sum(r.seconds for r in runs), setup.seconds, runs)

    def _plain_job(self, minor: str, home: Path) -> JobResult:
        runs = self._loop(
            str(self.box.root / f"plain-{minor}/bin/poetry"), self._job_env(home, minor)
        )
        return JobResult(sum(r.seconds for r in runs), 0.0, runs)

    def run(self, *, engine: bool) -> dict[str, Any]:
        self.round += 1
        label = f"{'engine' if engine else 'plain'}-{self.round}"
        home = self.box.root / f"home-{label}"  # shared by the four jobs: default Poetry dirs
        home.mkdir()
        state = self.box.root / f"state-{label}"
        shutil.rmtree(self.project / ".poetry", ignore_errors=True)
        results: dict[str, JobResult] = {}

        def job(minor: str) -> None:
            results[minor] = (
                self._engine_job(minor, home, state) if engine else self._plain_job(minor, home)
            )

        threads = [threading.Thread(target=job, args=(m,)) for m in PYTHONS]
        wall = _wall(threads)
        runs = [r for result in results.values() for r in result.installs]
        shared_cache = self.project / ".poetry"
        return {
            "seconds": wall,
            "jobs": len(PYTHONS),
            "loops": self.loops,
            "installs": len(runs),
            "failed": sum(not r.ok for r in runs),
            "outdated": _count(runs, OUTDATED),
            "setup_seconds": {m: r.setup_seconds for m, r in results.items()},
            "install_seconds": [r.seconds for r in runs],
            "errors": _error_kinds(runs),
            "shared_plugin_cache_files": sum(1 for _ in shared_cache.rglob("*"))
            if shared_cache.exists()
            else 0,
        }


def _wall(threads: list[threading.Thread]) -> float:
    import time

    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started
