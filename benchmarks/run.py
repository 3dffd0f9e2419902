"""`./dev bench`: setup-poetry-parallel against the usual way, side by side, alternating.

Every round runs each pair of contenders back to back, the order swapped every other round,
so that a slow minute of the network or of the machine hits both. Progress goes to stderr;
stdout gets the Markdown table. Raw numbers: benchmarks/results/latest.json; plot: latest.png.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import cases, fast_install, limits, report
from benchmarks.harness import REPO, Log

SECTIONS = ("cold", "warm", "burst", "bootstrap", "limits", "fast_install", "scenario", "profile")
RESULTS = REPO / "benchmarks" / "results"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    p.add_argument("--rounds", type=int, default=3, help="rounds of cold/warm/burst/bootstrap")
    p.add_argument("--warm-repeats", type=int, default=5, help="warm engine runs per round")
    p.add_argument("--scenario-rounds", type=int, default=2, help="rounds of each scenario side")
    p.add_argument("--loops", type=int, default=6, help="`poetry install` runs per scenario job")
    p.add_argument("--quick", action="store_true", help="one round of everything, 3 loops")
    p.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--output", type=Path, default=RESULTS, help="where latest.json/png go")
    p.add_argument("--keep", action="store_true", help="keep the temp dir for a look afterwards")
    p.add_argument("--check", action="store_true", help="exit 1 when a limits target is missed")
    return p


def alternate(
    round_index: int,
    pairs: list[tuple[str, Callable[[], dict[str, Any]]]],
    into: dict[str, list[dict[str, Any]]],
    log: Log,
    section: str,
) -> None:
    for name, measure in pairs if round_index % 2 == 0 else list(reversed(pairs)):
        row = measure()
        into.setdefault(name, []).append(row)
        log(f"  {section} {name}: {row['seconds']:.2f} s")


def run_rounds(args: argparse.Namespace, root: Path, log: Log) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    only = set(args.only)
    warm = cases.WarmHost.prepare(root) if only & {"warm", "profile"} else None
    limit_host = limits.prepare(root) if "limits" in only else None
    install_bed = fast_install.prepare(root, log) if "fast_install" in only else None
    for index in range(args.rounds):
        log(f"round {index + 1} of {args.rounds}")
        if "cold" in only:
            alternate(
                index,
                [
                    ("engine", lambda: cases.cold_engine(root)),
                    ("usual", lambda: cases.cold_usual(root)),
                    ("uv_by_hand", lambda: cases.cold_uv_by_hand(root)),
                ],
                raw.setdefault("cold", {}),
                log,
                "cold",
            )
        if "warm" in only and warm:
            alternate(
                index,
                [
                    ("engine", functools.partial(_median_of, warm.engine, args.warm_repeats)),
                    ("usual", warm.usual),
                ],
                raw.setdefault("warm", {}),
                log,
                "warm",
            )
        if "burst" in only:
            alternate(
                index,
                [
                    ("eight", lambda: cases.burst(root)),
                    ("one", lambda: cases.solo(root)),
                ],
                raw.setdefault("burst", {}),
                log,
                "burst",
            )
        if "bootstrap" in only:
            _bootstrap_round(root, raw.setdefault("bootstrap", {}), log)
        if limit_host:
            for name, pair in limits.pairs(root, limit_host, args.warm_repeats).items():
                alternate(index, pair, raw.setdefault("limits", {}).setdefault(name, {}), log, name)
        if install_bed:
            for name, pair in fast_install.pairs(install_bed, quick=args.quick).items():
                into = raw.setdefault("fast_install", {}).setdefault(name, {})
                alternate(index, pair, into, log, f"fast_install {name}")
    if limit_host:
        limits.remove(limit_host)
    if install_bed:
        fast_install.remove(install_bed)
    if "scenario" in only:
        log("scenario: preparing four Pythons, plain venvs and engine installs (not timed)")
        scenario = cases.Scenario.prepare(root, args.loops, log)
        for index in range(args.scenario_rounds):
            alternate(
                index,
                [
                    ("engine", lambda: scenario.run(engine=True)),
                    ("plain", lambda: scenario.run(engine=False)),
                ],
                raw.setdefault("scenario", {}),
                log,
                "scenario",
            )
            for name in ("engine", "plain"):
                row = raw["scenario"][name][-1]
                log(
                    f"    {name}: {row['failed']} of {row['installs']} failed,"
                    f" {row['outdated']} outdated rebuilds"
                )
    if "profile" in only and warm:
        from benchmarks.warm_profile import profile

        raw["profile"] = profile(warm)
    return raw


def _median_of(measure: Callable[[], dict[str, Any]], repeats: int) -> dict[str, Any]:
    """Several warm engine runs per round (each is a fraction of a second); the median is kept
    as the round's figure and every run is kept in the raw numbers."""
    rows = [measure() for _ in range(repeats)]
    values = sorted(r["seconds"] for r in rows)
    return {
        "seconds": values[len(values) // 2],
        "runs": values,
        "reused": [r["reused"] for r in rows],
    }


def _bootstrap_round(root: Path, into: dict[str, list[dict[str, Any]]], log: Log) -> None:
    host = cases.BootstrapHost.new(root)
    try:
        for name, measure in [
            ("first_job", host.first_job),
            ("later_job", lambda: host.later_job(fresh_checkout=False)),
            ("later_job", lambda: host.later_job(fresh_checkout=False)),
            ("later_job", lambda: host.later_job(fresh_checkout=False)),
            ("later_job_fresh_checkout", lambda: host.later_job(fresh_checkout=True)),
        ]:
            row = measure()
            into.setdefault(name, []).append(row)
            log(f"  bootstrap {name}: {row['seconds']:.2f} s")
    finally:
        host.box.remove()


def write(raw: dict[str, Any], summary: dict[str, Any], table: str, output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    document = {"meta": raw["meta"], "summary": summary, "table": table, "raw": raw}
    tmp = output / "latest.json.tmp"
    tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, output / "latest.json")
    png_tmp = output / "latest.png.tmp"
    report.plot(summary, raw, png_tmp)
    os.replace(png_tmp, output / "latest.png")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.quick:
        args.rounds, args.warm_repeats, args.scenario_rounds, args.loops = 1, 3, 1, 3
    log = Log()
    root = Path(tempfile.mkdtemp(prefix="spp-bench-"))
    log(f"bench root {root} (removed at the end unless --keep)")
    meta = {
        **report.machine(),
        "rounds": args.rounds,
        "scenario_rounds": args.scenario_rounds,
        "loops": args.loops,
        "warm_repeats": args.warm_repeats,
        "load_before": os.getloadavg(),
    }
    try:
        raw = run_rounds(args, root, log)
    finally:
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    raw["meta"] = {
        **meta,
        "load_after": os.getloadavg(),
        "seconds": round(time.perf_counter() - log.started, 1),
    }
    summary = report.summarise(raw)
    table = report.markdown(summary, raw["meta"])
    if "limits" in raw:
        summary["limits"] = limits.summarise(raw["limits"], summary.get("burst"))
        table += "\n\n" + limits.markdown(summary["limits"])
    if "fast_install" in raw:
        summary["fast_install"] = fast_install.summarise(raw["fast_install"])
        table += "\n\n" + fast_install.markdown(summary["fast_install"])
    write(raw, summary, table, args.output)
    log(f"wrote {args.output / 'latest.json'} and latest.png")
    print(table)
    missed = [
        name
        for name, row in summary.get("limits", {}).items()
        if row.get("judged", True) and not row["met"]
    ]
    missed += fast_install.missed(summary.get("fast_install", {}))
    if missed and args.check:
        log(f"targets missed: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
