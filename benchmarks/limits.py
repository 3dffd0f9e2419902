"""Against the limit (issue #14): each setup beside the barest way to get the same result.

| measure | setup-poetry-parallel | the limit |
|---|---|---|
| cold_first | cold setup (engine already there) + the job's first `poetry --version` | `uv venv` + `uv pip install` of the same set + its first `poetry --version` |
| cold_nobytecode | the same with `PYTHONDONTWRITEBYTECODE=1` (many container images; #21) | the same bare pair with it |
| later_start_nobytecode | (shown) the job's second `poetry --version` of that row | the bare pair's second |
| first_job | the action's bootstrap on a fresh host (engine deps) + cold setup + first `poetry --version` | the same bare pair, same empty caches |
| warm_python | warm setup with `python-version` (not the `python` on PATH) | warm setup without it |
| warm_floor | warm setup as the action starts it (`python -I bootstrap.py`) | `python -I -c pass` |
| warm_cli | warm setup as a user starts the CLI (the console script, `--format sh`) | `python -I -c pass` of the script's interpreter |

The burst target (8 setups at once <= 1.3x one) is the `burst` section's. Every pair runs back
to back, the order swapped every other round; a ratio is the median of the rounds' ratios.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.cases import _check, action_checkout, action_python, engine_args
from benchmarks.harness import (
    POETRY_VERSION,
    USUAL_REQUIREMENTS,
    Run,
    Sandbox,
    base_python,
    engine_command,
    engine_outputs,
    python_path,
    timed,
    uv_bin,
)

TARGETS = {
    "cold_first": 1.1,
    "cold_nobytecode": 1.1,
    "first_job": 1.3,
    "warm_python": 1.5,
    "warm_floor": 3.0,
    "warm_cli": 3.0,
}
# shown, not judged
REFERENCE = {"warm_python_full": 1.5, "warm_floor_full": 3.0, "later_start_nobytecode": 1.0}
PROJECT_PYTHON = "3.12"  # not the Python on PATH nor Poetry's (3.11): the job's env needs it
# A job that cannot write bytecode (harness.DROP removes the variable from the other rows).
NO_BYTECODE = {"PYTHONDONTWRITEBYTECODE": "1"}


def _first_version(setup: Run, env: dict[str, str]) -> Run:
    """The job's first `poetry --version`, with the environment the setup exported."""
    exports = engine_outputs(setup)
    job_env = {**env, **exports["env"], "PATH": ":".join([*exports["path"], env["PATH"]])}
    return _check(timed([exports["outputs"]["poetry-path"], "--version"], job_env), "poetry")


