"""The error types the engine raises on purpose; error_handler.py turns them into exit codes.

An error carries what it is about as typed fields, set where that fact is known: the input
the user gave (`input`), the plugin requirement (`plugin`), the file and line to annotate.
Nothing downstream parses a message to find them again.
"""

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
        input: str | None = None,  # the action's input name, e.g. "install-dir"
        plugin: str | None = None,
        file: Path | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.input = input
        self.plugin = plugin
        self.file = file
        self.line = line

    def __str__(self) -> str:
        return self.message


class PathProblem(SetupError):
    """A directory of the shared store is refused (`error` None) or its disk failed (`error`).
    The store does not know which input named that directory: `path_errors.preparing`, around
    the stage that does, turns it into the error about that input."""

    def __init__(self, message: str, *, error: OSError | None = None, details: str = "") -> None:
        super().__init__(message, details=details)
        self.error = error


class InputError(SetupError):
    """Bad input: exit code 2, raised before anything is exported."""

    exit_code = 2
