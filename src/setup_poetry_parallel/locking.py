"""A file lock that says who holds it and for how long, and gives up with a clear error.

The lock is a sidecar file (never the install itself), taken with `filelock`, which uses
`flock`/`LockFileEx`: the kernel frees it when the holder dies, however it dies.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from setup_poetry_parallel.errors import SetupError

log = logging.getLogger(__name__)

REPORT_EVERY: Final = 5.0


def _holder_file(lock: Path) -> Path:
    return lock.with_name(lock.name + ".holder")


def describe_holder(lock: Path) -> str:
    try:
        info = json.loads(_holder_file(lock).read_text(encoding="utf-8"))
        since = time.time() - float(info["since"])
        return f"pid {info['pid']} on {info['host']} for {since:.0f} s"
    except (OSError, ValueError, KeyError, TypeError):
        return "an unknown process"


def _write_holder(lock: Path) -> None:
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
    tmp = _holder_file(lock).with_name(f"{lock.name}.holder.{os.getpid()}")
    tmp.write_text(json.dumps(info), encoding="utf-8")
    os.replace(tmp, _holder_file(lock))


@contextlib.contextmanager
def hold(lock: Path, *, timeout: float, what: str) -> Iterator[None]:
    """Hold `lock`, reporting the holder every few seconds while waiting."""
    from filelock import FileLock, Timeout

    if lock.is_symlink():
        raise SetupError(f"{lock} is a symbolic link: remove it; lock files are never followed")
    lock.parent.mkdir(parents=True, exist_ok=True)
    file_lock = FileLock(str(lock))
    deadline = time.monotonic() + timeout
    while True:
        wait = min(REPORT_EVERY, max(0.0, deadline - time.monotonic()))
        try:
            file_lock.acquire(timeout=wait)
            break
        except Timeout:
            holder = describe_holder(lock)
            if time.monotonic() >= deadline:
                raise SetupError(
                    f"gave up after {timeout:.0f} s waiting for {lock} ({what}), held by"
                    f" {holder}: raise lock-timeout or stop that process"
                ) from None
            log.info("waiting for %s (%s), held by %s", lock, what, holder)
    try:
        _write_holder(lock)
        yield
    finally:
        with contextlib.suppress(OSError):
            _holder_file(lock).unlink()
        file_lock.release()
