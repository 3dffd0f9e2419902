"""poetry-dynamic-versioning without file writes during the commands jobs run in parallel.

With `enable = true` the plugin writes the version into `pyproject.toml` (and `__version__`
into files) at the start of every Poetry command and puts them back at the end, with plain
writes: parallel commands on one project read each other's half-applied file (a job installs
0.0.0, another fails on `Key "project" does not exist`). Its own switch,
`POETRY_DYNAMIC_VERSIONING_COMMANDS_NO_IO` (since 0.24), lists commands during which it sets the
version in memory only: `poetry version` still prints the tag's version and `poetry install`
installs the project under it, but no file is written.

The list: every command that may run in parallel on a shared project. Matching is exact and
case-sensitive on cleo's full command name, comma-separated, no spaces (pdv's plugin.py); a
value replaces pdv's default (`version`), so `version` is in it. Left out on purpose: `build`
and `publish`, whose artifacts need the version substituted into the files (with them in the
list, a wheel carries `__version__ = "0.0.0"`), and `dynamic-versioning`, which always writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

NO_IO_VARIABLE: Final = "POETRY_DYNAMIC_VERSIONING_COMMANDS_NO_IO"
ENTRY_POINT: Final = "poetry-dynamic-versioning"  # its poetry.application.plugin name
NO_IO_COMMANDS: Final = (
    "install", "sync", "lock", "add", "remove", "update", "show", "check", "version", "run",
    "shell", "env use", "env info", "env list", "env remove", "env activate", "export",
    "debug info", "debug resolve", "debug tags", "search", "config", "source add",
    "source remove", "source show", "cache clear", "cache list", "about", "python install",
    "python list", "python remove",
)  # fmt: skip


def env_for(entry_points: Sequence[str], users_value: str | None) -> dict[str, str]:
    """The variable to export: only when the plugin is installed and the user has not set it."""
    if ENTRY_POINT not in entry_points or users_value is not None:
        return {}
    return {NO_IO_VARIABLE: ",".join(NO_IO_COMMANDS)}
