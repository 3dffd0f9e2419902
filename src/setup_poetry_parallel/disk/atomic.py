"""Files that jobs read while another writes them, in directories other jobs share.

A file is created new (O_EXCL: never an existing file, O_NOFOLLOW: never through a planted
link) and, to replace another, written beside it under a fresh name and renamed over it:
readers see the old file or the new one, and a link planted at the target is replaced, not
followed.
"""

from __future__ import annotations

import errno
import os
import secrets
import time
from pathlib import Path
from typing import Final

from setup_poetry_parallel.disk import nofollow

RENAME_PATIENCE: Final = 10.0


def create_new(path: Path, text: str | bytes, *, fsync: bool = False) -> None:
    """`text` as UTF-8, or bytes as they are."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    with os.fdopen(os.open(path, nofollow.NEW, 0o644), "wb") as handle:
        handle.write(data)
        if fsync:
            handle.flush()
            os.fsync(handle.fileno())


def replace(path: Path, text: str | bytes, *, fsync: bool = False) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}")
    try:
        create_new(tmp, text, fsync=fsync)
        _rename(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # gone after the rename; removed if anything failed


def _rename(tmp: Path, path: Path) -> None:
    """os.replace, retried while the file it moves is still there: over sshfs a rename onto a
    file another host is replacing can fail with ENOENT (and ESTALE on GlusterFS)."""
    deadline = time.monotonic() + RENAME_PATIENCE
    while True:
        try:
            os.replace(tmp, path)
            return
        except OSError as exc:
            lost = exc.errno in (errno.ENOENT, errno.ESTALE) and os.path.lexists(tmp)
            if not lost or time.monotonic() >= deadline:
                raise
        time.sleep(0.05)
