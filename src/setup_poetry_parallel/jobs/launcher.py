"""The job's `poetry` on POSIX: a tiny sh launcher that carries the job's isolation itself.

The job's Poetry dirs and switches are exported as variables, but tox (without `pass_env`),
`env -i`, sudo or a nox session with a fresh environment strip them, and Poetry then falls
back to `<project>/.poetry/plugins` and $HOME's dirs: the original bug (issue 20). So
`<job-dir>/bin/poetry` sets each of them where the caller has not (unset or empty: an empty
dir variable would make Poetry use the working directory), then execs the shared Poetry's own
entry, whose shebang names its own interpreter: no Python starts before Poetry's.

A value the caller set wins, as it does for the exported variables: `POETRY_CACHE_DIR=x poetry
...` uses x. Windows gets no launcher: `bin/poetry.exe` stays a copy of the venv's launcher
(job.py `_link`), so there the job's variables reach Poetry only where they are passed on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Final

from setup_poetry_parallel.disk import nofollow

MODE: Final = 0o755
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def quote(value: str) -> str:
    """Always single-quoted (even a plain path): the warm lane puts another job's dir in the
    place of this one's, which may need the quotes where this one did not."""
    return "'" + value.replace("'", "'\"'\"'") + "'"


def text(poetry: PurePath, env: Mapping[str, str]) -> str:
    lines = [
        "#!/bin/sh",
        "# This job's poetry (setup-poetry-parallel): the job's Poetry dirs and switches where",
        "# the caller has not set them (a tool that strips the environment), then the shared",
        "# Poetry. A variable the caller set (non-empty) wins.",
    ]
    for name in sorted(env):
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a variable name for sh: {name!r}")
        lines.append(f'[ -n "${{{name}-}}" ] || export {name}={quote(env[name])}')
    lines.append(f'exec {quote(str(poetry))} "$@"')
    return "\n".join(lines) + "\n"


def write(path: Path, content: str) -> None:
    """Whole under a fresh name, then renamed over the old one: a `poetry` starting meanwhile
    runs the old launcher or the new one. 0755 whatever the umask."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(3).hex()}")
    try:
        fd = os.open(tmp, nofollow.NEW, MODE)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, MODE)
            handle.write(content.encode("utf-8"))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
