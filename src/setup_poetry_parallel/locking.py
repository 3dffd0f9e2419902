"""A file lock that says who holds it and for how long, and gives up with a clear error.

The lock is a sidecar file, never the install itself. On POSIX it is `flock`ed: the kernel
frees it when the holder dies, however it dies (SIGKILL included), so a dead holder never
blocks anyone. Where `flock` is refused (some NFS mounts answer ENOLCK or EOPNOTSUPP) the
lock falls back to a file created with O_EXCL that names its holder (host, pid, token) and
is kept fresh by a heartbeat; it is broken when its holder is a dead process of this host,
or when a waiter has watched it go without a heartbeat for `stale_after` seconds (measured
on the waiter's own clock, so clock skew between hosts does not matter).

On Windows `filelock` takes the lock (LockFileEx, also released by the OS on death).
Lock and holder files are opened with O_NOFOLLOW and written through fresh temp names,
so a symbolic link planted in a shared directory cannot redirect them.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

from setup_poetry_parallel import atomic
from setup_poetry_parallel.errors import SetupError

log = logging.getLogger(__name__)

REPORT_EVERY: Final = 5.0  # seconds between "waiting for ..." lines
HEARTBEAT: Final = 5.0  # fallback lock: seconds between the holder's touches
STALE_AFTER: Final = 60.0  # fallback lock: no heartbeat seen for this long means stale
_POLL: Final = 0.1
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
# flock refused by the filesystem, not by contention: use the fallback lock.
FLOCK_UNSUPPORTED: Final = frozenset(
    {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, getattr(errno, "ENOTSUP", -1)}
)


def holder_file(lock: Path) -> Path:
    return lock.with_name(lock.name + ".holder")


def fallback_file(lock: Path) -> Path:
    return lock.with_name(lock.name + ".excl")


@contextlib.contextmanager
def hold(
    lock: Path, *, timeout: float, what: str, stale_after: float = STALE_AFTER
) -> Iterator[None]:
    """Hold `lock`, reporting the holder every few seconds while waiting."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    refuse_symlink(lock)
    waiter = _Waiter(lock, timeout, what)
    if os.name == "nt":
        with _windows_lock(lock, waiter):
            yield
        return
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o644)
    try:
        if _flock(fd, waiter):
            try:
                _write_holder(lock)
                yield
            finally:
                _clear_holder(lock)
                _unlock(fd)
            return
    finally:
        os.close(fd)
    log.warning("%s does not support flock: using a lock file with stale detection", lock.parent)
    with exclusive(fallback_file(lock), waiter, stale_after=stale_after):
        yield


def refuse_symlink(path: Path) -> None:
    if path.is_symlink():
        raise SetupError(f"{path} is a symbolic link: remove it; lock files are never followed")


class _Waiter:
    """Deadline and periodic "held by" reports shared by every kind of lock."""

    def __init__(self, lock: Path, timeout: float, what: str) -> None:
        self.lock, self.what, self.timeout = lock, what, timeout
        self.deadline = time.monotonic() + timeout
        self.next_report = time.monotonic() + REPORT_EVERY

    def tick(self, holder: Callable[[], str]) -> None:
        """Call after each failed attempt: raise on timeout, log the holder now and then."""
        now = time.monotonic()
        if now >= self.deadline:
            raise SetupError(
                f"gave up after {self.timeout:g} s waiting for {self.lock} ({self.what}), held by"
                f" {holder()}: raise lock-timeout or stop that process"
            )
        if now >= self.next_report:
            self.next_report = now + REPORT_EVERY
            log.info("waiting for %s (%s), held by %s", self.lock, self.what, holder())
        time.sleep(min(_POLL, max(0.0, self.deadline - now)))


def _flock(fd: int, waiter: _Waiter) -> bool:
    """True once locked; False when the filesystem has no flock (use the fallback)."""
    import fcntl

    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno in FLOCK_UNSUPPORTED:
                return False
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise
        waiter.tick(lambda: describe_holder(waiter.lock))


