"""Faults survived for real: SIGKILL at every stage of a build, damaged installs, dead lock
holders, flock-less filesystems, lock timeouts, unwritable or full install dirs, and jobs
with different settings on one install dir at once.

Kill points come from a test-only hook in install.py (SPP_TEST_PAUSE_AT: the build stops
there and waits to be killed) and from polling the disk (uv caught mid-download and
mid-install). Every setup is a real process in its own process group, killed with SIGKILL
as a cancelled runner would kill it, and followed by a normal setup on the same install dir.
"""

from __future__ import annotations

import errno
import json
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from setup_poetry_parallel.disk import locking
from setup_poetry_parallel.errors import InputError, SetupError
from setup_poetry_parallel.paths import InstallPaths
from setup_poetry_parallel.poetry_venv import installer_errors
from setup_poetry_parallel.store import cleanup
from tests.engine_cli import argv
from tests.mounts import tmpfs
from tests.projects import PLUGIN, make_project

pytestmark = pytest.mark.real

KILL_POINTS_TRIED: list[str] = []


def setup_argv(project: Path, install_dir: Path, state: Path, job: str, *extra: str) -> list[str]:
    return argv(project, install_dir, state, job, "--lock-timeout", "60", *extra)


def start(argv: list[str], **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
        start_new_session=True,  # its own process group: SIGKILL reaches uv as well
    )


