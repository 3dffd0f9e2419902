"""Where the engine's warm path spends its time: `python -X importtime` of one warm setup.

The warm path is what every job but the first pays, so its floor is the interpreter's own
start; everything above that is listed here, biggest first.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from benchmarks.cases import WarmHost, engine_args
from benchmarks.harness import median, timed

_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def top_level_imports(stderr: str, limit: int = 12) -> list[dict[str, Any]]:
    """The costliest imports by cumulative time (a module's time includes what it imports),
    at the top two levels of the import tree."""
    rows = []
    for match in _LINE.finditer(stderr):
        _, cumulative, indent, name = match.groups()
        depth = (len(indent) - 1) // 2
        if depth <= 1:
            rows.append({"module": name, "ms": int(cumulative) / 1000, "depth": depth})
    rows.sort(key=lambda r: -r["ms"])
    return rows[:limit]


def profile(host: WarmHost, repeats: int = 5) -> dict[str, Any]:
    env = host.box.env()
    bare = [timed([sys.executable, "-c", "pass"], env).seconds for _ in range(repeats)]
    host.counter += 1
    args = engine_args(host.box, host.box.project(), f"profile-{host.counter}")
    run = timed([sys.executable, "-X", "importtime", "-m", "setup_poetry_parallel", *args], env)
    total_import_ms = sum(
        int(m.group(2)) / 1000 for m in _LINE.finditer(run.stderr) if m.group(3) == " "
    )
    return {
        "interpreter_start_seconds": median(bare),
        "imports_ms_total": total_import_ms,
        "top_imports": top_level_imports(run.stderr),
    }
