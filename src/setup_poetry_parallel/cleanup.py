"""Old builds: which may go, and when.

A build stops being current only when a newer one is published (a damaged install, or the
same key rebuilt). It is marked `superseded` first and removed by a later cold setup once it
has been superseded for `GC_AFTER` (longer than any job can run), never while it is current.
A build never published (killed or failed) is removed by the next setup that builds.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from pathlib import Path
from typing import Final

from setup_poetry_parallel import atomic
from setup_poetry_parallel.paths import InstallPaths

log = logging.getLogger(__name__)

GC_AFTER: Final = 7 * 24 * 3600.0  # GitHub's longest job (self-hosted) is 5 days
SUPERSEDED: Final = "superseded"


def mark_superseded(paths: InstallPaths, current: str | None) -> None:
    """Before a new build is published: the current one starts its grace period now."""
    if current is None:
        return
    marker = Path(paths.build(current).root) / SUPERSEDED
    with contextlib.suppress(FileNotFoundError):  # its venv may be gone: that is why
        atomic.replace(marker, f'{{"at": {time.time()}}}', fsync=True)  # a fresh mtime


def collect(paths: InstallPaths, current: str | None) -> None:
    """Under the lock: remove builds nobody can be using.

    Never published (no `superseded` marker, not current): killed or failed builds, which no
    reader ever saw. Superseded for longer than GC_AFTER: no job runs that long.
    """
    now = time.time()
    for entry in Path(paths.builds).iterdir():
        if entry.name == current:
            continue
        try:
            age = now - (entry / SUPERSEDED).lstat().st_mtime
        except OSError:
            log.info("removing the unfinished build %s", entry)
        else:
            if age < GC_AFTER:
                continue
            log.info("removing %s, superseded %.0f h ago", entry, age / 3600)
        if entry.is_symlink() or not entry.is_dir():
            entry.unlink()
        else:
            shutil.rmtree(entry, ignore_errors=True)
