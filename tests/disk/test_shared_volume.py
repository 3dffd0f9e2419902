"""The pieces that make the engine hold on a shared volume, on this host's disk: retried
reads, whole-content creates, generations, owners and heartbeats, the lock-reach verdict and
a stale lock judged against the volume's timestamps (clock skew). The same code on real
network filesystems, across hosts: tests/test_sharedfs.py."""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from setup_poetry_parallel.disk import filesystems, locking, owners, volume
from setup_poetry_parallel.paths import InstallPaths
from setup_poetry_parallel.store import cleanup, generations

BUILD = "20260101T000000-1-abcdef"


def test_a_read_waits_for_content_being_written(tmp_path: Path) -> None:
    """Empty, then half, then whole: the parse is retried until the content is whole."""
    path = tmp_path / "marker.json"
    path.write_text("")

    def write_slowly() -> None:
        time.sleep(0.2)
        path.write_text('{"build": ')
        time.sleep(0.2)
        path.write_text('{"build": "x"}')

    writer = threading.Thread(target=write_slowly)
    writer.start()
    parsed = volume.read_parsed(path, lambda b: json.loads(b) if b.endswith(b"}") else None)
    writer.join()
    assert parsed == {"build": "x"}


def test_a_read_of_a_missing_file_does_not_wait(tmp_path: Path) -> None:
    assert volume.read_parsed(tmp_path / "absent", lambda b: b) is None


