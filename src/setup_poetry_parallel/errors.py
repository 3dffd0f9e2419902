"""The one error type the engine raises on purpose; cli.py turns it into an exit code."""

from __future__ import annotations

from pathlib import Path


class SetupError(Exception):
    """A failure the user can act on. The message is one line that says what to do.

    `details` (a command's output, say) is logged above that line, never in it.
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        details: str = "",
        file: Path | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.file = file
        self.line = line

    def __str__(self) -> str:
        return self.message


class InputError(SetupError):
    """Bad input: exit code 2, raised before anything is installed or exported."""

    exit_code = 2
