"""What a shared install dir trusts: dirs and markers of this user, never links, never writable
by others. Someone else who could write there could swap the install every job runs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from setup_poetry_parallel.disk import dir_checks, volume
from setup_poetry_parallel.errors import InputError, PathProblem

log = logging.getLogger(__name__)


def check_dir(directory: Path) -> None:
    """Refuse a shared dir that someone else could swap the install in: links, foreign
    owners, world-writable dirs (sticky ones too: dir_checks.py says why). The caller's
    `path_errors.preparing` names the input."""
    if why := dir_checks.problem(directory):
        raise PathProblem(f"{directory} {why}")


def check_private(directory: Path, input: str) -> None:
    """A dir of this user's only (the state dir): refused, as bad input, unless it is this
    user's, not a link, and neither group- nor world-writable."""
    if why := dir_checks.problem(directory, private=True):
        raise InputError(f"{input} {directory} {why}", input=input)


def make_dir(directory: Path, *, private: bool = False, input: str = "state-dir") -> None:
    """Create `directory` (and its parents) with a safe mode whatever the umask, then check
    it: an existing one is trusted only if it passes the same check."""
    dir_checks.make(directory, dir_checks.PRIVATE if private else dir_checks.SHARED)
    if private:
        check_private(directory, input)
    else:
        check_dir(directory)


def read_json(path: Path) -> dict[str, Any] | None:
    """Read `path` without following a link, and only if this user (or root) wrote it.

    One read, retried only on the errors a shared volume gives for a moment (ESTALE): a file
    that is missing, torn or stale here sends the caller to the lock, where it is decided.
    """
    try:
        content, owner = volume.read_owned(path)
    except (volume.Gone, OSError):
        return None  # missing, or a symbolic link (ELOOP): not a marker we published
    if not dir_checks.trusted_owner(owner):
        log.warning("ignoring %s: it belongs to uid %s, not this user", path, owner)
        return None
    return parse_json(content)


def parse_json(content: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(content)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
