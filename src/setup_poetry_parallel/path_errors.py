"""An OSError on a path the user gave, turned into one line naming that input and what to do.

The inputs are `working-directory`, `install-dir`, `state-dir` and the runner's files
(`GITHUB_ENV`, ...): the message names the one the user actually set, never another.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import PurePath
from typing import Literal

from setup_poetry_parallel.errors import InputError, PathProblem, SetupError

_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
_IN_THE_WAY = frozenset({errno.ENOTDIR, errno.EEXIST, errno.EISDIR})
_REFUSED = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


Kind = Literal["directory", "file"]


@contextlib.contextmanager
def preparing(input_name: str, path: PurePath, *, expects: Kind = "directory") -> Iterator[None]:
    """Any OSError raised inside, or PathProblem, becomes an error about `input_name`."""
    try:
        yield
    except OSError as exc:
        raise path_error(exc, input_name, path, expects=expects) from None
    except PathProblem as exc:
        if exc.error is not None:
            named = path_error(exc.error, input_name, path, expects=expects)
        else:
            named = SetupError(f"{input_name} {exc.message}", input=input_name)
        named.details = exc.details
        raise named from None


def path_error(  # noqa: PLR0911  # one return per kind of failure, each with its advice
    exc: OSError, input_name: str, path: PurePath, *, expects: Kind = "directory"
) -> SetupError:
    name, reason = input_name, exc.strerror or str(exc)
    at = f" at {exc.filename}" if exc.filename not in (None, str(path)) else ""
    if exc.errno == errno.ELOOP or dangling(path):
        return InputError(
            f"{name} {path} is a dangling symbolic link{at}: fix or remove the link", input=name
        )
    if expects == "file" and exc.errno == errno.EISDIR:
        return InputError(f"{name} {path} is a directory: point {name} at a file", input=name)
    if exc.errno in _FULL:
        return SetupError(
            f"{name} {path} is full ({reason}): free some space or point {name} at another disk",
            input=name,
        )
    if exc.errno in _IN_THE_WAY:
        return InputError(
            f"{name} {path} cannot be written: a file is in the way{at} ({reason}): remove it"
            f" or point {name} at a {expects} elsewhere",
            input=name,
        )
    if exc.errno == errno.ENOENT:
        return InputError(
            f"{name} {path} cannot be created: its directory does not exist{at}: create it or"
            f" point {name} elsewhere",
            input=name,
        )
    if exc.errno in _REFUSED:
        return InputError(
            f"{name} {path} cannot be written{at} ({reason}): point {name} at a writable {expects}",
            input=name,
        )
    return SetupError(f"{name} {path} failed{at}: {reason}", input=name)


def dangling(path: PurePath) -> bool:
    """`path` or one of its parents is a symbolic link to nothing."""
    for candidate in (path, *path.parents):
        if os.path.islink(candidate) and not os.path.exists(candidate):
            return True
    return False
