"""`python -m benchmarks.races`: what the protections against Poetry's races cost.

`poetry install --no-root` of a project with 40 pinned packages, into a fresh env ("cold") and
as an update of an env holding older versions of all 40 ("update": 40 uninstalls), by one
Poetry 2.5.1 set up by the engine, three ways, alternating:

- protected: our plugin's protections on (the default),
- parallel on: the same Poetry with every SPP_PROTECT_* switched off (Poetry alone),
- parallel off: as above plus `POETRY_INSTALLER_PARALLEL=false` (the workaround users know).

Poetry's artifact cache and uv's cache are warm (filled while preparing, not timed), so the
figures are the install itself, not the network. The env is a uv venv with pip on Python 3.11
(its pip runs Poetry's uninstalls). Writes benchmarks/results/races.json; prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.projects import POETRY_VERSION, make_project, python_path

from benchmarks.harness import REPO, Log, Run, Sandbox, engine_command, median, timed, uv_bin

# name: (version installed by the update's "before", version locked)
PACKAGES = {
    "six": ("1.15.0", "1.17.0"),
    "idna": ("3.4", "3.10"),
    "certifi": ("2023.7.22", "2025.1.31"),
    "urllib3": ("1.26.18", "2.3.0"),
    "attrs": ("23.1.0", "25.1.0"),
    "packaging": ("23.1", "24.2"),
    "pyparsing": ("3.0.9", "3.2.1"),
    "click": ("8.1.3", "8.1.8"),
    "itsdangerous": ("2.1.2", "2.2.0"),
    "jinja2": ("3.1.2", "3.1.5"),
    "pytz": ("2023.3", "2025.1"),
    "python-dateutil": ("2.8.2", "2.9.0.post0"),
    "tomli": ("2.0.1", "2.2.1"),
    "toml": ("0.10.1", "0.10.2"),
    "colorama": ("0.4.5", "0.4.6"),
    "decorator": ("5.1.0", "5.1.1"),
    "pygments": ("2.15.1", "2.19.1"),
    "typing-extensions": ("4.7.1", "4.12.2"),
    "zipp": ("3.15.0", "3.21.0"),
    "iniconfig": ("1.1.1", "2.0.0"),
    "pluggy": ("1.2.0", "1.5.0"),
    "more-itertools": ("9.1.0", "10.6.0"),
    "soupsieve": ("2.4.1", "2.6"),
    "chardet": ("5.1.0", "5.2.0"),
    "cachetools": ("5.3.1", "5.5.1"),
    "tabulate": ("0.8.10", "0.9.0"),
    "docutils": ("0.20.1", "0.21.2"),
    "markupsafe": ("2.1.3", "3.0.2"),
    "filelock": ("3.12.2", "3.16.1"),
    "platformdirs": ("3.10.0", "4.3.6"),
    "distlib": ("0.3.7", "0.3.9"),
    "pycparser": ("2.21", "2.22"),
    "sniffio": ("1.3.0", "1.3.1"),
    "h11": ("0.13.0", "0.14.0"),
    "blinker": ("1.6.2", "1.9.0"),
    "mccabe": ("0.6.1", "0.7.0"),
    "pyflakes": ("3.1.0", "3.2.0"),
    "pycodestyle": ("2.11.1", "2.12.1"),
    "wcwidth": ("0.2.6", "0.2.13"),
    "sortedcontainers": ("2.3.0", "2.4.0"),
}


def _switches() -> list[str]:
    """Every SPP_PROTECT_* switch the plugin knows (read from its source, not imported: it
    imports Poetry's modules only inside Poetry)."""
    source = (REPO / "src/setup_poetry_parallel/poetry_plugin/spp_poetry_races.py").read_text()
    return sorted(set(re.findall(r'"(SPP_PROTECT_[A-Z_]+)"', source)))


SWITCHES_OFF = dict.fromkeys(_switches(), "0")
CONTENDERS = {
    "protected": {},
    "parallel_on": SWITCHES_OFF,
    "parallel_off": {**SWITCHES_OFF, "POETRY_INSTALLER_PARALLEL": "false"},
}
ENV_PYTHON = "3.11"
KINDS = ("cold", "update", "cold_cpu", "update_cpu")
RESULTS = REPO / "benchmarks" / "results" / "races.json"


class Job:
    """One engine job with the 40-package project locked, and fresh envs on demand."""

    def __init__(self, root: Path, log: Log) -> None:
        self.box = Sandbox.new(root, "races")
        pins = ", ".join(f'"{name}=={new}"' for name, (_, new) in PACKAGES.items())
        self.project = make_project(self.box.root / "project", plugins="", dependencies=pins)
        self.env = self._setup()
        self._count = 0
        log("races: locking 40 packages and warming Poetry's artifact cache (not timed)")
        _check(self.poetry(self.fresh_env(), {}, "lock"), "poetry lock")
        _check(self.poetry(self.fresh_env(), {}, "install", "--no-root"), "first install")
        self.old_env()  # fills uv's cache with the old versions

    def _setup(self) -> dict[str, str]:
        argv = [
            *engine_command(),
            *("--poetry-version", POETRY_VERSION, "--working-directory", str(self.project)),
            *("--install-dir", str(self.box.install), "--state-dir", str(self.box.state)),
            *("--job-id", "races", "--format", "json"),
        ]
        run = _check(timed(argv, self.box.env()), "the engine")
        result = json.loads(run.stdout)
        env = {**self.box.env(), **result["env"]}
        env["PATH"] = os.pathsep.join([*result["path"], env["PATH"]])
        return env

    def fresh_env(self) -> Path:
        self._count += 1
        venv = self.box.root / f"venv-{self._count}"
        python = str(python_path(ENV_PYTHON))
        subprocess.run(
            [uv_bin(), "venv", "-q", "--seed", "--python", python, str(venv)], check=True
        )
        # Bytecode for the seeded pip, as pip's own installs and virtualenv's seeds have it:
        # otherwise the first pip processes of a run compile pip concurrently and the
        # uninstall figures measure that instead.
        site = venv / "lib" / f"python{ENV_PYTHON}" / "site-packages"
        compileall = [str(venv / "bin" / "python"), "-m", "compileall", "-q", str(site)]
        subprocess.run(compileall, check=True)
        return venv

    def old_env(self) -> Path:
        venv = self.fresh_env()
        old = [f"{name}=={before}" for name, (before, _) in PACKAGES.items()]
        python = str(venv / "bin" / "python")
        argv = [uv_bin(), "pip", "install", "-q", "--compile-bytecode", "--python", python, *old]
        subprocess.run(argv, check=True, env=self.box.env(), capture_output=True)
        return venv

    def poetry(self, venv: Path, extra: dict[str, str], *args: str) -> Run:
        env = {**self.env, **extra, "VIRTUAL_ENV": str(venv)}
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
        return timed(["poetry", *args], env, cwd=self.project)


def _check(run: Run, what: str) -> Run:
    if not run.ok:
        raise RuntimeError(f"{what} failed (exit {run.returncode}):\n{run.tail(15)}")
    return run


def _operations(run: Run) -> dict[str, int]:
    """Poetry's own count: `Package operations: 40 installs, 0 updates, 0 removals`."""
    found = re.search(r"Package operations: (\d+) installs?, (\d+) updates?", run.stdout)
    return {"installs": int(found[1]), "updates": int(found[2])} if found else {}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _one(job: Job, kind: str, contender: str) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of Poetry and every process it waited for (its pips):
    the CPU figure moves much less than the wall one when other work loads the machine."""
    venv = job.fresh_env() if kind == "cold" else job.old_env()
    cpu = _children_cpu()
    run = _check(job.poetry(venv, CONTENDERS[contender], "install", "--no-root"), contender)
    cpu = _children_cpu() - cpu
    counted = _operations(run)
    # The seeded venv may already hold one of the 40 (uv seeds pip's companions): count both.
    if sum(counted.values()) < len(PACKAGES) or (kind == "update" and counted["updates"] < 39):
        raise RuntimeError(
            f"{kind} {contender}: {counted}, not {len(PACKAGES)}:\n{run.stdout[:600]}"
        )
    return run.seconds, cpu


def measure(root: Path, rounds: int, log: Log) -> dict[str, Any]:
    job = Job(root, log)
    raw: dict[str, dict[str, list[float]]] = {k: {} for k in KINDS}
    for index in range(rounds):
        names = list(CONTENDERS) if index % 2 == 0 else list(reversed(CONTENDERS))
        for kind in ("cold", "update"):
            for name in names:
                wall, cpu = _one(job, kind, name)
                raw[kind].setdefault(name, []).append(wall)
                raw[f"{kind}_cpu"].setdefault(name, []).append(cpu)
                log(f"  races round {index + 1} {kind} {name}: {wall:.2f} s, CPU {cpu:.2f} s")
    return raw


def _paired(rows: dict[str, list[float]], name: str) -> float | None:
    """Median of the per-round ratios to parallel-on: each pair ran back to back, so a slow
    minute of a shared machine hits both sides of it."""
    return median([a / b for a, b in zip(rows[name], rows["parallel_on"], strict=True) if b])


def summarise(raw: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float | None]]:
    summary = {}
    for kind, rows in raw.items():
        summary[kind] = {
            **{name: median(values) for name, values in rows.items()},
            "protected_vs_parallel_on": _paired(rows, "protected"),
            "parallel_off_vs_parallel_on": _paired(rows, "parallel_off"),
        }
    return summary


def markdown(summary: dict[str, dict[str, float | None]]) -> str:
    lines = [
        "| `poetry install`, 40 packages | protected | parallel on | parallel off "
        "| protected / on | off / on |",
        "|---|---|---|---|---|---|",
    ]
    for kind, row in summary.items():
        cells = [f"{row[n]:.2f} s" for n in CONTENDERS]  # wall, or CPU for *_cpu
        ratios = [
            f"{row[r]:.2f}" for r in ("protected_vs_parallel_on", "parallel_off_vs_parallel_on")
        ]
        lines.append(f"| {kind} | " + " | ".join(cells + ratios) + " |")
    lines.append("")
    lines.append(
        "Wall seconds (`*_cpu`: CPU seconds of Poetry and its pips): medians of the rounds."
        " Ratios: medians of the per-round ratios."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.races", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    log = Log()
    with tempfile.TemporaryDirectory(prefix="spp-bench-races-") as root:
        load_before = os.getloadavg()
        raw = measure(Path(root), args.rounds, log)
    summary = summarise(raw)
    meta = {"rounds": args.rounds, "load_before": load_before, "load_after": os.getloadavg()}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    document = {"meta": meta, "summary": summary, "raw": raw}
    args.output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
