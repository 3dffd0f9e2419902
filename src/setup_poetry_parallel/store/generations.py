"""Which build is published: numbered names that are created once and never replaced.

`published/000001`, `000002`, ... each hold the id of the build published as that generation;
the highest is the one jobs get. `current.json` stays as the fast path (one read), but under
the lock these names decide, because of what network volumes do to a replaced file:

* On GlusterFS a host that takes the lock right after another host replaced `current.json`
  reads the OLD content for ~0.7 s (open-behind), whatever the lock did. A generation number
  announced inside the lock file or in `current.json` would be read just as stale. A new
  *name*, though, is seen by a lookup within milliseconds (negative lookups are not cached):
  so a waiter finds the newest generation by looking `N+1`, `N+2`, ... up until one is missing.
  It cannot build a second time a key that another host has just published, nor reuse a
  superseded build because of a stale read.
* Where locks lie (sshfs), two hosts may build at once. Publishing is a create of the next
  number (volume.link_new: whole content, winner decided by reading it back), so exactly one
  of them publishes that generation; the loser uses the winner's build.
Generations are never removed: they are a few bytes each, one per publish.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from setup_poetry_parallel.disk import volume
from setup_poetry_parallel.paths import InstallPaths

log = logging.getLogger(__name__)

BUILD_ID: Final = re.compile(r"^\d{8}T\d{6}-\d+-[0-9a-f]{6}$")
_NAME: Final = re.compile(r"^\d{6,}$")


@dataclass(frozen=True)
class Published:
    number: int
    build: str


def directory(paths: InstallPaths) -> Path:
    return Path(paths.root) / "published"


def _path(paths: InstallPaths, number: int) -> Path:
    return directory(paths) / f"{number:06d}"


def _parse_build(content: bytes) -> str | None:
    text = content.decode("utf-8", "replace").strip()
    return text if BUILD_ID.match(text) else None


def read(paths: InstallPaths, number: int) -> Published | None:
    """Generation `number`, or None if it does not exist (or never becomes readable)."""
    if number <= 0 or not volume.exists(_path(paths, number)):
        return None
    # It exists (the lookup said so): ENOENT or empty content now is the volume, retry.
    build = volume.read_parsed(_path(paths, number), _parse_build, missing_is_transient=True)
    return Published(number, build) if build else None


def listed(paths: InstallPaths) -> list[int]:
    try:
        names = [p.name for p in directory(paths).iterdir()]
    except OSError:
        return []
    return sorted(int(name) for name in names if _NAME.match(name))


def latest(paths: InstallPaths, hint: int = 0) -> Published | None:
    """The newest generation. `hint` (from `current.json`) and the listing say where to start;
    lookups of the next numbers, not the listing, say where to stop."""
    found = listed(paths)
    number = max([hint, *found[-1:]])
    while volume.exists(_path(paths, number + 1)):
        number += 1
    # A directory listing may lag; a missing number below the top is a gap, not the end.
    while number > 0:
        if published := read(paths, number):
            return published
        log.warning("generation %s of %s is unreadable: using the one before", number, paths.root)
        number -= 1
    return None


def builds(paths: InstallPaths) -> set[str]:
    """Every build that was ever published (the garbage collector's view)."""
    return {p.build for n in listed(paths) if (p := read(paths, n))}


def publish(paths: InstallPaths, number: int, build: str) -> bool:
    """Publish `build` as generation `number`. False: another setup published that number."""
    directory(paths).mkdir(mode=0o755, exist_ok=True)
    return volume.link_new(_path(paths, number), build + "\n")
