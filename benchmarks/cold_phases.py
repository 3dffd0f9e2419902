"""Where a cold setup spends its time, phase by phase: `python -m benchmarks.cold_phases`.

Runs the engine with `-v` on an empty install dir and empty caches and stamps each log line as it
arrives; a phase runs from the line that starts it to the next one. Medians of `--rounds`.
Progress and the table go to stdout; nothing is written to the repository.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.cases import engine_args
from benchmarks.harness import Sandbox, engine_command

# (phase, what starts it in the engine's -v log), in the order they happen.
MARKS = (
    ("start and plan (imports, settings, requires-plugins, key)", ""),
    ("lock and the second look", "lock: "),
    ("uv venv", "uv venv"),
    ("uv pip install (the release check runs beside it)", "pip install"),
    ("plugin check (+ Poetry compiled, permissions walk, beside it)", " -c '"),
    ("manifest, publish, job dir, exports", "published build"),
)


def one_run(parent: Path) -> dict[str, float]:
    box = Sandbox.new(parent, "phases")
    try:
        argv = [*engine_command(), *engine_args(box, box.project(), "cold"), "-v"]
        started = time.perf_counter()
        stamps = {MARKS[0][0]: 0.0}
        proc = subprocess.Popen(
            argv, env=box.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        assert proc.stderr is not None
        for line in proc.stderr:
            for phase, mark in MARKS[1:]:
                if mark and mark in line and phase not in stamps:
                    stamps[phase] = time.perf_counter() - started
        proc.wait()
        total = time.perf_counter() - started
        if proc.returncode:
            raise RuntimeError(f"cold setup failed (exit {proc.returncode})")
        order = [phase for phase, _ in MARKS if phase in stamps]
        ends = [stamps[p] for p in order[1:]] + [total]
        return {p: end - stamps[p] for p, end in zip(order, ends, strict=True)} | {"total": total}
    finally:
        box.remove()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cold_phases", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="spp-phases-") as tmp:
        runs = [one_run(Path(tmp)) for _ in range(args.rounds)]
    print(f"| phase of a cold setup (median of {args.rounds}) | seconds |")
    print("|---|---|")
    for phase in [*(p for p, _ in MARKS), "total"]:
        values = [r[phase] for r in runs if phase in r]
        if values:
            print(f"| {phase} | {statistics.median(values):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
