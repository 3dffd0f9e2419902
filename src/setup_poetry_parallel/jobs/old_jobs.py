"""Old job dirs off a runner. On a runner the state dir is in RUNNER_TEMP, emptied after each
job; on a long-lived host (another CI's agent, a developer's machine) nothing empties it, and
each shell that ran a setup left a job dir with its project envs. Each CLI setup removes those
that are surely abandoned:

- only in a state dir that passes the private check (this user's, a directory, not a link,
  writable by nobody else), opened without following a link and used through that descriptor,
  so a swapped path cannot point the removal elsewhere;
- only entries named as job ids (job_ids.valid), real directories of this user (lstat) with
  the `config/` dir every job dir has;
- never the current job's (its dir is touched instead, so a reused job id stays fresh);
- only when neither the dir nor anything directly in it changed for MAX_AGE_DAYS;
- and, where /proc tells (Linux), when no process of this host has its working directory in
  it or carries it in its environment (every process started with the job's exports does:
  its POETRY_* dirs and PATH name the job dir).

A dir is renamed to a `.removing-` name first (one atomic step, so a setup starting under the
same id makes a fresh dir rather than one half removed), then removed with shutil.rmtree's
descriptor-based walk, which never follows a link. Cleaning never fails a setup: a problem is
logged and the dir is left. Not on Windows (no descriptor-based removal there): documented.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final

from setup_poetry_parallel.disk import dir_checks, nofollow
from setup_poetry_parallel.jobs import job_ids

log = logging.getLogger(__name__)

MAX_AGE_DAYS: Final = 7
REMOVING: Final = ".removing-"
_DAY: Final = 86400.0


def clean(
    state_dir: Path,
    *,
    keep: str,
    now: float | None = None,
    in_use: Callable[[Path], set[str]] | None = None,
) -> list[str]:
    """Remove the abandoned job dirs of `state_dir` (the module's rule); their names."""
    if not shutil.rmtree.avoids_symlink_attacks or not hasattr(os, "O_DIRECTORY"):
        return []
    try:
        return _clean(state_dir, keep, time.time() if now is None else now, in_use or running)
    except OSError as exc:
        log.debug("old job dirs in %s left: %s", state_dir, exc)
        return []


def _clean(state_dir: Path, keep: str, now: float, in_use: Callable[[Path], set[str]]) -> list[str]:
    if why := dir_checks.problem(state_dir, private=True):
        log.debug("old job dirs not cleaned: %s %s", state_dir, why)
        return []
    fd = os.open(state_dir, nofollow.DIRECTORY)
    try:
        if not _same(os.fstat(fd), os.lstat(state_dir)):
            return []  # swapped between the check and the open
        if keep in os.listdir(fd):
            os.utime(keep, dir_fd=fd, follow_symlinks=False)
        old = [name for name in _job_dirs(fd) if name != keep and _age(fd, name, now) > _limit()]
        busy = in_use(state_dir) if old else set()
        removed = []
        for name in old:
            if name in busy:
                log.debug("old job dir %s kept: a running process uses it", name)
                continue
            _remove(fd, name)
            removed.append(name)
        for name in os.listdir(fd):  # another setup's removal that did not finish
            if name.startswith(REMOVING) and _age(fd, name, now) > _DAY:
                shutil.rmtree(name, dir_fd=fd, ignore_errors=True)
        if removed:
            log.info(
                "removed %d job dirs unused for %d days from %s",
                len(removed),
                MAX_AGE_DAYS,
                state_dir,
            )
        return removed
    finally:
        os.close(fd)


def _limit() -> float:
    return MAX_AGE_DAYS * _DAY


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _job_dirs(fd: int) -> Iterable[str]:
    for name in os.listdir(fd):
        if not job_ids.valid(name):
            continue
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and _has_config(fd, name):
            yield name


def _has_config(fd: int, name: str) -> bool:
    """A setup made it: every job dir has its own Poetry `config/` (paths.JobPaths)."""
    try:
        info = os.stat(f"{name}/config", dir_fd=fd, follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode)


def _age(fd: int, name: str, now: float) -> float:
    """Since the dir or anything directly in it last changed (lstat: links not followed)."""
    newest = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mtime
    try:
        sub = os.open(name, nofollow.DIRECTORY, dir_fd=fd)
    except OSError:
        return now - newest
    try:
        for entry in os.listdir(sub):
            info = os.stat(entry, dir_fd=sub, follow_symlinks=False)
            newest = max(newest, info.st_mtime)
    finally:
        os.close(sub)
    return now - newest


def _remove(fd: int, name: str) -> None:
    doomed = f"{REMOVING}{name}-{os.getpid()}"
    os.rename(name, doomed, src_dir_fd=fd, dst_dir_fd=fd)
    shutil.rmtree(doomed, dir_fd=fd, ignore_errors=True)


def running(state_dir: Path) -> set[str]:
    """The names of the job dirs under `state_dir` that a running process uses: its working
    directory is in one, or its environment names one. Empty where /proc is missing."""
    proc = Path("/proc")
    if not (proc / "self" / "environ").exists():
        return set()
    prefix = os.fsencode(state_dir) + b"/"
    names: set[str] = set()
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        names |= _named(prefix, _read(proc / pid / "environ"))
        names |= _named(prefix, _cwd(proc / pid / "cwd"))
    return names


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""  # gone, or another user's: it cannot use this user's private dir


def _cwd(link: Path) -> bytes:
    try:
        return os.fsencode(os.readlink(link)) + b"/"
    except OSError:
        return b""  # gone, or another user's


def _named(prefix: bytes, text: bytes) -> set[str]:
    """Each `<state_dir>/<name>/` in `text`: the names."""
    names = set()
    start = text.find(prefix)
    while start >= 0:
        rest = text[start + len(prefix) :]
        end = min((i for i in (rest.find(c) for c in (b"/", b"\0", b":")) if i >= 0), default=-1)
        if end > 0:
            names.add(os.fsdecode(rest[:end]))
        start = text.find(prefix, start + 1)
    return names