def _unlock(fd: int) -> None:
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def _windows_lock(lock: Path, waiter: _Waiter) -> Iterator[None]:  # pragma: no cover - Windows
    from filelock import FileLock, Timeout

    file_lock = FileLock(str(lock))
    while True:
        try:
            file_lock.acquire(timeout=_POLL)
            break
        except Timeout:
            waiter.tick(lambda: describe_holder(lock))
    try:
        _write_holder(lock)
        yield
    finally:
        _clear_holder(lock)
        file_lock.release()


# --- who holds it ------------------------------------------------------------------------


def _me(token: str = "") -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "token": token}


def describe_holder(lock: Path) -> str:
    return _describe(read_info(holder_file(lock)))


def _describe(info: dict[str, Any] | None) -> str:
    if info is None:
        return "an unknown process"
    try:
        since = time.time() - float(info["since"])
        return f"pid {info['pid']} on {info['host']} for {since:.0f} s"
    except (KeyError, TypeError, ValueError):
        return "an unknown process"


def read_info(path: Path) -> dict[str, Any] | None:
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            data = json.loads(handle.read(4096))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_new(path: Path, data: dict[str, Any]) -> None:
    """Create `path` (never an existing file, never through a link) holding `data` as JSON."""
    atomic.create_new(path, json.dumps(data))


def _write_holder(lock: Path) -> None:
    atomic.replace(holder_file(lock), json.dumps(_me()))  # a planted link is replaced


def _clear_holder(lock: Path) -> None:
    with contextlib.suppress(OSError):
        holder_file(lock).unlink()


# --- the fallback lock for filesystems without flock ---------------------------------------


@contextlib.contextmanager
def exclusive(path: Path, waiter: _Waiter, *, stale_after: float = STALE_AFTER) -> Iterator[None]:
    """An O_EXCL lock file naming its holder, with a heartbeat and stale-holder detection."""
    token = secrets.token_hex(8)
    watch = _StaleWatch(stale_after)
    while True:
        try:
            write_new(path, _me(token))
            break
        except FileExistsError:
            info = read_info(path)
            if watch.is_stale(path, info):
                _break(path, info)
                continue
            waiter.tick(lambda: _describe(read_info(path)))
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(path, token, stop), daemon=True)
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join()
        if (read_info(path) or {}).get("token") == token:
            path.unlink()
        else:
            log.warning("%s was taken from this job as stale while it held it", path)


class _StaleWatch:
    """Stale: a dead process of this host, or no heartbeat seen for `stale_after` seconds."""

    def __init__(self, stale_after: float) -> None:
        self.stale_after = stale_after
        self.seen: tuple[float, str] | None = None
        self.seen_at = time.monotonic()

    def is_stale(self, path: Path, info: dict[str, Any] | None) -> bool:
        if info and info.get("host") == socket.gethostname() and not _alive(info.get("pid")):
            log.warning("%s was left by pid %s, which is gone: taking it over", path, info["pid"])
            return True
        try:
            state = (path.lstat().st_mtime, str(info))
        except FileNotFoundError:
            return False  # released meanwhile: just try again
        if state != self.seen:
            self.seen, self.seen_at = state, time.monotonic()
            return False
        if time.monotonic() - self.seen_at >= self.stale_after:
            log.warning(
                "%s (%s) has had no heartbeat for %.0f s: taking it over",
                path,
                _describe(info),
                self.stale_after,
            )
            return True
        return False


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return True  # unknown: let the heartbeat decide
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _break(path: Path, info: dict[str, Any] | None) -> None:
    """Move the stale file aside (one breaker wins the rename) and check it was the stale one."""
    aside = path.with_name(f".{path.name}.stale.{secrets.token_hex(6)}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    if read_info(aside) != info:
        # A live holder took the lock between our read and the rename: give it back.
        with contextlib.suppress(OSError):
            os.link(aside, path)
    with contextlib.suppress(OSError):
        aside.unlink()


def _heartbeat(path: Path, token: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT):
        if (read_info(path) or {}).get("token") != token:
            return
        with contextlib.suppress(OSError):
            os.utime(path, follow_symlinks=False)
