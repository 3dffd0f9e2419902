"""The one place the engine starts other programs: logged, captured, and failing clearly."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from setup_poetry_parallel.errors import SetupError

log = logging.getLogger(__name__)

OUTPUT_TAIL = 4000


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    what: str,
    timeout: float | None = None,
) -> str:
    """Run argv and return its stdout; on failure raise SetupError naming `what` and the output."""
    args = [os.fspath(a) for a in argv]
    log.debug("$ %s", shlex.join(args))
    try:
        done = subprocess.run(
            args,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise SetupError(f"{what} failed: {args[0]} was not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise SetupError(f"{what} took longer than {timeout:.0f} s: {shlex.join(args)}") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-OUTPUT_TAIL:]
        raise SetupError(
            f"{what} failed (exit {done.returncode}): {shlex.join(args)}", details=output
        )
    return done.stdout
