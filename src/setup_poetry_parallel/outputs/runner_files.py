"""The runner's files: what the setup hands later steps (GITHUB_ENV, GITHUB_PATH, GITHUB_OUTPUT)
and the job's summary (GITHUB_STEP_SUMMARY), formatted and appended in this one place, for the
engine (runner.py) and for the warm lane (warm_lane.py), which replays a record without it.

A value goes in a heredoc (`NAME<<DELIMITER`, the value, `DELIMITER`) under a random delimiter,
drawn again while the name or the value holds it, as the Actions toolkit's
`prepareKeyValueMessage` does: any text stays one value. Names and PATH entries that could
start a record of their own are refused before a byte is written. The runner splits these files
on the platform's newline (actions/runner FileCommandManager), so records end with os.linesep.

Only `os`, which every Python has loaded at start: the warm lane imports this before anything
else, within its import budget (no re, typing or uuid at run time).
"""

from __future__ import annotations

import os

# Not imported at run time: typing alone costs as much as the warm lane (warm_lane.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Final

ENV: Final = "GITHUB_ENV"
PATH: Final = "GITHUB_PATH"
OUTPUT: Final = "GITHUB_OUTPUT"
SUMMARY: Final = "GITHUB_STEP_SUMMARY"
NAMES: Final = (ENV, PATH, OUTPUT, SUMMARY)
REQUIRED: Final = (ENV, PATH, OUTPUT)  # a setup's records go there; a summary is optional

# An environment variable's name, as a shell takes it; an output's may hold `-` too
# (`poetry-version`). Sets, not a regex: `re` costs the warm lane more than its whole work.
_FIRST: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_ENV_NAME: Final = _FIRST | frozenset("0123456789")
_OUTPUT_NAME: Final = _ENV_NAME | {"-"}


def _name_ok(name: str, allowed: frozenset[str]) -> bool:
    return bool(name) and name[0] in _FIRST and all(c in allowed for c in name)


def path_entry_ok(entry: str) -> bool:
    """One entry, one line: nonempty, no line break (the runner reads GITHUB_PATH line by line,
    splitting on CR too), no NUL, no separator (it would add two entries to PATH)."""
    return bool(entry) and not any(c in entry for c in ("\r", "\n", "\0", os.pathsep))


def problem(env: Mapping[str, str], path: Sequence[str], outputs: Mapping[str, str]) -> str | None:
    """Why these records would add one of their own to a runner file, or None: the one check,
    done before the first byte is written."""
    for name in outputs:
        if not _name_ok(name, _OUTPUT_NAME):
            return f"refusing output name {name!r}"
    for name, value in env.items():
        if not _name_ok(name, _ENV_NAME) or "\0" in value:
            return f"refusing environment variable {name!r}"
    for entry in path:
        if not path_entry_ok(entry):
            return f"refusing PATH entry {entry!r}: it holds a line break or separator"
    return None


def records(
    *,
    env: Mapping[str, str],
    path: Sequence[str],
    outputs: Mapping[str, str],
    summary: str = "",
) -> dict[str, bytes]:
    """The bytes to append to each runner file (pure but for the random delimiters); a file
    with nothing to add is left out. `path` is prepended to PATH, first entry first.
    ValueError (the message of `problem`) for a record that could forge another."""
    if refused := problem(env, path, outputs):
        raise ValueError(refused)
    newline = os.linesep
    # The runner prepends each line of GITHUB_PATH in turn: the first entry is written last.
    # A line starting with a BOM follows an empty one: at the start of the file, the runner's
    # reader would take the BOM for the file's signature and drop it.
    lines = [f"{newline}{e}" if e.startswith("\ufeff") else e for e in reversed(path)]
    texts = {
        ENV: "".join(_heredoc(name, value) for name, value in env.items()),
        PATH: "".join(f"{line}{newline}" for line in lines),
        OUTPUT: "".join(_heredoc(name, value) for name, value in outputs.items()),
        SUMMARY: f"{summary}\n" if summary else "",  # Markdown: the toolkit appends "\n"
    }
    return {name: text.encode("utf-8") for name, text in texts.items() if text}


def _heredoc(name: str, value: str) -> str:
    delimiter = _delimiter()
    while delimiter in name or delimiter in value:
        delimiter = _delimiter()
    newline = os.linesep
    return f"{name}<<{delimiter}{newline}{value}{newline}{delimiter}{newline}"


def _delimiter() -> str:
    # 128 random bits, as the toolkit's uuid4 (uuid costs the warm lane an import).
    return f"ghadelimiter_{os.urandom(16).hex()}"


def append(
    records: Mapping[str, bytes],
    files: Mapping[str, str],
    *,
    refused: Callable[[str, OSError], Exception] | None = None,
) -> None:
    """Append each record to the file `files[name]` names. Every file is opened before the
    first byte is written: one that cannot be opened leaves them all as they were. A summary
    with no file to go to is left out. `refused(name, error)`: the exception to raise instead
    of the OSError of a file that cannot be opened (runner.py names the variable)."""
    handles = []
    try:
        for name, data in records.items():
            if not files.get(name):
                if name == SUMMARY:
                    continue
                raise ValueError(f"{name} is not set: its records have nowhere to go")
            try:
                handles.append((open(files[name], "ab"), data))  # noqa: SIM115  # closed below
            except OSError as exc:
                if refused is None:
                    raise
                raise refused(name, exc) from None
        for handle, data in handles:
            handle.write(data)
    finally:
        for handle, _ in handles:
            handle.close()