def bare_pair(parent: Path, python: Path, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The limit: uv by hand, then the first start of the Poetry it installed (and, for the
    record, its second: the job's later starts)."""
    box = Sandbox.new(parent, "bare")
    venv = box.root / "poetry"
    try:
        env = box.env(**(extra or {}))
        made = _check(timed([uv_bin(), "venv", "-q", "-p", str(python), str(venv)], env), "uv")
        argv = [uv_bin(), "pip", "install", "-q", "-p", str(venv / "bin/python")]
        installed = _check(timed([*argv, *USUAL_REQUIREMENTS], env), "uv pip install")
        first = _check(timed([str(venv / "bin/poetry"), "--version"], env), "poetry")
        later = _check(timed([str(venv / "bin/poetry"), "--version"], env), "poetry")
        return {
            "seconds": made.seconds + installed.seconds + first.seconds,
            "install": made.seconds + installed.seconds,
            "first_start": first.seconds,
            "later_start": later.seconds,
        }
    finally:
        box.remove()


def cold_first(parent: Path, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    box = Sandbox.new(parent, "cold-first")
    try:
        argv = [*engine_command(), *engine_args(box, box.project(), "cold")]
        return _setup_and_first_start(argv, box.env(**(extra or {})))
    finally:
        box.remove()


def first_job(parent: Path, python: Path) -> dict[str, Any]:
    """A fresh host: the action's files, nothing installed, empty caches; as action.yml runs."""
    box = Sandbox.new(parent, "first-job")
    try:
        checkout = action_checkout(box.root, "action")
        entry = [str(python), "-I", str(checkout / "src/setup_poetry_parallel/bootstrap.py")]
        argv = [*entry, *engine_args(box, box.project(), "job")]
        return _setup_and_first_start(argv, box.env(INPUT_INSTALL_DIR=str(box.install)))
    finally:
        box.remove()


def _setup_and_first_start(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    setup = _check(timed(argv, env), "setup")
    first = _first_version(setup, env)
    return {
        "seconds": setup.seconds + first.seconds,
        "setup": setup.seconds,
        "first_start": first.seconds,
        "later_start": _first_version(setup, env).seconds,
    }


@dataclass
class WarmHost:
    """One host whose engine and Poetry install are in place; every run is a new job of the
    composite action (`--inputs-from-env` on a runner: the warm lane's case)."""

    box: Sandbox
    entry: list[str]
    python: Path
    counter: int = 0

    @classmethod
    def prepare(cls, parent: Path, python: Path) -> WarmHost:
        box = Sandbox.new(parent, "limits-warm")
        checkout = action_checkout(box.root, "action")
        entry = [str(python), "-I", str(checkout / "src/setup_poetry_parallel/bootstrap.py")]
        host = cls(box, entry, python)
        python_path(PROJECT_PYTHON)  # fails early if this machine lacks it
        for lane in (True, False):  # bootstraps the engine, builds the install, records: untimed
            host.setup(lane=lane)
            host.setup(PROJECT_PYTHON, lane=lane)
            host.cli(lane=lane)
        return host

    def setup(self, python_version: str = "", *, lane: bool = True) -> dict[str, Any]:
        self.counter += 1
        job = self.box.root / "jobs" / str(self.counter)
        job.mkdir(parents=True)
        files = {n: job / n for n in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT")}
        for path in files.values():
            path.touch()
        env = self.box.env(
            GITHUB_ACTIONS="true",
            GITHUB_RUN_ID=str(self.counter),
            GITHUB_JOB="bench",
            RUNNER_TEMP=str(job / "temp"),
            INPUT_POETRY_VERSION=POETRY_VERSION,
            INPUT_WORKING_DIRECTORY=str(self.box.project()),
            INPUT_INSTALL_DIR=str(self.box.install),
            INPUT_PYTHON_VERSION=python_version,
            **({} if lane else {"SPP_WARM_LANE": "0"}),
            **{name: str(path) for name, path in files.items()},
        )
        run = _check(timed([*self.entry, "--inputs-from-env"], env), f"job {self.counter}")
        return {"seconds": run.seconds, "lane": "(warm lane)" in run.stderr}

    def cli(self, *, lane: bool = True) -> dict[str, Any]:
        """A job of the installed console script off a runner (`--format sh`, the text a user
        evals): the warm lane serves it too (console.py)."""
        self.counter += 1
        argv = [
            *engine_command(),
            *("--poetry-version", POETRY_VERSION, "--working-directory", str(self.box.project())),
            *("--install-dir", str(self.box.install), "--format", "sh"),
            *("--state-dir", str(self.box.root / "cli-state"), "--job-id", f"cli-{self.counter}"),
        ]
        env = self.box.env(**({} if lane else {"SPP_WARM_LANE": "0"}))
        run = _check(timed(argv, env), f"cli job {self.counter}")
        return {"seconds": run.seconds, "lane": "(warm lane)" in run.stderr}

    def bare_cli_python(self) -> dict[str, Any]:
        """The console script's interpreter (the venv's, beside the script), started bare."""
        return {"seconds": _check(timed([sys.executable, "-I", "-c", "pass"], {}), "py").seconds}

    def with_python(self, *, lane: bool = True) -> dict[str, Any]:
        return self.setup(PROJECT_PYTHON, lane=lane)

    def bare_python(self) -> dict[str, Any]:
        return {"seconds": _check(timed([str(self.python), "-I", "-c", "pass"], {}), "py").seconds}


def median_of(measure: Callable[[], dict[str, Any]], repeats: int) -> dict[str, Any]:
    """Sub-second measures: the median of several runs is the round's figure."""
    rows = [measure() for _ in range(repeats)]
    values = sorted(r["seconds"] for r in rows)
    lanes = [r["lane"] for r in rows if "lane" in r]
    return {"seconds": values[len(values) // 2], "runs": values, "lane": lanes}


def pairs(
    parent: Path, warm: WarmHost, repeats: int
) -> dict[str, list[tuple[str, Callable[[], dict[str, Any]]]]]:
    """Each measure's two contenders, setup-poetry-parallel first. Poetry runs on the same
    interpreter on both sides: the engine's own for cold_first (no `poetry-python`), the one
    action.yml picks for the action's measures (a distro build and a pyenv build of one
    release start Poetry at different speeds)."""
    python = warm.python
    return {
        "cold_first": [
            ("engine", lambda: cold_first(parent)),
            ("bare", lambda: bare_pair(parent, base_python())),
        ],
        "cold_nobytecode": [
            ("engine", lambda: cold_first(parent, NO_BYTECODE)),
            ("bare", lambda: bare_pair(parent, base_python(), NO_BYTECODE)),
        ],
        "first_job": [
            ("engine", lambda: first_job(parent, python)),
            ("bare", lambda: bare_pair(parent, python)),
        ],
        "warm_python": [
            ("engine", lambda: median_of(warm.with_python, repeats)),
            ("bare", lambda: median_of(warm.setup, repeats)),
        ],
        "warm_floor": [
            ("engine", lambda: median_of(warm.setup, repeats)),
            ("bare", lambda: median_of(warm.bare_python, repeats)),
        ],
        "warm_cli": [
            ("engine", lambda: median_of(warm.cli, repeats)),
            ("bare", lambda: median_of(warm.bare_cli_python, repeats)),
        ],
        # For the record, no target: the same two without the warm lane (the engine's full
        # path, which a job takes when its inputs or the install changed).
        "warm_python_full": [
            ("engine", lambda: median_of(lambda: warm.with_python(lane=False), repeats)),
            ("bare", lambda: median_of(lambda: warm.setup(lane=False), repeats)),
        ],
        "warm_floor_full": [
            ("engine", lambda: median_of(lambda: warm.setup(lane=False), repeats)),
            ("bare", lambda: median_of(warm.bare_python, repeats)),
        ],
    }


def prepare(parent: Path) -> WarmHost:
    return WarmHost.prepare(parent, action_python())


def summarise(raw: dict[str, Any], burst: dict[str, Any] | None) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    if rows := raw.get("cold_nobytecode"):  # the same runs' second starts
        later = {side: [{"seconds": r["later_start"]} for r in rows[side]] for side in rows}
        raw = {**raw, "later_start_nobytecode": later}
    for name, limit in {**TARGETS, **REFERENCE}.items():
        rows = raw.get(name)
        if not rows:
            continue
        engine, bare = rows["engine"], rows["bare"]
        ratios = sorted(e["seconds"] / b["seconds"] for e, b in zip(engine, bare, strict=True))
        summary[name] = {
            "engine": _median([r["seconds"] for r in engine]),
            "bare": _median([r["seconds"] for r in bare]),
            "ratio": _median(ratios),
            "ratios": ratios,
            "target": limit,
            "met": _median(ratios) <= limit,
            "judged": name in TARGETS,
        }
    if burst:
        summary["burst"] = {
            "engine": burst["eight"],
            "bare": burst["one"],
            "ratio": burst["ratio"],
            "target": 1.3,
            "met": burst["ratio"] is not None
            and burst["ratio"] <= 1.3
            and all(b == 1 for b in burst["built"]),
        }
    return summary


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


LABELS = {
    "cold_first": (
        "Cold setup + first `poetry --version`",
        "`uv venv` + `uv pip install` + first `poetry --version`",
    ),
    "cold_nobytecode": (
        "The same with `PYTHONDONTWRITEBYTECODE=1` (containers)",
        "the same bare pair with it",
    ),
    "later_start_nobytecode": (
        "(reference) that row's second `poetry --version`",
        "the bare pair's second",
    ),
    "first_job": (
        "First job on a fresh host: bootstrap + cold setup + first `poetry --version`",
        "the same bare uv pair, same empty caches",
    ),
    "warm_python": ("Warm setup with `python-version`", "warm setup without"),
    "warm_floor": ("Warm setup, as the action starts it", "`python -I -c pass`"),
    "warm_cli": ("Warm CLI setup (the console script, `--format sh`)", "`python -I -c pass`"),
    "warm_python_full": (
        "(reference) warm setup with `python-version`, full path (`SPP_WARM_LANE=0`)",
        "the same without",
    ),
    "warm_floor_full": (
        "(reference) warm setup, full path (`SPP_WARM_LANE=0`)",
        "`python -I -c pass`",
    ),
    "burst": ("8 setups at once, cold install dir", "one setup alone (one build)"),
}


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        "| Against the limit | setup-poetry-parallel | limit | ratio (median of rounds) | target |",
        "|---|---|---|---|---|",
    ]
    for name, (ours, limit) in LABELS.items():
        if row := summary.get(name):
            verdict = ("met" if row["met"] else "**missed**") if row.get("judged", True) else "-"
            lines.append(
                f"| {ours} | {row['engine']:.3f} s | {limit}: {row['bare']:.3f} s"
                f" | {row['ratio']:.2f}x | <= {row['target']}x, {verdict} |"
            )
    return "\n".join(lines)


def remove(warm: WarmHost) -> None:
    shutil.rmtree(warm.box.root, ignore_errors=True)
