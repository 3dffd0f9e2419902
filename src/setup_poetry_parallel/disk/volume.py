"""Reading and creating small files on a volume other hosts share, which may answer wrongly
for a moment.

Measured on real network filesystems (GlusterFS, sshfs; see README "Shared volumes"): a file
another host replaces gives ESTALE or ENOENT for a moment, sshfs returns short reads, a file
another host has just created can be read empty, and a create that another host raced can
fail with EPERM where EEXIST was meant, or fail on both hosts with nobody's file left. So a
read is retried for a bounded time before anything is decided from it, and a new file is
published whole with `link()` (its content is there before its name) and checked by reading
it back, not by trusting the error the create returned.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, TypeVar

from setup_poetry_parallel.disk import atomic, nofollow

T = TypeVar("T")

PATIENCE: Final = 10.0  # seconds a read keeps retrying an answer that may be transient
_PAUSE: Final = 0.05
# Errors a shared volume gives for a moment while another host replaces or creates a file.
TRANSIENT: Final = frozenset({errno.ESTALE, errno.EIO, errno.EAGAIN, errno.EINTR})
_CREATE_LOST: Final = frozenset({errno.EEXIST, errno.EPERM, errno.EACCES})


class Gone(Exception):
    """The file does not exist (after the retries its caller asked for)."""


def read_bytes(path: Path, *, missing_is_transient: bool = False) -> bytes:
    """One read, retried on ESTALE/EIO (and on ENOENT when the caller knows the file exists).

    Raises Gone when the file is not there; other errors (ELOOP: a planted link) propagate.
    """
    return read_owned(path, missing_is_transient=missing_is_transient)[0]


def read_owned(path: Path, *, missing_is_transient: bool = False) -> tuple[bytes, int]:
    """`read_bytes`, and the uid that owns the file that was read (fstat: the same file)."""
    deadline = time.monotonic() + PATIENCE
    while True:
        try:
            fd = os.open(path, nofollow.READ)
            with os.fdopen(fd, "rb") as handle:
                return handle.read(), os.fstat(handle.fileno()).st_uid
        except FileNotFoundError:
            if not missing_is_transient or time.monotonic() >= deadline:
                raise Gone(str(path)) from None
        except OSError as exc:
            if exc.errno not in TRANSIENT or time.monotonic() >= deadline:
                raise
        time.sleep(_PAUSE)


def read_parsed(
    path: Path, parse: Callable[[bytes], T | None], *, missing_is_transient: bool = False
) -> T | None:
    """`parse(content)`, retried while it gives None (short, empty or torn content).

    None when the file is missing or still does not parse after PATIENCE seconds: a file
    that stays unreadable that long is damaged, not in the middle of being written.
    """
    deadline = time.monotonic() + PATIENCE
    while True:
        try:
            parsed = parse(read_bytes(path, missing_is_transient=missing_is_transient))
        except (Gone, OSError):
            return None
        if parsed is not None or time.monotonic() >= deadline:
            return parsed
        time.sleep(_PAUSE)


def exists(path: Path) -> bool:
    """lstat that does not take a moment's ESTALE for "missing"."""
    deadline = time.monotonic() + PATIENCE
    while True:
        try:
            os.lstat(path)
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            if exc.errno not in TRANSIENT or time.monotonic() >= deadline:
                raise
        time.sleep(_PAUSE)


def _scratch_name(path: Path) -> Path:
    return path.with_name(
        f".{path.name}.{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(4)}"
    )


def link_new(path: Path, text: str, *, fsync: bool = True) -> bool:
    """Create `path` holding `text`, unless it exists. True if this call's file is there.

    The content is written under a scratch name first and linked into place, so nobody ever
    reads `path` empty. Whether this call won is decided by reading `path` back: a create
    raced from another host can answer EPERM (sshfs) or EEXIST with no file left (GlusterFS).
    """
    scratch = _scratch_name(path)
    try:
        atomic.create_new(scratch, text, fsync=fsync)
        return _link_and_check(scratch, path, text.encode())
    finally:
        with contextlib.suppress(OSError):
            scratch.unlink()


def _link_and_check(scratch: Path, path: Path, content: bytes) -> bool:
    deadline = time.monotonic() + PATIENCE
    while True:
        try:
            os.link(scratch, path)  # never follows `path`: it creates it
        except OSError as exc:
            if exc.errno not in _CREATE_LOST | TRANSIENT:
                raise
        try:
            # ENOENT right after a create means nobody won (seen on GlusterFS): try again.
            return read_bytes(path) == content
        except Gone:
            if time.monotonic() >= deadline:
                raise OSError(errno.EIO, f"could not create {path}: no file appears") from None
        except OSError:
            return False  # not a file we can read (a planted link, say): not ours
        time.sleep(_PAUSE)


def now(directory: Path) -> float:
    """The volume's clock: the mtime the volume gives a file touched in `directory` now.

    Compared with another file's mtime on the same volume, never with this host's clock, so
    that hosts whose clocks differ agree on how old a heartbeat is (where the server stamps
    times, as NFS does; where clients do, the skew is that between the two writers).
    """
    probe = _scratch_name(directory / "clock")
    try:
        os.close(os.open(probe, nofollow.NEW, 0o644))
        return os.lstat(probe).st_mtime
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def age(path: Path, directory: Path) -> float | None:
    """Seconds since `path` was last modified, by the volume's clock; None if it is gone."""
    try:
        modified = os.lstat(path).st_mtime
    except OSError:
        return None
    return now(directory) - modified