def finish(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    result: dict[str, object] = json.loads(out)
    return result


def outputs(result: dict[str, object]) -> dict[str, str]:
    return dict(result["outputs"])  # type: ignore[call-overload]


def kill_group(proc: subprocess.Popen[str]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)


def install_paths_of(key: Path) -> InstallPaths:
    return InstallPaths(key, windows=False)


def key_dir(install_dir: Path) -> Path:
    (found,) = [p for p in install_dir.iterdir() if p.is_dir() and p.name.startswith("poetry-")]
    return found


def wait_for(what: str, check: Callable[[], bool], proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not check():
        assert proc.poll() is None, f"the setup ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"never reached {what}"
        time.sleep(0.005)


def poetry_version(result: dict[str, object], cwd: Path) -> str:
    done = subprocess.run(
        [outputs(result)["poetry-path"], "--version"],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
    )
    return done.stdout.strip()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def _site_packages(build: Path) -> list[Path]:
    return list(build.glob("lib/python3*/site-packages"))


def _poll_point(name: str, build_root: Path, uv_cache: str) -> Callable[[], bool]:
    def builds() -> list[Path]:
        return [p for p in build_root.glob("*/builds/*") if not p.name.endswith(".wheel")]

    if name == "downloading":  # the venv exists, uv is fetching: nothing installed yet
        return lambda: (
            any(
                sp.is_dir() and not (sp / "poetry").exists()
                for b in builds()
                for sp in _site_packages(b)
            )
            and any(Path(uv_cache).glob("*"))
        )
    # installing: poetry's files are landing, and uv has not finished: its executable is not
    # there yet, or its modules are not compiled yet (uv compiles after linking the files)
    return lambda: any(
        (sp / "poetry").is_dir()
        and not ((b / "bin" / "poetry").exists() and (sp / "poetry" / "__pycache__").is_dir())
        for b in builds()
        for sp in _site_packages(b)
    )


HOOK_POINTS = ["venv", "install", "verify", "publish"]
POLL_POINTS = ["downloading", "installing"]


@pytest.mark.parametrize("point", HOOK_POINTS + POLL_POINTS)
def test_sigkill_at_any_point_leaves_nothing_that_blocks_or_is_reused(
    point: str, project: Path, tmp_path: Path
) -> None:
    install_dir, state, pauses = tmp_path / "install", tmp_path / "state", tmp_path / "pauses"
    pauses.mkdir()
    env: dict[str, str] = {}
    if point in HOOK_POINTS:
        env = {"SPP_TEST_PAUSE_AT": point, "SPP_TEST_PAUSE_DIR": str(pauses)}
    else:
        # A cache of its own, so that uv really downloads (and a kill can land mid-download).
        env = {"UV_CACHE_DIR": str(tmp_path / "uv-cache")}
    victim = start(setup_argv(project, install_dir, state, "victim"), **env)
    try:
        if point in HOOK_POINTS:
            wait_for(point, (pauses / f"{point}.paused").exists, victim)
        else:
            wait_for(point, _poll_point(point, install_dir, env["UV_CACHE_DIR"]), victim)
    finally:
        kill_group(victim)
    KILL_POINTS_TRIED.append(point)
    key = key_dir(install_dir)
    left = sorted(p for p in (key / "builds").iterdir() if not p.name.startswith("."))
    assert len(left) == 1, left  # the killed build: an empty dir at "venv", then half a venv
    owner = cleanup.owner_file(install_paths_of(key), left[0].name)
    assert owner.is_file(), "a build in the making names its owner"
    assert not (key / "current.json").exists(), "a killed build was published"

    # No cleanup by hand: the next setup takes the lock at once (a lock left held would fail it
    # after --lock-timeout 5) and builds anew.
    after = finish(start(setup_argv(project, install_dir, state, "next", "--lock-timeout", "5")))
    assert outputs(after)["reused"] == "false", "a half-built venv was reused"
    assert all(p.name not in outputs(after)["poetry-venv"] for p in left)
    assert not [p for p in left if p.exists()], "the killed build was not removed"
    assert not owner.exists()
    assert poetry_version(after, project) == "Poetry (version 2.5.1)"


def test_kill_points_were_all_reached() -> None:
    """Runs after the kill tests (file order); a kill point that was not reached shows here."""
    if not KILL_POINTS_TRIED:
        pytest.skip("the kill tests were deselected")
    assert sorted(set(KILL_POINTS_TRIED)) == sorted(HOOK_POINTS + POLL_POINTS)
    print(f"kill points tried: {len(KILL_POINTS_TRIED)} ({', '.join(KILL_POINTS_TRIED)})")


DAMAGE: dict[str, Callable[[Path], None]] = {
    "poetry executable deleted": lambda venv: (venv / "bin" / "poetry").unlink(),
    "a package module deleted": lambda venv: next(
        venv.glob("lib/python3*/site-packages/dunamai/__init__.py")
    ).unlink(),
    "a dependency's metadata deleted": lambda venv: next(
        venv.glob("lib/python3*/site-packages/dulwich-*.dist-info/METADATA")
    ).unlink(),
    "the venv is gone": lambda venv: subprocess.run(["rm", "-rf", str(venv)], check=True),
}


def test_damaged_installs_are_detected_and_replaced_by_new_builds(
    project: Path, tmp_path: Path
) -> None:
    install_dir, state = tmp_path / "install", tmp_path / "state"
    result = finish(start(setup_argv(project, install_dir, state, "first")))
    seen = {outputs(result)["poetry-venv"]}
    for what, damage in DAMAGE.items():
        old = Path(outputs(result)["poetry-venv"])
        damage(old)
        result = finish(start(setup_argv(project, install_dir, state, "after-damage")))
        venv = outputs(result)["poetry-venv"]
        assert outputs(result)["reused"] == "false", what
        assert venv not in seen, f"{what}: rebuilt in place instead of a new build"
        seen.add(venv)
        assert poetry_version(result, project) == "Poetry (version 2.5.1)", what
        if old.exists():
            assert (old / cleanup.SUPERSEDED).is_file(), f"{what}: old build not marked"
    again = finish(start(setup_argv(project, install_dir, state, "healthy")))
    assert outputs(again)["reused"] == "true"


def test_a_damaged_current_json_is_rewritten_not_rebuilt(project: Path, tmp_path: Path) -> None:
    """current.json is only the fast path: the published generation still names an intact
    build, so a garbage current.json costs the lock, not a new build, and is written again."""
    install_dir, state = tmp_path / "install", tmp_path / "state"
    first = finish(start(setup_argv(project, install_dir, state, "first")))
    current = key_dir(install_dir) / "current.json"
    current.write_text("{")
    again = finish(start(setup_argv(project, install_dir, state, "after-damage")))
    assert outputs(again)["reused"] == "true"
    assert outputs(again)["poetry-venv"] == outputs(first)["poetry-venv"]
    assert json.loads(current.read_text())["generation"] == 1


def test_a_reader_never_gets_a_build_in_progress(project: Path, tmp_path: Path) -> None:
    """While job B rebuilds a damaged install (paused before publishing), job C waits on
    the lock and times out naming B; it never takes B's unpublished build."""
    install_dir, state, pauses = tmp_path / "install", tmp_path / "state", tmp_path / "pauses"
    pauses.mkdir()
    first = finish(start(setup_argv(project, install_dir, state, "a")))
    (Path(outputs(first)["poetry-venv"]) / "bin" / "poetry").unlink()
    builder = start(
        setup_argv(project, install_dir, state, "b"),
        SPP_TEST_PAUSE_AT="publish",
        SPP_TEST_PAUSE_DIR=str(pauses),
    )
    try:
        wait_for("publish", (pauses / "publish.paused").exists, builder)
        reader = subprocess.run(
            setup_argv(project, install_dir, state, "c", "--lock-timeout", "2"),
            capture_output=True,
            text=True,
            check=False,
        )
        assert reader.returncode == 1, reader.stderr
        lock = key_dir(install_dir) / "install.lock"
        assert f"waiting for {lock}" in reader.stderr or "gave up" in reader.stderr
        assert f"error: gave up after 2 s waiting for {lock}" in reader.stderr
        assert f"held by pid {builder.pid} on " in reader.stderr
        (pauses / "publish.resume").write_text("")
        built = finish(builder)
    finally:
        if builder.poll() is None:
            kill_group(builder)
    later = finish(start(setup_argv(project, install_dir, state, "c")))
    assert outputs(later)["reused"] == "true"
    assert outputs(later)["poetry-venv"] == outputs(built)["poetry-venv"]


def test_old_builds_are_collected_after_their_grace_period(project: Path, tmp_path: Path) -> None:
    install_dir, state = tmp_path / "install", tmp_path / "state"
    first = finish(start(setup_argv(project, install_dir, state, "a")))
    old = Path(outputs(first)["poetry-venv"])
    (old / "bin" / "poetry").unlink()
    second = finish(start(setup_argv(project, install_dir, state, "b")))
    assert old.exists(), "a superseded build must survive its grace period (jobs may use it)"
    expired = time.time() - cleanup.GC_AFTER - 60
    os.utime(old / cleanup.SUPERSEDED, (expired, expired))
    (Path(outputs(second)["poetry-venv"]) / "bin" / "poetry").unlink()
    third = finish(start(setup_argv(project, install_dir, state, "c")))
    assert not old.exists(), "an expired superseded build was kept"
    assert Path(outputs(second)["poetry-venv"]).exists(), "a fresh superseded build was removed"
    assert Path(outputs(third)["poetry-venv"]).exists()


# A lock that keeps nobody out (sshfs grants flock on every host at once): the seam replaces
# the install lock with nothing, in a real engine process; everything else is real.
NO_LOCK_SETUP = """
import contextlib, sys
from setup_poetry_parallel import cli
from setup_poetry_parallel.store import install
install.hold = lambda *args, **kwargs: contextlib.nullcontext()
sys.exit(cli.main(sys.argv[1:]))
"""


def test_two_builds_at_once_one_publish_wins_and_the_loser_is_discarded(
    project: Path, tmp_path: Path
) -> None:
    install_dir, state = tmp_path / "install", tmp_path / "state"
    jobs = [
        start(
            [sys.executable, "-c", NO_LOCK_SETUP, *setup_argv(project, install_dir, state, j)[3:]]
        )
        for j in ("one", "two")
    ]
    done = [job.communicate(timeout=300) for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0], [err for _, err in done]
    results = [json.loads(out) for out, _ in done]
    loser = [err for _, err in done if "another setup published build" in err]
    assert len(loser) == 1, "both built; the second to publish took the first one's build"
    assert sorted(outputs(r)["reused"] for r in results) == ["false", "true"]
    venv = {outputs(r)["poetry-venv"] for r in results}
    assert len(venv) == 1
    key = key_dir(install_dir)
    assert [p.name for p in (key / "builds").iterdir()] == [Path(venv.pop()).name]
    assert [p.name for p in (key / "published").iterdir()] == ["000001"]
    assert poetry_version(results[0], project) == "Poetry (version 2.5.1)"


# --- locks --------------------------------------------------------------------------------

HOLDER = """
import sys, time
from pathlib import Path
from setup_poetry_parallel.disk import locking
locking.HEARTBEAT = 0.2
lock, mode, ready = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
if mode == "flock":
    context = locking.hold(lock, timeout=30, what="test")
else:
    waiter = locking._Waiter(lock, 30, "test")
    context = locking.exclusive(locking.fallback_file(lock), waiter)
with context:
    ready.write_text("held")
    time.sleep(float(sys.argv[4]))
"""


def start_holder(lock: Path, mode: str, seconds: float) -> subprocess.Popen[str]:
    ready = lock.with_name(f"ready-{mode}-{time.monotonic_ns()}")
    proc = start([sys.executable, "-c", HOLDER, str(lock), mode, str(ready), str(seconds)])
    wait_for("the lock", ready.exists, proc)
    return proc


@pytest.mark.parametrize("mode", ["flock", "fallback"])
def test_a_killed_holder_leaves_no_blocking_lock(
    mode: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lock = tmp_path / "install.lock"
    holder = start_holder(lock, mode, 600)
    kill_group(holder)
    with caplog.at_level(logging.INFO):
        if mode == "flock":  # the kernel freed it: no wait at all
            with locking.hold(lock, timeout=5, what="test"):
                pass
        else:  # same host, dead pid: taken over at once, long before stale_after=600
            waiter = locking._Waiter(lock, 5, "test")
            with locking.exclusive(locking.fallback_file(lock), waiter, stale_after=600):
                pass
            assert not locking.fallback_file(lock).exists()
    assert not [r for r in caplog.records if r.message.startswith("waiting for")]
    if mode == "fallback":
        assert any("which is gone: taking it over" in r.message for r in caplog.records)


def _take(lock: Path, mode: str) -> None:
    if mode == "flock":
        with locking.hold(lock, timeout=2, what="the Poetry install"):
            return
    # A live holder with a heartbeat (every 0.2 s) is never taken for stale.
    waiter = locking._Waiter(lock, 2.5, "the Poetry install")
    with locking.exclusive(locking.fallback_file(lock), waiter, stale_after=1.0):
        return


@pytest.mark.parametrize("mode", ["flock", "fallback"])
def test_timeout_names_the_lock_and_a_live_holder(
    mode: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locking, "REPORT_EVERY", 0.5)
    lock = tmp_path / "install.lock"
    holder = start_holder(lock, mode, 60)
    try:
        with caplog.at_level(logging.INFO), pytest.raises(SetupError) as raised:
            _take(lock, mode)
    finally:
        kill_group(holder)
    message = str(raised.value)
    assert str(lock) in message
    assert f"held by pid {holder.pid} on " in message
    assert "raise lock-timeout" in message
    waits = [r.message for r in caplog.records if r.message.startswith("waiting for")]
    assert len(waits) >= 2, "the wait is reported every few seconds"
    assert all(f"pid {holder.pid}" in w for w in waits)


def test_fallback_takes_over_a_lock_left_by_another_host(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = locking.fallback_file(tmp_path / "install.lock")
    locking.write_new(path, {"pid": 1, "host": "elsewhere", "since": 0, "token": "x"})
    waiter = locking._Waiter(tmp_path / "install.lock", 10, "test")
    with caplog.at_level(logging.INFO), locking.exclusive(path, waiter, stale_after=1.0):
        assert (locking.read_info(path) or {}).get("pid") == os.getpid()
    # Taken over for its silence (no heartbeat for stale_after), not for a dead pid here.
    assert any("has had no heartbeat for 1 s" in r.message for r in caplog.records)
    assert not any("which is gone" in r.message for r in caplog.records)


def test_flock_refused_by_the_filesystem_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seam: this machine has no NFS mount to refuse flock, so fcntl.flock is made to answer
    as an NFS mount without lockd does (ENOLCK). The fallback itself runs for real."""
    import fcntl

    def no_flock(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    lock = tmp_path / "install.lock"
    with locking.hold(lock, timeout=5, what="test"):
        info = locking.read_info(locking.fallback_file(lock))
        assert info is not None
        assert info["pid"] == os.getpid()
    assert not locking.fallback_file(lock).exists()


def _count_under_lock(lock: str, mode: str, barrier: object, counter: str, rounds: int) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    for _ in range(rounds):
        if mode == "flock":
            context = locking.hold(Path(lock), timeout=60, what="test")
        else:
            waiter = locking._Waiter(Path(lock), 60, "test")
            context = locking.exclusive(locking.fallback_file(Path(lock)), waiter)
        with context:
            value = int(Path(counter).read_text())  # read, pause, write: lost without the lock
            time.sleep(0.002)
            Path(counter).write_text(str(value + 1))


@pytest.mark.parametrize("mode", ["flock", "fallback"])
def test_lock_excludes_under_real_contention(mode: str, tmp_path: Path) -> None:
    processes, rounds = 4, 25
    counter = tmp_path / "counter"
    counter.write_text("0")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    workers = [
        context.Process(
            target=_count_under_lock,
            args=(str(tmp_path / "install.lock"), mode, barrier, str(counter), rounds),
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0] * processes
    assert int(counter.read_text()) == processes * rounds


# --- the install dir cannot be written ------------------------------------------------------


def _fails_cleanly(project: Path, install_dir: Path, tmp_path: Path, code: int, says: str) -> None:
    github = {n: tmp_path / n for n in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT")}
    for path in github.values():
        path.write_bytes(b"")
    argv = setup_argv(project, install_dir, tmp_path / "state", "job")
    argv[argv.index("--format") + 1] = "github"
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GITHUB_ACTIONS": "true", **{k: str(v) for k, v in github.items()}},
    )
    assert done.returncode == code, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    assert says in errors[0], errors[0]
    assert "Traceback" not in done.stderr
    assert all(path.read_bytes() == b"" for path in github.values()), "something was exported"


def test_install_dir_is_a_file(project: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    _fails_cleanly(project, blocker / "install", tmp_path, 2, "cannot be written")


def test_install_dir_read_only(project: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "ro,size=1m") as where:
        # The first directory the setup makes there is named (the download cache, today).
        _fails_cleanly(project, where / "install", tmp_path, 2, "cannot be written")
        _fails_cleanly(project, where / "install", tmp_path, 2, "(Read-only file system)")


def test_install_dir_full(project: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "tiny", "size=2m") as where:
        _fails_cleanly(project, where / "install", tmp_path, 1, "is full")
        assert not list(where.glob("install/*/builds/*")), "the failed build was left behind"


# --- different settings at once, and a re-run with other plugins ------------------------------


def test_jobs_with_different_settings_each_get_what_they_asked_for(
    project: Path, tmp_path: Path
) -> None:
    install_dir, state = tmp_path / "install", tmp_path / "state"
    plain = setup_argv(project, install_dir, state, "plain", "--project-plugins", "false")
    export = [*plain[:-2], "--plugin", "poetry-plugin-export", *plain[-2:]]
    export[export.index("--job-id") + 1] = "export"
    with_project = setup_argv(project, install_dir, state, "with-project")
    jobs = [start(argv) for argv in (plain, export, with_project)]
    results = [finish(job) for job in jobs]
    plugins = [json.loads(outputs(r)["plugins"]) for r in results]
    assert plugins[0] == []
    assert [p.split(" ")[0] for p in plugins[1]] == ["poetry-plugin-export"]
    assert [p.split("[")[0] for p in plugins[2]] == [PLUGIN]
    assert len({outputs(r)["poetry-venv"] for r in results}) == 3

    def installed(result: dict[str, object]) -> set[str]:
        venv = Path(outputs(result)["poetry-venv"])
        return {p.name.split("-")[0] for p in venv.glob("lib/python3*/site-packages/*.dist-info")}

    assert "poetry_plugin_export" not in installed(results[0])
    assert PLUGIN.replace("-", "_") not in installed(results[0])
    assert "poetry_plugin_export" in installed(results[1])
    assert PLUGIN.replace("-", "_") in installed(results[2])

    # The first job re-run with a plugin added, then without it again.
    rerun = finish(start([*plain[:-2], "--plugin", "poetry-plugin-export", *plain[-2:]]))
    assert outputs(rerun)["poetry-venv"] == outputs(results[1])["poetry-venv"]
    assert outputs(rerun)["reused"] == "true"
    back = finish(start(plain))
    assert outputs(back)["poetry-venv"] == outputs(results[0])["poetry-venv"]
    assert "poetry_plugin_export" not in installed(back)


def test_unknown_errno_is_still_one_line() -> None:
    error = installer_errors.disk_error(OSError(errno.EIO, "Input/output error"), Path("/x"))
    assert "Input/output error" in error.message
    assert not isinstance(error, InputError)
