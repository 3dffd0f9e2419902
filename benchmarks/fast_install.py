"""The job's own `poetry install` (issue #21 item 3): Poetry alone, with fast install, the limit.

`poetry install --no-root` of benchmarks/fast_install_project (the issue's list: requests,
pydantic, numpy, pandas, sqlalchemy, fastapi, boto3, pytest, hypothesis, black, mypy, sphinx and
their dependencies, 57 locked packages) into a fresh env, three ways:

| contender | how |
|---|---|
| poetry | the job's poetry from `setup-poetry-parallel --format json`, Poetry's own installer |
| fast | the same job set up with `--fast-install` (the engine exports `SPP_FAST_INSTALL=<its uv>`) |
| limit | `uv venv` + `uv pip sync --require-hashes` of the lock's own set (derived below) |

Measures: `warm` (caches filled by an untimed run before the rounds, a new job and env each
time), `cold` (a new empty download cache and uv cache per run) and `parallel` (8 jobs on one
host started at once, each with its own env, one shared download cache, empty at the start;
failures counted). A job's uv cache is the engine's default for fast install, inside the
shared download cache; the limit gets a uv cache of the same state (empty or filled). Every env is checked against the lock (every package at its locked
version, nothing else but the venv's seed), so a contender that installs less fails the bench
rather than winning it. The rounds are `./dev bench`'s: the order swapped every other round.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    POETRY_VERSION,
    REPO,
    Log,
    Run,
    Sandbox,
    base_python,
    engine_command,
    median,
    timed,
    timed_together,
    uv_bin,
)

FIXTURE = REPO / "benchmarks" / "fast_install_project"
JOBS = 8
# Targets (issue #21): fast install within 1.5x of the limit, at least 3x faster than Poetry warm.
LIMIT_RATIO = 1.5
SPEEDUP = 3.0
# What a venv holds before anything is installed (Poetry's virtualenv seeds pip; uv seeds none).
SEED = frozenset({"pip", "setuptools", "wheel"})
Row = dict[str, Any]
Pair = list[tuple[str, Callable[[], Row]]]


def _canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def _version(text: str) -> str:
    from packaging.version import Version

    return str(Version(text))


def _marker(package: Mapping[str, Any], groups: Iterable[str]) -> str:
    """The package's environment marker for the wanted groups ("" for always). Lock format 2.1
    writes one string, or a table by group when the groups' markers differ."""
    markers = package.get("markers", "")
    if isinstance(markers, str):
        return markers
    mine = sorted(set(groups) & set(package.get("groups", ["main"])))
    if any(g not in markers for g in mine):  # a group without a marker: always
        return ""
    chosen = [markers[g] for g in mine]
    return chosen[0] if len(chosen) == 1 else " or ".join(f"({m})" for m in chosen)


def _wanted(lock: Mapping[str, Any], groups: Iterable[str]) -> list[dict[str, Any]]:
    """The lock's packages in any of the groups, extras' (optional) packages left out: what
    `poetry install --no-root` installs without `--extras`."""
    wanted = set(groups)
    return [
        p
        for p in lock["package"]
        if not p.get("optional", False) and wanted & set(p.get("groups", ["main"]))
    ]


def requirements(lock_text: str, groups: Iterable[str] = ("main",)) -> str:
    """A hashed requirements file of the lock's index packages, as `poetry export` writes it:
    `name==version ; marker` and every file's hash. Only index packages (the limit is an index
    install): anything else in the lock is an error, not a silent gap."""
    lock = tomllib.loads(lock_text)
    groups = tuple(groups)
    urls, lines = set(), []
    for package in _wanted(lock, groups):
        source = package.get("source", {"type": "legacy", "url": "https://pypi.org/simple"})
        if source["type"] != "legacy":
            raise ValueError(f"{package['name']}: a {source['type']} package, not from an index")
        urls.add(source["url"].rstrip("/"))
        marker = _marker(package, groups)
        line = f"{package['name']}=={package['version']}" + (f" ; {marker}" if marker else "")
        hashes = [f"    --hash={f['hash']}" for f in package["files"]]
        lines.append(" \\\n".join([line, *hashes]))
    if len(urls) > 1:
        raise ValueError(f"the lock names {len(urls)} indexes; the limit takes one: {urls}")
    return "".join(f"--index-url {url}/\n" for url in urls) + "\n".join(lines) + "\n"


def expected(lock_text: str, groups: Iterable[str] = ("main",)) -> dict[str, str]:
    """Name -> version of what an install of the lock puts into an env of this interpreter."""
    from packaging.markers import Marker

    lock = tomllib.loads(lock_text)
    groups = tuple(groups)
    return {
        _canonical(p["name"]): _version(p["version"])
        for p in _wanted(lock, groups)
        if not (marker := _marker(p, groups)) or Marker(marker).evaluate()
    }


