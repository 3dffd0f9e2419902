"""Medians, ratios against the issue's targets, the Markdown table and the plot."""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import PLUGIN, POETRY_VERSION, median, ratio

# From the issue: cold <= 0.30 of the usual way, warm <= 0.02, burst <= 1.3x one setup,
# bootstrap on a warm host "well under a second" (read here as <= 0.5 s).
TARGETS = {"cold": 0.30, "warm": 0.02, "burst": 1.3, "bootstrap_later": 0.5}


def seconds(rows: list[dict[str, Any]]) -> list[float]:
    return [row["seconds"] for row in rows]


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return {
        "date": time.strftime("%Y-%m-%d"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "poetry": POETRY_VERSION,
        "plugin": PLUGIN,
    }


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    def med(section: str, name: str) -> float | None:
        return median(seconds(raw.get(section, {}).get(name, [])))

    summary: dict[str, Any] = {}
    if "cold" in raw:
        engine, usual = med("cold", "engine"), med("cold", "usual")
        summary["cold"] = {
            "engine": engine,
            "usual": usual,
            "uv_by_hand": med("cold", "uv_by_hand"),
            "ratio": ratio(engine, usual),
        }
    if "warm" in raw:
        engine, usual = med("warm", "engine"), med("warm", "usual")
        summary["warm"] = {"engine": engine, "usual": usual, "ratio": ratio(engine, usual)}
    if "burst" in raw:
        eight, one = med("burst", "eight"), med("burst", "one")
        rows = raw["burst"]["eight"]
        summary["burst"] = {
            "eight": eight,
            "one": one,
            "ratio": ratio(eight, one),
            "built": [r["built"] for r in rows],
            "reused": [r["reused"] for r in rows],
            "failed": sum(r["failed"] for r in rows),
        }
    if "bootstrap" in raw:
        summary["bootstrap"] = {
            name: med("bootstrap", name)
            for name in ("first_job", "later_job", "later_job_fresh_checkout")
        }
    if "scenario" in raw:
        summary["scenario"] = {
            name: {
                "seconds": med("scenario", name),
                "installs": sum(r["installs"] for r in raw["scenario"][name]),
                "failed": sum(r["failed"] for r in raw["scenario"][name]),
                "outdated": sum(r["outdated"] for r in raw["scenario"][name]),
                "shared_plugin_cache_files": max(
                    (r["shared_plugin_cache_files"] for r in raw["scenario"][name]), default=0
                ),
            }
            for name in ("engine", "plain")
            if raw["scenario"].get(name)
        }
    summary["targets_met"] = _targets_met(summary)
    return summary


def _targets_met(summary: dict[str, Any]) -> dict[str, bool | None]:
    def below(value: float | None, limit: float) -> bool | None:
        return None if value is None else value <= limit

    burst = summary.get("burst", {})
    one_build = all(b == 1 for b in burst.get("built", [])) and not burst.get("failed")
    return {
        "cold": below(summary.get("cold", {}).get("ratio"), TARGETS["cold"]),
        "warm": below(summary.get("warm", {}).get("ratio"), TARGETS["warm"]),
        "burst": None
        if not burst
        else bool(below(burst.get("ratio"), TARGETS["burst"]) and one_build),
        "bootstrap_later": below(
            summary.get("bootstrap", {}).get("later_job"), TARGETS["bootstrap_later"]
        ),
    }


def _s(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def _r(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _mark(ok: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "-"}[ok]


def markdown(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    met = summary["targets_met"]
    lines = [
        f"Measured {meta['date']} on {meta['cpu']}, {meta['cores']} cores, {meta['platform']},"
        f" Python {meta['python']}; Poetry {meta['poetry']} with `{meta['plugin']}`;"
        f" medians of {meta['rounds']} round(s), alternating.",
        "",
        "| Measure | setup-poetry-parallel | usual way | ratio | target |",
        "|---|---|---|---|---|",
    ]
    if cold := summary.get("cold"):
        lines.append(
            f"| Cold: empty install dir and package caches | {_s(cold['engine'])}"
            f" | {_s(cold['usual'])} (uv by hand: {_s(cold['uv_by_hand'])})"
            f" | {_r(cold['ratio'])} | ≤ {TARGETS['cold']} {_mark(met['cold'])} |"
        )
    if warm := summary.get("warm"):
        lines.append(
            f"| Warm: install present / warm pip cache | {_s(warm['engine'])}"
            f" | {_s(warm['usual'])} | {_r(warm['ratio'], 3)}"
            f" | ≤ {TARGETS['warm']} {_mark(met['warm'])} |"
        )
    if burst := summary.get("burst"):
        built = "/".join(str(b) for b in burst["built"])
        lines.append(
            f"| Burst: 8 setups at once vs 1 alone, cold | {_s(burst['eight'])}"
            f" (built per round: {built}; {burst['failed']} failed) | {_s(burst['one'])} (one setup)"
            f" | {_r(burst['ratio'])}x | ≤ {TARGETS['burst']}x, one build {_mark(met['burst'])} |"
        )
    if boot := summary.get("bootstrap"):
        lines.append(
            f"| Action bootstrap, first job on a host (installs engine deps) | {_s(boot['first_job'])}"
            " | - | - | - |"
        )
        lines.append(
            f"| Action bootstrap, later jobs (kept checkout / fresh checkout) |"
            f" {_s(boot['later_job'])} / {_s(boot['later_job_fresh_checkout'])} | - | -"
            f" | well under 1 s {_mark(met['bootstrap_later'])} |"
        )
    if scenario := summary.get("scenario"):
        engine, plain = scenario.get("engine", {}), scenario.get("plain", {})

        def cell(row: dict[str, Any]) -> str:
            return (
                f"{_s(row.get('seconds'))}; {row.get('failed', '-')} of {row.get('installs', '-')}"
                f' failed; {row.get("outdated", "-")} "outdated" rebuilds'
            )

        lines.append(
            "| Report's scenario: 4 jobs (Poetry on 3.10-3.13), shared project, `poetry install`"
            f" loop | {cell(engine)} | {cell(plain)} (plain Poetry per Python)"
            f" | {_r(ratio(engine.get('seconds'), plain.get('seconds')))} | 0 failures |"
        )
    if len(lines) == 4:  # none of this table's sections ran (--only limits or fast_install)
        return lines[0]
    return "\n".join(lines)


def plot(summary: dict[str, Any], raw: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    if "cold" in raw:
        panels.append(
            (
                "Cold setup",
                raw["cold"],
                [
                    ("engine", "setup-poetry-\nparallel"),
                    ("uv_by_hand", "uv by hand"),
                    ("usual", "venv + pip"),
                ],
            )
        )
    if "warm" in raw:
        panels.append(
            (
                "Warm setup",
                raw["warm"],
                [("engine", "setup-poetry-\nparallel"), ("usual", "venv + pip\n(warm pip cache)")],
            )
        )
    if "burst" in raw:
        panels.append(("Burst (cold)", raw["burst"], [("one", "1 setup"), ("eight", "8 at once")]))
    if "bootstrap" in raw:
        panels.append(
            (
                "Action bootstrap",
                raw["bootstrap"],
                [
                    ("first_job", "first job"),
                    ("later_job", "later job"),
                    ("later_job_fresh_checkout", "later job,\nfresh checkout"),
                ],
            )
        )
    if "scenario" in raw:
        panels.append(
            (
                "Report's scenario\n(4 jobs, wall)",
                raw["scenario"],
                [("engine", "with engine"), ("plain", "plain Poetry")],
            )
        )
    if not panels:  # a run of sections without a plot of their own (limits)
        panels.append(("(no plotted section)", {}, []))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 4.2), squeeze=False)
    for ax, (title, section, bars) in zip(axes[0], panels, strict=True):
        names = [label for key, label in bars if section.get(key)]
        values = [median(seconds(section[key])) or 0.0 for key, _ in bars if section.get(key)]
        colors = ["#2b7bb9" if i == 0 else "#b0b0b0" for i in range(len(values))]
        ax.bar(names, values, color=colors)
        for i, (key, _) in enumerate(b for b in bars if section.get(b[0])):
            ax.scatter([i] * len(section[key]), seconds(section[key]), color="black", s=8, zorder=3)
        for i, value in enumerate(values):
            ax.annotate(_s(value), (i, value), ha="center", va="bottom", fontsize=8)
        if section is raw.get("scenario"):
            for i, (key, _) in enumerate(b for b in bars if section.get(b[0])):
                rows = section[key]
                failed = sum(r["failed"] for r in rows)
                outdated = sum(r["outdated"] for r in rows)
                ax.annotate(
                    f"{failed} failed\n{outdated} outdated",
                    (i, 0),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    color="white",
                )
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("seconds (median; dots: rounds)")
        ax.tick_params(axis="x", labelsize=8)
    meta = raw.get("meta", {})
    fig.suptitle(
        f"setup-poetry-parallel vs the usual way: Poetry {POETRY_VERSION} + {PLUGIN}\n"
        f"{meta.get('cpu', '')}, {meta.get('cores', '')} cores, {meta.get('date', '')}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
