"""Old builds: which may go, and when. Nothing another setup may be making or using.

A published build (named by a generation) stops being current only when a newer one is
published. It is marked `superseded` then and removed by a later cold setup once it has been
superseded for `GC_AFTER` (longer than any job can run), never while it is the newest.

A build never published is either in the making or abandoned (its setup was killed or
failed). The lock does not tell which: on sshfs it keeps nobody on another host out, and a
host cut off from GlusterFS loses it while still building. So every build carries an owner
file with a heartbeat (owners.py), and an unpublished build is removed only when its owner is
known to be gone: a dead process of this pid space, or a heartbeat silent for
`ABANDONED_AFTER`, measured with the volume's own timestamps (volume.now), not this host's
clock.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path
from typing import Final

from setup_poetry_parallel.disk import atomic, owners, trust, volume
from setup_poetry_parallel.paths import InstallPaths
from setup_poetry_parallel.store import generations
from setup_poetry_parallel.store.generations import Published

log = logging.getLogger(__name__)

GC_AFTER: Final = 7 * 24 * 3600.0  # GitHub's longest job (self-hosted) is 5 days
# An owner touches its file every owners.HEARTBEAT (5 s); ten minutes of silence is a dead
# owner even across hosts whose clocks disagree by minutes.
ABANDONED_AFTER: Final = 600.0
SUPERSEDED: Final = "superseded"


def owner_file(paths: InstallPaths, build: str) -> Path:
    """Who makes `builds/<build>`, with a heartbeat. Beside the build, not in it: uv creates a
    venv only in a directory that is empty."""
    return Path(paths.builds) / f".{build}.owner"


def mark_superseded(paths: InstallPaths, build: str) -> None:
    """When a newer build is published: this one starts its grace period now (once: a second
    marking, from a stale read, must not extend it)."""
    marker = Path(paths.build(build).root) / SUPERSEDED
    with contextlib.suppress(FileNotFoundError, FileExistsError):  # its venv may be gone
        atomic.create_new(marker, "superseded\n", fsync=True)


def collect(paths: InstallPaths, newest: Published | None) -> None:
    """Under the lock (which may not exclude): remove the builds nobody can be using."""
    builds = Path(paths.builds)
    published = generations.builds(paths)
    now = volume.now(builds)
    for entry in sorted(builds.iterdir()):
        if entry.name.startswith("."):
            _collect_orphan_owner(paths, entry, now)
            continue
        if newest and entry.name == newest.build:
            continue  # the build jobs get
        if entry.name in published:
            _collect_superseded(paths, entry, now)
        elif abandoned(paths, entry, now) and entry.name not in generations.builds(paths):
            log.info("removing the unfinished build %s (its setup is gone)", entry)
            _remove(entry)
            _remove(owner_file(paths, entry.name))


def _collect_superseded(paths: InstallPaths, entry: Path, now: float) -> None:
    try:
        age = now - (entry / SUPERSEDED).lstat().st_mtime
    except FileNotFoundError:
        # Published, not the newest, not marked: its successor's publisher died in between.
        mark_superseded(paths, entry.name)
        return
    if age >= GC_AFTER:
        log.info("removing %s, superseded %.0f h ago", entry, age / 3600)
        _remove(entry)


def _collect_orphan_owner(paths: InstallPaths, entry: Path, now: float) -> None:
    """An owner file whose build is gone (its setup failed where it could not clean up)."""
    build = entry.name[1:].removesuffix(".owner")
    if entry.name.endswith(".owner") and generations.BUILD_ID.match(build):
        build_dir = Path(paths.builds) / build
        if not build_dir.exists() and abandoned(paths, build_dir, now):
            _remove(entry)


def abandoned(paths: InstallPaths, entry: Path, now: float) -> bool:
    """An unpublished build whose owner is known to be gone."""
    owner = owner_file(paths, entry.name)
    info = trust.read_json(owner)
    if owners.known_dead(info):
        return True
    try:
        beat = owner.lstat().st_mtime
    except FileNotFoundError:
        try:  # no owner file: left by an older version of this engine
            beat = entry.lstat().st_mtime
        except OSError:
            return False
    except OSError:
        return False  # cannot tell now: keep it
    return now - beat > ABANDONED_AFTER


def _remove(entry: Path) -> None:
    if entry.is_symlink() or not entry.is_dir():
        with contextlib.suppress(OSError):
            entry.unlink()
    else:
        shutil.rmtree(entry, ignore_errors=True)
