"""A file lock that says who holds it and for how long, and gives up with a clear error.

The lock is a sidecar file, never the install itself. On POSIX it is `flock`ed: the kernel
frees it when the holder dies, however it dies (SIGKILL included), so a dead holder never
blocks anyone. Where `flock` is refused (some NFS mounts answer ENOLCK or EOPNOTSUPP) the
lock falls back to a lock file created with O_EXCL semantics that names its holder (host,
boot, pid namespace, pid, token) and is kept fresh by a heartbeat. Where `flock` is granted
but is not known to reach other hosts (sshfs keeps it in the local kernel, without an error:
filesystems.py), the lock file is taken as well. The log says which lock was used and why.

The lock file is broken when its holder is a dead process of this pid space, or when a
waiter has watched it go without a heartbeat for `stale_after` seconds on its own monotonic
clock (clock skew between hosts cannot matter), or for three heartbeats when the volume's own
timestamps already show it silent for longer than `stale_after` (a holder long dead).

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
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

from setup_poetry_parallel.disk import atomic, filesystems, nofollow, owners, trust, volume
from setup_poetry_parallel.errors import SetupError

log = logging.getLogger(__name__)

REPORT_EVERY: Final = 5.0  # seconds between "waiting for ..." lines
HEARTBEAT: Final = owners.HEARTBEAT  # fallback lock: seconds between the holder's touches
CONFIRM_BEATS: Final = 3  # beats a lock file silent by the volume's clock is watched
STALE_AFTER: Final = 60.0  # fallback lock: no heartbeat seen for this long means stale
_POLL: Final = 0.1
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
    reach = filesystems.lock_reach(lock.parent)
    with _flocked(lock, waiter) as flocked:
        if flocked and not reach.needs_lock_file:
            log.info("lock: flock on %s, on %s", lock, reach)
            yield
            return
        if flocked:
            log.warning("lock: flock and the lock file %s, on %s", fallback_file(lock), reach)
        else:
            log.warning(
                "lock: the lock file %s with stale detection: %s refuses flock",
                fallback_file(lock),
                reach,
            )
        with exclusive(fallback_file(lock), waiter, stale_after=stale_after):
            yield


@contextlib.contextmanager
def _flocked(lock: Path, waiter: _Waiter) -> Iterator[bool]:
    """Yields True holding the flock of `lock`, False if the filesystem has no flock."""
    fd = os.open(lock, nofollow.LOCK, 0o644)
    try:
        if not _flock(fd, waiter):
            yield False
            return
        try:
            _write_holder(lock)
            yield True
        finally:
            _clear_holder(lock)
            _unlock(fd)
    finally:
        os.close(fd)


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
    return {**owners.identity(), "token": token}


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
        return trust.parse_json(volume.read_bytes(path))  # a moment's ESTALE is retried
    except (volume.Gone, OSError):
        return None


def write_new(path: Path, data: dict[str, Any]) -> bool:
    """Create `path` holding `data` as JSON, unless it exists (never through a link).
    True if this call created it: on a shared volume the create's error does not say."""
    return volume.link_new(path, json.dumps(data))


def _write_holder(lock: Path) -> None:
    """Only says who holds the lock, for the waiters' reports: a failure here must not fail
    the setup (a shared volume can refuse a rename for a moment)."""
    with contextlib.suppress(OSError):
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
    # Look before trying: a create is five operations and an fsync on the server, and a
    # dozen waiters polling with creates would slow the holder down.
    while os.path.lexists(path) or not write_new(path, _me(token)):
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
    """Stale: a dead process of this pid space, or no heartbeat seen for `stale_after` seconds
    (for CONFIRM_BEATS heartbeats when the volume's clock says it has been silent longer)."""

    def __init__(self, stale_after: float) -> None:
        self.stale_after = stale_after
        self.seen: tuple[float, str] | None = None
        self.seen_at = time.monotonic()
        self.limit = stale_after

    def is_stale(self, path: Path, info: dict[str, Any] | None) -> bool:
        if owners.known_dead(info):
            log.warning("%s was left by pid %s, which is gone: taking it over", path, _pid(info))
            return True
        try:
            modified = path.lstat().st_mtime
        except OSError:
            return False  # released meanwhile (or a moment's ESTALE): just try again
        state = (modified, str(info))
        if state != self.seen:
            self.seen, self.seen_at = state, time.monotonic()
            self.limit = self._limit(path, modified)
            return False
        if time.monotonic() - self.seen_at >= self.limit:
            log.warning(
                "%s (%s) has had no heartbeat for %.0f s: taking it over",
                path,
                _describe(info),
                max(self.limit, _silent(path, modified)),
            )
            return True
        return False

    def _limit(self, path: Path, modified: float) -> float:
        """A live holder touches its file every HEARTBEAT: one already silent for longer than
        stale_after by the volume's clock is watched for a few beats only, not in full."""
        confirm = CONFIRM_BEATS * HEARTBEAT
        if confirm < self.stale_after and _silent(path, modified) > self.stale_after:
            return confirm
        return self.stale_after


def _silent(path: Path, modified: float) -> float:
    """How long ago `path` was touched, by the volume's clock (0 if that cannot be told)."""
    try:
        return volume.now(path.parent) - modified
    except OSError:
        return 0.0


def _pid(info: dict[str, Any] | None) -> object:
    return (info or {}).get("pid")


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
