"""`python -m benchmarks.downloads`: Poetry's downloads kept on the host (issue #10).

Two measures, side by side in one run, alternating:

- next run: a later CI run on the same host (a fresh state dir and job, the same install dir)
  runs `poetry install --no-root` of a project with nine small dependencies plus numpy and
  pandas. With the setup (its shared `download-cache`), against Poetry alone with its own
  persistent cache (what `~/.cache/pypoetry` gives a self-hosted runner), and against the
  setup with `--download-cache false` (v1: every job downloads everything again).
  Target: the setup within 1.1x of Poetry alone.
- matrix: the first run of a 4-job matrix on a cold host, all four `poetry install` at once,
  through a local index that counts each archive fetched (tests/fault_index.py, `count`):
  with the shared cache every archive should be fetched once; per job, four times.

Writes benchmarks/results/downloads.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.fault_index import Fault, serve
from tests.projects import SIMPLE_INDEX, make_project

from benchmarks.harness import (
    REPO,
    Log,
    Sandbox,
    engine_command,
    median,
    ratio,
    timed,
    timed_together,
)

DEPENDENCIES = (
    '"requests==2.32.3", "click==8.1.8", "attrs==25.1.0", "rich==13.9.4", "packaging==24.2",'
    ' "tabulate==0.9.0", "pyyaml==6.0.2", "tomli==2.2.1", "six==1.17.0",'
    ' "numpy==2.2.3", "pandas==2.2.3"'
)
TARGET = 1.1


def project(box: Sandbox, index: str = SIMPLE_INDEX) -> Path:
    path = make_project(box.root / "project", plugins="", dependencies=DEPENDENCIES)
    pyproject = path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(SIMPLE_INDEX, index))
    return path


def setup(box: Sandbox, where: Path, job: str, *extra: str) -> dict[str, str]:
    """The engine's exports for one job, applied to the sandbox's environment."""
    argv = [
        *engine_command(), "--poetry-version", "2.5.1", "--working-directory", str(where),
        "--install-dir", str(box.install), "--state-dir", str(box.state / job), "--job-id", job,
        "--format", "json", *extra,
    ]  # fmt: skip
    run = timed(argv, box.env())
    if not run.ok:
        raise RuntimeError(f"setup {job} failed: {run.tail(5)}")
    exported = json.loads(run.stdout)
    env = {**box.env(), **exported["env"]}
    env["PATH"] = ":".join([*exported["path"], env["PATH"]])
    return env


def install(env: dict[str, str], where: Path) -> float:
    run = timed(["poetry", "install", "--no-root"], env, cwd=where)
    if not run.ok:
        raise RuntimeError(f"poetry install failed: {run.tail(8)}")
    return run.seconds


def next_run(parent: Path, rounds: int, log: Log) -> dict[str, Any]:
    box = Sandbox.new(parent, "next-run")
    where = project(box)
    first = setup(box, where, "first-run")
    timed(["poetry", "lock"], first, cwd=where)
    install(first, where)  # the first run fills the host's download cache
    alone_cache = box.root / "poetry-alone-cache"
    alone = {**first, "POETRY_CACHE_DIR": str(alone_cache)}
    install({**alone, "POETRY_VIRTUALENVS_PATH": str(box.root / "alone-warm")}, where)
    sides: dict[str, list[float]] = {"setup": [], "poetry alone": [], "setup, cache per job": []}
    for index in range(rounds):
        order = list(sides) if index % 2 == 0 else list(reversed(sides))
        for side in order:
            job = f"r{index}-{side.replace(' ', '-').replace(',', '')}"
            if side == "poetry alone":
                env = {**alone, "POETRY_VIRTUALENVS_PATH": str(box.root / job)}
            else:
                extra = ("--download-cache", "false") if "per job" in side else ()
                env = setup(box, where, job, *extra)
            seconds = install(env, where)
            sides[side].append(seconds)
            log(f"  next run, {side}: {seconds:.1f} s")
    medians = {side: median(values) for side, values in sides.items()}
    return {
        "seconds": sides,
        "medians": medians,
        "ratio": ratio(medians["setup"], medians["poetry alone"]),
        "v1 ratio": ratio(medians["setup, cache per job"], medians["poetry alone"]),
    }


def matrix(parent: Path, jobs: int, log: Log) -> dict[str, Any]:
    fetched: dict[str, dict[str, int]] = {}
    for side, extra in (("shared", ()), ("per job", ("--download-cache", "false"))):
        box = Sandbox.new(parent, f"matrix-{side.replace(' ', '-')}")
        counter = Fault(kind="count")
        with serve(counter) as index:
            where = project(box, index + "/")
            envs = [setup(box, where, f"job-{n}", *extra) for n in range(jobs)]
            lock_env = {**envs[0], "POETRY_CACHE_DIR": str(box.root / "lock-cache")}
            timed(["poetry", "lock"], lock_env, cwd=where)
            counter.requests.clear()

            scratch = box.root / "out"
            scratch.mkdir()
            _, runs = timed_together(
                [(["poetry", "-C", str(where), "install", "--no-root"], env) for env in envs],
                scratch,
            )
            if not all(run.ok for run in runs):
                raise RuntimeError(f"matrix {side}: {[run.tail(4) for run in runs]}")
        fetched[side] = counter.downloads()
        log(
            f"  matrix, {side}: {sum(fetched[side].values())} fetches of {len(fetched[side])} archives"
        )
    return {
        side: {
            "archives": len(counts),
            "fetches": sum(counts.values()),
            "max per archive": max(counts.values()),
        }
        for side, counts in fetched.items()
    }


def table(next_result: dict[str, Any], matrix_result: dict[str, Any], jobs: int) -> str:
    m = next_result["medians"]
    shared, per_job = matrix_result["shared"], matrix_result["per job"]
    verdict = "met" if (next_result["ratio"] or 99) <= TARGET else "NOT met"
    return "\n".join(
        [
            "| measure | setup-poetry-parallel | Poetry alone | ratio | target |",
            "|---|---|---|---|---|",
            f"| next run on the host: `poetry install` (11 packages incl. numpy, pandas) | {m['setup']:.1f} s (cache per job, v1: {m['setup, cache per job']:.1f} s, {next_result['v1 ratio']:.2f}) | {m['poetry alone']:.1f} s | {next_result['ratio']:.2f} | <= {TARGET}, {verdict} |",
            f"| first run of a {jobs}-job matrix, cold host: archives fetched from the index | {shared['fetches']} for {shared['archives']} archives (most {shared['max per archive']}x) | per job: {per_job['fetches']} | {shared['fetches'] / per_job['fetches']:.2f} | each archive once |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.downloads", description=__doc__)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--jobs", type=int, default=4)
    args = p.parse_args(argv)
    log = Log()
    parent = Path(tempfile.mkdtemp(prefix="spp-bench-downloads-"))
    try:
        next_result = next_run(parent, args.rounds, log)
        matrix_result = matrix(parent, args.jobs, log)
    finally:
        shutil.rmtree(parent, ignore_errors=True)
    result = {"next run": next_result, "matrix": matrix_result}
    (REPO / "benchmarks" / "results" / "downloads.json").write_text(json.dumps(result, indent=2))
    print(table(next_result, matrix_result, args.jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
