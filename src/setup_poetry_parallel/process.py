"""The one place the engine starts other programs: logged, captured, and failing clearly.

`run` is for a step that must work (a failure is a SetupError naming it, with the output);
`probe` is for a question whose "no" is an answer (is this a working Python?): the failure
comes back as a reason the caller keeps, as pre-commit's `cmd_output_b(check=False)`. `uv()`
is the one uv the engine runs.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
    try:
        done = _start(args, env, cwd, timeout)
    except FileNotFoundError as exc:
        raise SetupError(f"{what} failed: {args[0]} was not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise SetupError(f"{what} took longer than {timeout:.0f} s: {shlex.join(args)}") from exc
    if done.returncode != 0:
        raise SetupError(
            f"{what} failed (exit {done.returncode}): {shlex.join(args)}", details=_output(done)
        )
    return done.stdout


@dataclass(frozen=True)
class Probed:
    """What a probe printed, or why it failed: `reason` is one line ("" when it worked),
    `output` the tail of what it printed then (for an error's details)."""

    stdout: str
    reason: str = ""
    output: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason


def probe(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
) -> Probed:
    """Run argv for what it prints; a failure is returned, never raised: the caller tries the
    next candidate and keeps the reason, to say why none would do."""
    args = [os.fspath(a) for a in argv]
    try:
        done = _start(args, env, cwd, timeout)
    except FileNotFoundError:
        return Probed("", "not found")
    except OSError as exc:  # not executable, not a program: still an answer
        return Probed("", f"could not be started ({exc.strerror or exc})")
    except subprocess.TimeoutExpired:
        return Probed("", f"no answer within {timeout:.0f} s")
    if done.returncode != 0:
        return Probed(done.stdout, f"exit {done.returncode}", _output(done))
    return Probed(done.stdout)


def _start(
    args: list[str], env: Mapping[str, str] | None, cwd: Path | None, timeout: float | None
) -> subprocess.CompletedProcess[str]:
    log.debug("$ %s", shlex.join(args))
    return subprocess.run(
        args,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    )


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return (done.stdout + done.stderr).strip()[-OUTPUT_TAIL:]


def uv() -> str:
    """The one uv the engine runs (installs, resolutions, interpreter discovery): the one
    installed with the engine (the action's locked one, in `<engine>/bin`), before
    `find_uv_bin`'s first choice, the interpreter's scripts dir: a system Python's
    `/usr/bin/uv` there is whatever version the host has."""
    import uv as package

    bundled = Path(package.__file__).resolve().parents[1] / "bin"
    found = bundled / ("uv.exe" if os.name == "nt" else "uv")
    return str(found) if found.is_file() else package.find_uv_bin()