def installed(venv: Path) -> dict[str, str]:
    """Name -> version of every distribution in the venv's site-packages, seed left out."""
    found = {}
    for info in venv.glob("lib/python*/site-packages/*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        found[_canonical(name)] = _version(version)
    return {name: v for name, v in found.items() if name not in SEED}


def mismatch(want: Mapping[str, str], have: Mapping[str, str]) -> str:
    """ "" when the env holds exactly the lock's set, else what differs (for the error)."""
    missing = sorted(f"{n}=={v}" for n, v in want.items() if have.get(n) != v)
    extra = sorted(f"{n}=={v}" for n, v in have.items() if want.get(n) != v)
    return f"missing {missing}, unexpected {extra}" if missing or extra else ""


def has_fast_install() -> bool:
    """Whether this checkout's CLI has `--fast-install` (an older one: no fast rows)."""
    helped = subprocess.run(
        [*engine_command(), "--help"], capture_output=True, text=True, check=False
    )
    return "--fast-install" in helped.stdout


@dataclass
class Bed:
    """One host: the engine's Poetry install (built once, untimed), the fixture and its
    requirements file, and a persistent warm cache per contender."""

    box: Sandbox
    fast: bool
    python: Path
    want: dict[str, str]
    log: Log
    jobs: count[int]

    @property
    def requirements(self) -> Path:
        return self.box.root / "requirements.txt"

    @property
    def contenders(self) -> list[str]:
        return ["poetry", "fast", "limit"] if self.fast else ["poetry", "limit"]

    def caches(self, label: str) -> Path:
        """The caches named `label`: `downloads` is the jobs' `--download-cache` (Poetry's
        artifacts and, through the job's cache-dir link, fast install's uv cache), `uv` the
        limit's UV_CACHE_DIR."""
        root = self.box.root / label
        for sub in ("downloads", "uv"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        return root

    def project(self, job: str) -> Path:
        """A checkout of the fixture for one job (jobs on a host each have their own)."""
        path = self.box.root / "checkouts" / job
        shutil.copytree(FIXTURE, path)
        return path

    def job(self, *, fast: bool, downloads: Path) -> tuple[list[str], dict[str, str]]:
        """A new job set up by the engine (untimed); its `poetry install` argv and environment.
        `python` on PATH is the bench's interpreter, so Poetry's env and the limit's match.
        UV_CACHE_DIR is unset, as in a CI job: fast install's uv cache is the engine's default,
        `<Poetry's cache-dir>/uv`, which the engine links into the shared download cache."""
        name = f"job-{next(self.jobs)}"
        project = self.project(name)
        argv = [
            *engine_command(),
            *("--poetry-version", POETRY_VERSION, "--working-directory", str(project)),
            *("--install-dir", str(self.box.install), "--state-dir", str(self.box.state)),
            *("--job-id", name, "--download-cache", str(downloads), "--format", "json"),
            *(["--fast-install"] if fast else []),
        ]
        env = self.box.env()
        env.pop("SPP_FAST_INSTALL", None)
        done = _check(timed(argv, env), "the engine")
        exports = json.loads(done.stdout)
        env.update(exports["env"])
        env.pop("UV_CACHE_DIR")
        env["PATH"] = os.pathsep.join([*exports["path"], str(self.python.parent), env["PATH"]])
        return ["poetry", "-C", str(project), "install", "--no-root"], env

    def venv_of(self, env: Mapping[str, str]) -> Path:
        made = list(Path(env["POETRY_VIRTUALENVS_PATH"]).iterdir())
        if len(made) != 1:
            raise RuntimeError(f"expected one env under {env['POETRY_VIRTUALENVS_PATH']}: {made}")
        return made[0]

    def failure(self, run: Run, env: Mapping[str, str]) -> str:
        """ "" when Poetry exited 0 and its env holds exactly the lock's set."""
        if not run.ok:
            return f"exit {run.returncode}: {run.tail(8)}"
        return mismatch(self.want, installed(self.venv_of(env)))

    def poetry(self, cache: str, *, fast: bool) -> Row:
        downloads = self.caches(cache) / "downloads"
        argv, env = self.job(fast=fast, downloads=downloads)
        run = timed(argv, env)
        if problem := self.failure(run, env):
            raise RuntimeError(f"poetry install ({'fast' if fast else 'alone'}): {problem}")
        shutil.rmtree(Path(env["POETRY_VIRTUALENVS_PATH"]).parent, ignore_errors=True)
        return {
            "seconds": run.seconds,
            "packages": len(self.want),
            "uv_cache_used": _has_files(downloads / "uv"),
            "output": run.tail(4),
        }

    def limit(self, cache: str) -> Row:
        uv_cache = self.caches(cache) / "uv"
        venv = self.box.root / f"limit-{next(self.jobs)}"
        env = self.box.env(UV_CACHE_DIR=str(uv_cache))
        made = _check(timed([uv_bin(), "venv", "-q", "-p", str(self.python), str(venv)], env), "uv")
        sync = [uv_bin(), "pip", "sync", "-q", "--require-hashes", "-p", str(venv / "bin/python")]
        synced = _check(timed([*sync, str(self.requirements)], env), "uv pip sync")
        if problem := mismatch(self.want, installed(venv)):
            raise RuntimeError(f"uv pip sync: {problem}")
        shutil.rmtree(venv, ignore_errors=True)
        return {"seconds": made.seconds + synced.seconds, "packages": len(self.want)}

    def measure(self, contender: str, cache: str) -> Row:
        if contender == "limit":
            return self.limit(cache)
        return self.poetry(cache, fast=contender == "fast")

    def cold(self, contender: str) -> Row:
        label = f"cold-{next(self.jobs)}"
        try:
            return self.measure(contender, label)
        finally:
            shutil.rmtree(self.box.root / label, ignore_errors=True)

    def parallel(self, contender: str) -> Row:
        """JOBS jobs at once, each its own env, one shared download cache and uv cache (empty at
        the start: the first run on a host). A failure: a non-zero exit or a wrong env."""
        label = f"parallel-{next(self.jobs)}"
        downloads = self.caches(label) / "downloads"
        fast = contender == "fast"
        jobs = [self.job(fast=fast, downloads=downloads) for _ in range(JOBS)]
        scratch = self.box.root / label / "out"
        scratch.mkdir()
        try:
            wall, runs = timed_together(jobs, scratch)
            failures = [
                f for r, (_, e) in zip(runs, jobs, strict=True) if (f := self.failure(r, e))
            ]
        finally:
            shutil.rmtree(self.box.root / label, ignore_errors=True)
            for _, env in jobs:
                shutil.rmtree(Path(env["POETRY_VIRTUALENVS_PATH"]).parent, ignore_errors=True)
        for failure in failures:
            self.log(f"    parallel {contender}: {failure}")
        return {
            "seconds": wall,
            "jobs": [r.seconds for r in runs],
            "failed": len(failures),
            "failures": failures,
        }


def _has_files(path: Path) -> bool:
    """Whether uv wrote to its cache: the sign that fast install, not Poetry, installed."""
    return any(p.is_file() for p in path.rglob("*"))


def _check(run: Run, what: str) -> Run:
    if not run.ok:
        raise RuntimeError(f"{what} failed (exit {run.returncode}):\n{run.tail(15)}")
    return run


def prepare(parent: Path, log: Log) -> Bed:
    """The engine's Poetry install and every contender's warm cache, filled by one run each."""
    box = Sandbox.new(parent, "fast-install")
    lock = (FIXTURE / "poetry.lock").read_text(encoding="utf-8")
    bed = Bed(box, has_fast_install(), base_python(), expected(lock), log, count(1))
    bed.requirements.write_text(requirements(lock), encoding="utf-8")
    if not bed.fast:
        log("fast_install: this CLI has no --fast-install: no fast rows")
    log(f"fast_install: {len(bed.want)} packages; filling the warm caches (not timed)")
    for contender in bed.contenders:
        row = bed.measure(contender, f"warm-{contender}")
        # The control: Poetry alone leaves uv's cache empty, fast install fills it.
        if contender != "limit" and row["uv_cache_used"] != (contender == "fast"):
            raise RuntimeError(
                f"fast_install: {contender} {'did not use' if contender == 'fast' else 'used'} uv"
            )
    return bed


def pairs(bed: Bed, *, quick: bool = False) -> dict[str, Pair]:
    """Each measure's contenders; `./dev bench`'s `alternate` runs them and swaps the order.
    `--quick` leaves out the 8 jobs at once (two minutes of a 2-core machine per round)."""

    def make(measure: Callable[[str], Row], contender: str) -> Callable[[], Row]:
        return lambda: measure(contender)

    def warm(contender: str) -> Row:
        return bed.measure(contender, f"warm-{contender}")

    in_parallel = [c for c in bed.contenders if c != "limit"]
    return {
        "warm": [(c, make(warm, c)) for c in bed.contenders],
        "cold": [(c, make(bed.cold, c)) for c in bed.contenders],
        **({} if quick else {"parallel": [(c, make(bed.parallel, c)) for c in in_parallel]}),
    }


def remove(bed: Bed) -> None:
    bed.box.remove()


def _paired(rows: Mapping[str, list[Row]], top: str, bottom: str) -> dict[str, Any]:
    """The median of the per-round ratios top/bottom (each pair ran back to back) and the range."""
    if not rows.get(top) or not rows.get(bottom):
        return {"ratio": None, "ratios": []}
    ratios = sorted(
        a["seconds"] / b["seconds"] for a, b in zip(rows[top], rows[bottom], strict=True)
    )
    return {"ratio": median(ratios), "ratios": ratios}


def summarise(raw: Mapping[str, Mapping[str, list[Row]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for measure, rows in raw.items():
        row: dict[str, Any] = {c: median([r["seconds"] for r in runs]) for c, runs in rows.items()}
        row["fast_vs_limit"] = _paired(rows, "fast", "limit")
        row["poetry_vs_fast"] = _paired(rows, "poetry", "fast")
        row["poetry_vs_limit"] = _paired(rows, "poetry", "limit")
        if measure == "parallel":
            row["failed"] = {c: sum(r["failed"] for r in runs) for c, runs in rows.items()}
        summary[measure] = row
    summary["targets"] = _targets(summary)
    return summary


def _targets(summary: Mapping[str, Any]) -> dict[str, bool | None]:
    def at_most(value: float | None, limit: float) -> bool | None:
        return None if value is None else value <= limit

    warm, cold = summary.get("warm", {}), summary.get("cold", {})
    speedup = warm.get("poetry_vs_fast", {}).get("ratio")
    failed = summary.get("parallel", {}).get("failed")
    return {
        "warm_vs_limit": at_most(warm.get("fast_vs_limit", {}).get("ratio"), LIMIT_RATIO),
        "cold_vs_limit": at_most(cold.get("fast_vs_limit", {}).get("ratio"), LIMIT_RATIO),
        "warm_speedup": None if speedup is None else speedup >= SPEEDUP,
        "parallel_failures": None if failed is None else not any(failed.values()),
    }


def missed(summary: Mapping[str, Any]) -> list[str]:
    return [f"fast_install {n}" for n, ok in summary.get("targets", {}).items() if ok is False]


def _s(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def _x(paired: Mapping[str, Any]) -> str:
    if paired.get("ratio") is None:
        return "-"
    low, high = paired["ratios"][0], paired["ratios"][-1]
    return f"{paired['ratio']:.2f}x ({low:.2f}-{high:.2f})"


def _mark(ok: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "-"}[ok]


def markdown(summary: Mapping[str, Any]) -> str:
    lock = (FIXTURE / "poetry.lock").read_text(encoding="utf-8")
    packages = f"{len(expected(lock))} packages (of {len(tomllib.loads(lock)['package'])} locked)"
    met = summary["targets"]
    lines = [
        f"| The job's `poetry install --no-root`, {packages}, fresh env | Poetry alone"
        " | with fast install | limit: `uv venv` + `uv pip sync` | fast / limit | alone / fast"
        " | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for measure, label in (("warm", "warm caches"), ("cold", "cold: empty caches")):
        if row := summary.get(measure):
            target = f"fast <= {LIMIT_RATIO}x limit {_mark(met[f'{measure}_vs_limit'])}" + (
                f"; alone >= {SPEEDUP}x fast {_mark(met['warm_speedup'])}"
                if measure == "warm"
                else ""
            )
            lines.append(
                f"| {label} | {_s(row.get('poetry'))} | {_s(row.get('fast'))}"
                f" | {_s(row.get('limit'))} | {_x(row['fast_vs_limit'])}"
                f" | {_x(row['poetry_vs_fast'])} | {target} |"
            )
    if row := summary.get("parallel"):
        failed = row["failed"]

        def cell(c: str) -> str:
            return "-" if c not in failed else f"{_s(row.get(c))}, {failed[c]} failed"

        lines.append(
            f"| {JOBS} jobs at once, own envs, shared empty caches (wall) | {cell('poetry')}"
            f" | {cell('fast')} | - | - | {_x(row['poetry_vs_fast'])}"
            f" | 0 failures {_mark(met['parallel_failures'])} |"
        )
    lines += [
        "",
        "Medians of the rounds; ratios are medians of the per-round ratios (range in brackets),"
        " each set of contenders back to back, the order swapped every other round.",
    ]
    return "\n".join(lines)