def test_a_moment_of_estale_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seam: GlusterFS answers ESTALE for a moment while another host replaces a file."""
    path = tmp_path / "marker"
    path.write_text("content")
    real_open, failures = os.open, [errno.ESTALE, errno.ESTALE]

    def flaky_open(name: object, *args: object, **kwargs: object) -> int:
        if name == path and failures:
            raise OSError(failures.pop(), "Stale file handle")
        return real_open(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", flaky_open)
    assert volume.read_bytes(path) == b"content"
    assert not failures
    assert volume.exists(path)


def test_link_new_creates_whole_once(tmp_path: Path) -> None:
    path = tmp_path / "000001"
    assert volume.link_new(path, "first\n")
    assert not volume.link_new(path, "second\n")
    assert path.read_text() == "first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["000001"], "scratch files are removed"


def test_link_new_never_follows_a_planted_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("mine")
    (tmp_path / "000001").symlink_to(victim)
    assert not volume.link_new(tmp_path / "000001", "theirs")
    assert victim.read_text() == "mine"


def test_link_new_from_many_processes_has_one_winner_per_name(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from setup_poetry_parallel.disk import volume\n"
        "print(sum(volume.link_new(Path(sys.argv[1]) / f'n{i}', sys.argv[2], fsync=False)"
        " for i in range(100)))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path), f"p{n}"], stdout=subprocess.PIPE
        )
        for n in range(4)
    ]
    wins = [int(p.communicate(timeout=60)[0]) for p in procs]
    assert sum(wins) == 100


def test_the_volume_clock_is_the_mtime_the_volume_gives(tmp_path: Path) -> None:
    touched = tmp_path / "beat"
    touched.write_text("")
    old = time.time() - 3600
    os.utime(touched, (old, old))
    age = volume.age(touched, tmp_path)
    assert age is not None
    assert 3500 < age < 3700
    assert not [p for p in tmp_path.iterdir() if p.name != "beat"], "the probe is removed"


def _paths(tmp_path: Path) -> InstallPaths:
    (tmp_path / "key").mkdir()
    return InstallPaths(tmp_path / "key", windows=False)


def test_generations_the_newest_by_lookup_past_a_stale_hint(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    assert generations.latest(paths) is None
    for n in (1, 2, 3):
        assert generations.publish(paths, n, f"20260101T00000{n}-1-abcdef")
    assert not generations.publish(paths, 3, BUILD), "a number is published once"
    newest = generations.latest(paths, hint=1)
    assert newest == generations.Published(3, "20260101T000003-1-abcdef")
    assert len(generations.builds(paths)) == 3


def test_generations_an_unreadable_top_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(volume, "PATIENCE", 0.3)  # garbage stays garbage: retried that long
    paths = _paths(tmp_path)
    generations.publish(paths, 1, BUILD)
    (generations.directory(paths) / "000002").write_text("garbage")
    newest = generations.latest(paths)
    assert newest is not None
    assert newest.number == 1


def test_owner_known_dead_only_in_this_pid_space() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = {**owners.identity(), "pid": int(done.stdout)}
    assert owners.known_dead(dead)
    assert not owners.known_dead(owners.identity()), "this process is alive"
    assert not owners.known_dead({**dead, "host": "elsewhere"}), "a pid of another host"
    assert not owners.known_dead({**dead, "pidns": "pid:[1]"}), "a pid of another container"
    assert not owners.known_dead(None)


def test_a_heartbeat_moves_the_mtime_and_says_when_its_file_is_gone(tmp_path: Path) -> None:
    beat = tmp_path / "owner"
    beat.write_text("")
    os.utime(beat, (0, 0))
    with owners.heartbeat(beat, every=0.05) as lost:
        time.sleep(0.3)
        assert beat.stat().st_mtime > 0
        beat.unlink()
        time.sleep(0.3)
        assert lost.is_set()


def test_an_unfinished_build_is_collected_only_when_its_owner_is_gone(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    Path(paths.builds).mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    makers = {
        "20260101T000001-1-aaaaaa": {**owners.identity(), "pid": int(dead.stdout)},  # dead here
        "20260101T000002-1-bbbbbb": {**owners.identity(), "host": "elsewhere"},  # beating
        "20260101T000003-1-cccccc": {**owners.identity(), "host": "elsewhere"},  # silent
    }
    for build, info in makers.items():
        cleanup.owner_file(paths, build).write_text(json.dumps(info))
        Path(paths.build(build).root).mkdir()
    silent = time.time() - cleanup.ABANDONED_AFTER - 60
    os.utime(cleanup.owner_file(paths, "20260101T000003-1-cccccc"), (silent, silent))
    cleanup.collect(paths, None)
    left = sorted(p.name for p in Path(paths.builds).iterdir())
    assert left == [".20260101T000002-1-bbbbbb.owner", "20260101T000002-1-bbbbbb"]


def test_a_published_build_is_never_taken_for_unfinished(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    old, new = "20260101T000001-1-aaaaaa", "20260101T000002-1-bbbbbb"
    for build in (old, new):
        Path(paths.build(build).root).mkdir(parents=True)
    silent = time.time() - cleanup.ABANDONED_AFTER - 60
    os.utime(Path(paths.build(old).root), (silent, silent))  # no owner, long silent
    generations.publish(paths, 1, old)
    generations.publish(paths, 2, new)
    cleanup.collect(paths, generations.latest(paths))
    assert Path(paths.build(old).root).is_dir(), "published: only the grace period removes it"
    assert (Path(paths.build(old).root) / cleanup.SUPERSEDED).is_file(), "marked now"


MOUNTINFO = r"""22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
95 22 0:47 / /mnt/gluster rw,relatime - fuse.glusterfs srv:/vol rw,user_id=0
112 22 0:50 / /mnt/ssh\040fs rw,nosuid - fuse.sshfs root@srv:/export rw,user_id=0
120 22 0:51 / /mnt/nfs rw - nfs4 srv:/export rw,vers=4.2,local_lock=none
121 22 0:52 / /mnt/nfs-local rw - nfs srv:/export rw,vers=3,nolock,local_lock=all
130 22 0:53 / /mnt/odd rw - fuse.somethingfs odd rw
"""


@pytest.mark.parametrize(
    ("path", "reach"),
    [
        ("/home/runner/install", "local"),
        ("/mnt/gluster/install", "hosts"),
        ("/mnt/ssh fs/install", "this-host"),
        ("/mnt/nfs/install", "hosts"),
        ("/mnt/nfs-local/install", "this-host"),
        ("/mnt/odd/install", "unknown"),
    ],
)
def test_which_filesystems_flock_reaches_other_hosts(path: str, reach: str) -> None:
    mounts = filesystems.parse_mountinfo(MOUNTINFO)
    verdict = filesystems.classify(filesystems.mount_of(Path(path), mounts))
    assert verdict.reach == reach, verdict
    assert verdict.needs_lock_file == (reach not in ("local", "hosts"))


def test_the_lock_says_which_lock_it_used(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO), locking.hold(tmp_path / "l", timeout=5, what="t"):
        pass
    (line,) = [r.message for r in caplog.records if r.message.startswith("lock: ")]
    assert "flock on" in line
    assert "(" in line  # the filesystem and why


def _watch_holder(path: Path, skew: float, stop: threading.Event) -> None:
    """A live holder on a host whose clock is `skew` seconds off: it keeps touching."""
    while not stop.wait(0.05):
        stamp = time.time() + skew
        os.utime(path, (stamp, stamp))


@pytest.mark.parametrize("skew", [-3600.0, 3600.0])
def test_a_live_holder_with_a_skewed_clock_is_never_stale(
    skew: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locking, "HEARTBEAT", 0.1)
    path = tmp_path / "install.lock.excl"
    locking.write_new(path, {**owners.identity(), "host": "elsewhere", "token": "x"})
    stop = threading.Event()
    holder = threading.Thread(target=_watch_holder, args=(path, skew, stop))
    holder.start()
    try:
        watch = locking._StaleWatch(stale_after=1.0)
        deadline = time.monotonic() + 1.5  # past stale_after: a silent holder would be stale
        while time.monotonic() < deadline:
            assert not watch.is_stale(path, locking.read_info(path))
            time.sleep(0.02)
    finally:
        stop.set()
        holder.join()


def test_a_holder_long_silent_by_the_volume_clock_is_broken_after_a_few_beats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Its file was last touched an hour ago by the volume's clock: a waiter watches it for
    CONFIRM_BEATS heartbeats, not the full stale_after, before taking it over. Control: a
    holder touched just now is watched for the full stale_after."""
    monkeypatch.setattr(locking, "HEARTBEAT", 0.1)
    old, fresh = tmp_path / "old.excl", tmp_path / "fresh.excl"
    for path in (old, fresh):
        locking.write_new(path, {**owners.identity(), "host": "elsewhere", "token": "x"})
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    watches = {p: locking._StaleWatch(stale_after=60.0) for p in (old, fresh)}
    stale: dict[Path, bool] = {}
    deadline = time.monotonic() + 1.5  # > CONFIRM_BEATS * 0.1, far below 60
    with caplog.at_level(logging.WARNING):
        while time.monotonic() < deadline:
            for path, watch in watches.items():
                stale[path] = stale.get(path) or watch.is_stale(path, locking.read_info(path))
            time.sleep(0.02)
    assert stale == {old: True, fresh: False}
    assert any("has had no heartbeat for 3600 s" in r.message for r in caplog.records)
