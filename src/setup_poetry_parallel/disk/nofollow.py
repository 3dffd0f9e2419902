"""How every file in a directory others share is opened: never through a link.

O_NOFOLLOW: a link planted at the name gives ELOOP instead of the file it points at (another
user's, or ours elsewhere). O_CLOEXEC: never inherited by a program the engine starts (os.open
makes descriptors non-inheritable anyway, PEP 446; the flag says so where the file is opened).
Where a platform lacks a flag (Windows lacks both) it is 0: there the callers' other checks
(owner, lstat) stand alone.

Imports nothing but `os`: the warm lane and the bootstrap use it (warm_lane.py's import budget).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs the warm lane more than this module
    from typing import Final

_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)

READ: Final = os.O_RDONLY | _NOFOLLOW | _CLOEXEC
# A file created new: never an existing one (O_EXCL), never through a link at the name.
NEW: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
# A lock file: opened if there, created if not, never through a link.
LOCK: Final = os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC
# A directory, to work inside it by descriptor (jobs/old_jobs.py): never one a link points at.
DIRECTORY: Final = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
