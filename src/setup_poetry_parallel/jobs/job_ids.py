"""The job's directory name when none is given. Cheap to import on purpose (no re, typing or
hashlib): the warm lane (warm_lane.py) derives it before anything else is imported, and an
interpreter start is the whole budget there."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from hashlib import _Hash

NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


def valid(text: str) -> bool:
    """A file name: letters, digits, '.', '_' and '-', starting with a letter or digit."""
    return (
        0 < len(text) <= 128
        and text[0].isascii()
        and text[0].isalnum()
        and NAME_CHARS.issuperset(text)
    )


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
    digest = sha256(salt.encode()).hexdigest()[:8]
    readable = _name("-".join(parts))[:80].strip("-.") or "job"
    return f"{readable}-{digest}"


def _name(text: str) -> str:
    """Every run of other characters becomes one '-'."""
    out: list[str] = []
    in_run = False
    for char in text:
        if char in NAME_CHARS:
            out.append(char)
            in_run = False
        elif not in_run:
            out.append("-")
            in_run = True
    return "".join(out)


def hostname() -> str:
    """gethostname(), without importing socket where uname gives the same name."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


def sha256(data: bytes) -> _Hash:
    """SHA-256 from CPython's own module where there is one (0.05 ms to import, against 3 ms
    for hashlib and its OpenSSL); hashlib elsewhere. The same digest either way."""
    try:
        from _sha2 import sha256 as found  # type: ignore[import-not-found,unused-ignore]  # CPython 3.12+
    except ImportError:
        try:
            from _sha256 import sha256 as found  # type: ignore[import-not-found,no-redef,unused-ignore]  # CPython 3.11
        except ImportError:
            from hashlib import sha256 as found  # type: ignore[assignment,unused-ignore]
    return found(data)  # type: ignore[no-any-return,unused-ignore]
