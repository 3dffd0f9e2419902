"""The one place where failures become exit codes: 2 bad input, 1 any other expected failure,
3 a bug. Each ends in one line starting with `error:` (and `::error` on a runner); a bug also
prints its traceback and says where to report it. In the manner of pre-commit's error_handler.
"""

from __future__ import annotations

import sys
import textwrap
import traceback
from collections.abc import Callable
from typing import Final

from setup_poetry_parallel import ISSUES
from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.redaction import redact
from setup_poetry_parallel.settings import Runner

BUG: Final = 3
INTERRUPTED: Final = 130


def guarded(body: Callable[[], None], runner: Runner) -> int:
    """Run `body`; return its exit code. Nothing escapes: not even a bug."""
    try:
        body()
    except SetupError as exc:
        _report(exc, runner)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr, flush=True)
        return INTERRUPTED
    except Exception as exc:  # a bug: reported as one, never a bare traceback
        # Its message may hold what a tool printed, an index URL with its password in it.
        print(redact(traceback.format_exc()), end="", file=sys.stderr)
        message = (
            f"unexpected {type(exc).__name__}: this is a bug in setup-poetry-parallel;"
            f" please report it at {ISSUES} with the log above"
        )
        print(f"error: {message}", file=sys.stderr, flush=True)
        if runner.active:
            _annotate(message, None, None)
        return BUG
    return 0


def _report(exc: SetupError, runner: Runner) -> None:
    # Redacted here, whatever raised it: the message and the details (a tool's output) may
    # name a URL with its credentials, or a password a tool printed.
    message = redact(exc.message)
    if exc.details:
        # Indented: the one line that starts with "error: " is the message below, even when
        # the details are a tool's output with "error:" lines of its own.
        print(textwrap.indent(redact(exc.details), "  | ", lambda _: True), file=sys.stderr)
    print(f"error: {message}", file=sys.stderr, flush=True)
    if runner.active:
        _annotate(message, str(exc.file) if exc.file else None, exc.line)


def _annotate(message: str, file: str | None, line: int | None) -> None:
    from setup_poetry_parallel.outputs import runner

    runner.annotate_error(message, file=file, line=line)
