"""Poetry's downloads, kept on the host and shared by its jobs: only the part that is safe.

Each job keeps its own POETRY_CACHE_DIR; its `artifacts/` and `cache/` are links into the host's
download cache (`download-cache`, beside the installs by default). Per part of that cache dir:

- `artifacts/` (downloaded wheels and sdists, and the wheels Poetry builds from sdists):
  shared. Poetry downloads to a temporary name and renames it into place (requests'
  `atomic_open`), so a reader sees a whole file or none, and checks every archive against the
  lock file's hashes. Our plugin closes the two gaps: a wheel built from an sdist is built
  beside and renamed into place (`SPP_PROTECT_BUILT_WHEELS`), and a failed download no longer
  deletes the file another job has just finished (`SPP_PROTECT_DOWNLOADS`). An archive that
  fails the hash check (a bad write, a bad mirror) is set aside and fetched again, with one
  warning, instead of failing every later install (`SPP_PROTECT_CORRUPT_ARCHIVES`).
- `cache/repositories/` (Poetry's package metadata and its HTTP cache): shared, which spares
  every later job the index pages of every package. The metadata files, which Poetry writes
  in place, are written under a fresh name and renamed by our plugin
  (`SPP_PROTECT_METADATA_CACHE`); the HTTP cache is kept whole across processes by
  `SPP_PROTECT_HTTP_CACHE` (body before metadata, one file lock per entry; before Poetry 2.4
  cachecontrol replaced each entry's one file atomically itself).
- `uv/` (uv's cache, for `fast-install`): shared; uv locks its cache against other processes
  itself, and checks every file against the lock's hashes as it downloads it.
- `src/` (git clones): per job. Poetry resets and fetches them in place, unlocked.
- virtualenvs, config, data: per job, as before.

Pruning, on long-lived hosts: once a day, under a lock, entries nobody has used for
`MAX_UNUSED` (by access or change time, whichever is newer) are removed. That is far longer
than any job runs (GitHub stops self-hosted jobs after 5 days), so an entry a running job has
used is never removed; and a removed file stays readable to a process that has it open.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

from setup_poetry_parallel.disk import trust
from setup_poetry_parallel.disk.locking import hold

log = logging.getLogger(__name__)

MAX_UNUSED: Final = 30 * 24 * 3600.0
PRUNE_EVERY: Final = 24 * 3600.0
_STAMP: Final = ".pruned"
_LOCK: Final = "prune.lock"


# The parts of Poetry's cache dir that jobs share: the same names in the job's cache dir and here.
SHARED: Final = ("artifacts", "cache", "uv")


def artifacts(root: Path) -> Path:
    return root / "artifacts"


def prepare(root: Path) -> list[Path]:
    """The shared parts, created; refused where another user could plant archives."""
    for directory in (root, *(root / part for part in SHARED)):
        trust.make_dir(directory)  # 0755 whatever the umask, and checked
    return [root / part for part in SHARED]


def unused(entries: Iterable[tuple[Path, float]], now: float, max_unused: float) -> list[Path]:
    """Pure: the entries whose last use is older than `max_unused`."""
    return [path for path, last_use in entries if now - last_use > max_unused]


def prune(root: Path, *, now: float | None = None, max_unused: float = MAX_UNUSED) -> list[Path]:
    """At most once a day per cache (whoever comes first), under the cache's lock."""
    now = time.time() if now is None else now
    if _pruned_since(root, now - PRUNE_EVERY):
        return []
    with hold(root / _LOCK, timeout=60, what="pruning the download cache"):
        if _pruned_since(root, now - PRUNE_EVERY):
            return []
        removed = unused(_entries(artifacts(root)), now, max_unused)
        for entry in removed:
            shutil.rmtree(entry, ignore_errors=True)
        (root / _STAMP).touch()
    if removed:
        log.info(
            "download cache: removed %d entries unused for %.0f days",
            len(removed),
            max_unused / 86400,
        )
    return removed


def _pruned_since(root: Path, since: float) -> bool:
    try:
        return (root / _STAMP).stat().st_mtime > since
    except OSError:
        return False


def _entries(top: Path) -> Iterator[tuple[Path, float]]:
    """Poetry's leaf dirs (one per link), each with the newest use of any file in it."""
    for directory, dirnames, filenames in os.walk(top):
        if dirnames or not filenames:
            continue
        uses = []
        for name in filenames:
            try:
                info = os.lstat(os.path.join(directory, name))
            except OSError:
                continue
            uses.append(max(info.st_atime, info.st_mtime))
        if uses:
            yield Path(directory), max(uses)
