"""Who owns a lock or a build in progress, and when that owner is known to be gone.

A pid means something only to the same kernel and pid namespace: on a shared volume the
owner may be another host, or a container on this host with a pid space of its own (and,
in containers, the same hostname). So an owner record names its host, boot and pid
namespace, and its pid is checked only when all three are this process's; everywhere else
only a heartbeat tells whether the owner is alive.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

HEARTBEAT: Final = 5.0  # seconds between an owner's touches of its file


def _read_first_line(path: str) -> str:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.readline().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def identity() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "boot": _read_first_line("/proc/sys/kernel/random/boot_id"),
        "pidns": _pid_namespace(),
        "since": time.time(),
    }


def same_process_space(info: dict[str, Any]) -> bool:
    """True when `info`'s pid can be looked up here: same host, same boot, same pid space."""
    mine = identity()
    return all(info.get(k) == mine[k] for k in ("host", "boot", "pidns"))


def known_dead(info: dict[str, Any] | None) -> bool:
    """Only a process of this pid space that no longer exists is known to be dead."""
    if not info or not same_process_space(info):
        return False
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # someone else's live process
    return False


@contextlib.contextmanager
def heartbeat(path: Path, *, every: float = HEARTBEAT) -> Iterator[threading.Event]:
    """Touch `path` every `every` seconds while the block runs. Yields an Event set when the
    file was found gone (taken as stale, or collected): the owner must not publish then."""
    stop, lost = threading.Event(), threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                os.utime(path, follow_symlinks=False)
            except FileNotFoundError:
                lost.set()
                return
            except OSError:
                continue  # a partition or a moment's ESTALE: try again next beat

    thread = threading.Thread(target=beat, daemon=True, name=f"heartbeat {path.name}")
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join()
