"""What kind of filesystem holds the install lock, and whether its `flock` reaches other hosts.

A lock that does not exclude gives no error: sshfs grants `flock` on every host at once
(FUSE keeps the lock in the local kernel when the filesystem does not implement it). No
cheap probe run from one host can tell, so the answer comes from the mount table: the
filesystems known to pass locks to their servers, the local ones (no other host sees them),
and everything else, where the lock file (an O_EXCL create, which the server decides) is
taken besides `flock`. The log says which, so a reader can check the verdict.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

Reach = Literal["local", "hosts", "this-host", "unknown"]

LOCAL: Final = frozenset(
    {
        "ext2", "ext3", "ext4", "xfs", "btrfs", "bcachefs", "zfs", "f2fs", "jfs", "reiserfs",
        "tmpfs", "ramfs", "overlay", "vfat", "exfat", "ntfs", "ntfs3", "apfs", "hfsplus",
    }
)  # fmt: skip
# Filesystems whose clients send flock to the server (or lock manager) by default.
PASS_LOCKS: Final = {
    "nfs": "NFS sends flock to the server as a whole-file lock (NLM or NFSv4)",
    "nfs4": "NFSv4 sends flock to the server as a whole-file lock",
    "fuse.glusterfs": "GlusterFS sends locks to its bricks",
    "ceph": "CephFS sends flock to its MDS",
    "fuse.ceph-fuse": "ceph-fuse sends flock to its MDS",
    "fuse.mfs": "MooseFS sends flock to its master",
    "fuse.moosefs": "MooseFS sends flock to its master",
    "fuse.juicefs": "JuiceFS sends flock to its metadata engine",
    "lustre": "Lustre sends flock to its servers when mounted with -o flock",
    "gpfs": "GPFS (Spectrum Scale) sends flock to its token manager",
}
# Filesystems known to grant flock locally, with no error (and mount options that do it).
HOST_LOCAL: Final = {
    "fuse.sshfs": "sshfs keeps flock in this host's kernel",
    "fuse.rclone": "rclone mount keeps flock in this host's kernel",
    "fuse.s3fs": "s3fs keeps flock in this host's kernel",
    "fuse.gcsfuse": "gcsfuse keeps flock in this host's kernel",
}
HOST_LOCAL_OPTIONS: Final = {
    "local_lock=flock": "mounted with local_lock=flock",
    "local_lock=all": "mounted with local_lock=all",
    "nolock": "mounted with nolock",
    "localflock": "mounted with localflock",
}


@dataclass(frozen=True)
class Mount:
    point: str
    fstype: str
    source: str
    options: frozenset[str]


@dataclass(frozen=True)
class LockReach:
    reach: Reach
    why: str
    mount: Mount | None

    @property
    def needs_lock_file(self) -> bool:
        """flock alone is not known to keep other hosts out."""
        return self.reach not in ("local", "hosts")

    def __str__(self) -> str:
        where = f"{self.mount.fstype} {self.mount.source}" if self.mount else "an unknown mount"
        return f"{where} ({self.why})"


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field


def parse_mountinfo(text: str) -> list[Mount]:
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 6 or len(tail) < 3:
            continue
        options = frozenset(fields[5].split(",")) | frozenset(tail[2].split(","))
        mounts.append(Mount(_unescape(fields[4]), tail[0], _unescape(tail[1]), options))
    return mounts


def mount_of(path: Path, mounts: list[Mount]) -> Mount | None:
    """The mount that holds `path`: the longest mount point above it (the last one mounted)."""
    target = os.path.realpath(path)
    best: Mount | None = None
    for mount in mounts:
        point = mount.point.rstrip("/") or "/"
        inside = target == point or target.startswith(point + "/") or point == "/"
        if inside and (best is None or len(point) >= len(best.point.rstrip("/") or "/")):
            best = mount
    return best


def classify(mount: Mount | None) -> LockReach:
    if mount is None:
        return LockReach("unknown", "no mount table: not verified", None)
    for option, why in HOST_LOCAL_OPTIONS.items():
        if option in mount.options:
            return LockReach("this-host", f"{why}: flock stays on this host", mount)
    if mount.fstype in HOST_LOCAL:
        return LockReach("this-host", HOST_LOCAL[mount.fstype], mount)
    if mount.fstype in PASS_LOCKS:
        return LockReach("hosts", PASS_LOCKS[mount.fstype], mount)
    if mount.fstype in LOCAL:
        return LockReach("local", "a local filesystem: flock excludes every process", mount)
    return LockReach("unknown", "not known to pass flock to a server", mount)


def lock_reach(directory: Path) -> LockReach:
    """How far a flock on a file in `directory` reaches, by the mount table."""
    try:
        text = Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return classify(None)
    return classify(mount_of(directory, parse_mountinfo(text)))
