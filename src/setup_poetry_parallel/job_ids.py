"""The job's directory name when none is given. Standard library only and cheap to import:
the warm lane (warm_lane.py) derives it before the engine is imported."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from typing import Final

JOB_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def valid(text: str) -> bool:
    return bool(JOB_ID.match(text)) and text not in (".", "..")


def default_job_id(environ: Mapping[str, str]) -> str:
    """Distinct for every job, matrix entry and attempt, stable within one job.

    `GITHUB_RUN_ID`/`GITHUB_RUN_ATTEMPT`/`GITHUB_JOB` alone repeat across matrix entries, so
    the job index (from action.yml) and the job's own temp dir are folded in. Outside a runner
    the parent process (the job's shell) keeps it stable across calls from one script.
    """
    if environ.get("GITHUB_ACTIONS") == "true":
        parts = [
            environ.get("GITHUB_RUN_ID", "0"),
            environ.get("GITHUB_RUN_ATTEMPT", "1"),
            environ.get("GITHUB_JOB", "job"),
        ]
        salt = "|".join(
            [environ.get("SPP_JOB_INDEX", ""), environ.get("RUNNER_TEMP", ""), hostname()]
        )
    else:
        parts = ["local"]
        salt = f"{hostname()}|{os.getppid()}"
    digest = hashlib.sha256(salt.encode()).hexdigest()[:8]
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(parts))[:80].strip("-.") or "job"
    return f"{readable}-{digest}"


def hostname() -> str:
    """gethostname(), without importing socket (2 ms) where uname gives the same name."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()
