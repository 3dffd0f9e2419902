"""Whether a directory may be trusted, and making one with a safe mode whatever the umask.

Standard library only and one lstat per directory: the bootstrap checks the install dir and
`engine/` with it before it imports anything from them, and the warm lane before it replays.
Trusted means: a directory (not a link to one), this user's (root's too, unless `private`),
and nobody else can add or swap an entry in it: not world-writable, sticky or not (in a
sticky dir such as /tmp any user can still create the names we would use), and for a
`private` dir not group-writable either.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs the bootstrap as much as the checks
    from typing import Final

SHARED: Final = 0o755  # an install dir and what is in it: others read and run
PRIVATE: Final = 0o700  # the state dir: the job's own `bin/poetry`, config and credentials


def problem(path: str | os.PathLike[str], *, private: bool = False) -> str | None:
    """Why `path` must not be trusted (the end of a sentence that starts with the path), or
    None. Raises FileNotFoundError when it is not there."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link: point at the directory itself; links are not followed"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a directory: a file is in the way; remove it or point at a directory"
    return None if os.name == "nt" else _who_can_write(info, private=private)


def trusted_owner(uid: int) -> bool:
    """A file or dir that this user or root made: what a shared install dir may read."""
    return os.name == "nt" or uid in (os.getuid(), 0)


def _who_can_write(info: os.stat_result, *, private: bool) -> str | None:
    if info.st_uid != os.getuid() and (private or info.st_uid != 0):
        return (
            f"belongs to uid {info.st_uid}, not this user: another user could replace what is"
            " in it; remove it or use a directory of your own"
        )
    if info.st_mode & stat.S_IWOTH:
        sticky = " (sticky, as /tmp: any user can create the names used in it)"
        return (
            f"is writable by everyone{sticky if info.st_mode & stat.S_ISVTX else ''}: use a"
            " directory of your own (not writable by others), or run chmod o-w on it"
        )
    if private and info.st_mode & stat.S_IWGRP:
        return "is writable by its group: run chmod go-w on it, or use a directory of your own"
    return None


def make(path: str | os.PathLike[str], mode: int, *, parents: int = SHARED) -> None:
    """Create `path` (mode `mode`) and its missing parents (mode `parents`), whatever the umask.

    Each is made 0700 (the umask can only narrow that) and then chmod-ed to its mode, so it is
    never open to others even for a moment. Existing dirs are left as they are: the caller
    checks the one it trusts."""
    target = os.path.abspath(path)
    missing = []
    current = target
    while not os.path.lexists(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, PRIVATE)
        except FileExistsError:
            continue  # made meanwhile by someone else: the caller's check decides
        os.chmod(directory, mode if directory == target else parents)


def close_to_others(root: str | os.PathLike[str]) -> None:
    """Nothing in `root` (itself too) writable by group or others, whatever the umask was when
    it was written, and a `__pycache__` in every dir of Python modules now: the bytecode is
    written later by whichever job first imports a module, and CPython would make the dir with
    that job's umask (0 gives a dir anyone can plant bytecode in); into an existing dir it
    writes files with the source file's mode. Links are left alone (their mode means nothing).
    """
    import contextlib  # here: the warm lane imports this module and never calls this

    for directory, dirnames, filenames in os.walk(root):
        if "__pycache__" not in dirnames and any(f.endswith(".py") for f in filenames):
            with contextlib.suppress(FileExistsError):  # a Python importing meanwhile made it
                os.mkdir(os.path.join(directory, "__pycache__"), SHARED)
            dirnames.append("__pycache__")
        for name in [*dirnames, *filenames]:
            path = os.path.join(directory, name)
            try:
                mode = os.lstat(path).st_mode
                if not stat.S_ISLNK(mode) and mode & 0o022:
                    os.chmod(path, stat.S_IMODE(mode) & ~0o022)
            except FileNotFoundError:  # a bytecode file's temporary name, renamed meanwhile
                continue
    mode = os.lstat(root).st_mode
    os.chmod(root, stat.S_IMODE(mode) & ~0o022)
