"""Many hosts, one volume: the engine on real network filesystems (issue #9).

The sharedfs bed (tests/sharedfs_bed.py) runs three hosts, each with its own FUSE client,
on GlusterFS, on GlusterFS behind an overlay whose locks fail (ENOLCK: the lock-file
fallback) and on sshfs (flock granted on every host at once, without an error). The hosts
have no route to a package index: a wheelhouse with PEP 503 pages is served from the server
host, and reached the way an internal mirror is (UV_DEFAULT_INDEX, PIP_INDEX_URL, the
project's own [[tool.poetry.source]]).

The bed comes up once for the module (about 15 s) and is purged after it, whatever happens.
The races have controls here too, each on the filesystem that shows it: the old way fails
where the engine's way passes the same loop (see the `control` tests).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests import wheelhouse
from tests.engine_cli import Setup, argv, finish
from tests.sharedfs_bed import BACKENDS, HOSTS, INDEX_URL, PING_TIMEOUT, Bed, bed, unavailable

pytestmark = [pytest.mark.real, pytest.mark.sharedfs]

JOBS_PER_HOST = 4
ROUNDS = 1  # `poetry install` + `poetry run` per round and job: 12 jobs at once on 2 cores
LOCK_TIMEOUT = 240


@pytest.fixture(scope="module")
def the_bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    if reason := unavailable():
        pytest.skip(reason)
    with ThreadPoolExecutor(1) as pool:  # the wheels download while the bed comes up
        index = pool.submit(wheelhouse.build, tmp_path_factory.mktemp("index"))
        with bed(tmp_path_factory.mktemp("sharedfs")) as the_bed:
            the_bed.serve_index(index.result())
            yield the_bed


def engine_env(the_bed: Bed, **extra: str) -> dict[str, str]:
    """An internal mirror, as users configure one: the installers' own variables."""
    return {**the_bed.env, "UV_DEFAULT_INDEX": INDEX_URL, "PIP_INDEX_URL": INDEX_URL, **extra}


MAKE_PROJECT = """
import sys
from pathlib import Path
from tests.projects import SIMPLE_INDEX, make_project
root = make_project(Path(sys.argv[1]))
pyproject = root / "pyproject.toml"
pyproject.write_text(pyproject.read_text().replace(SIMPLE_INDEX, sys.argv[2]))
"""


def shared_project(the_bed: Bed, path: Path) -> Path:
    """tests.projects.make_project on the volume (written from a host), its source the mirror."""
    the_bed.python(HOSTS[0], MAKE_PROJECT, str(path), INDEX_URL)
    return path


INSPECT = """
import json, sys
from pathlib import Path
install, project = Path(sys.argv[1]), Path(sys.argv[2])
keys = [k for k in install.glob("poetry-*") if k.is_dir()]
def names(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []
print(json.dumps({
    "builds": [b for k in keys for b in names(k / "builds")],
    "generations": [(g, (k / "published" / g).read_text().strip()) for k in keys
                    for g in names(k / "published")],
    "project_poetry": (project / ".poetry").exists(),
}))
"""


def inspect(the_bed: Bed, install: Path, project: Path) -> dict[str, Any]:
    seen: dict[str, Any] = json.loads(
        the_bed.python(HOSTS[-1], INSPECT, str(install), str(project))
    )
    return seen


LOOP = textwrap.dedent(
    """
    import subprocess, sys
    project, rounds = sys.argv[1], int(sys.argv[2])
    failures = 0
    for _ in range(rounds):
        for command in (["poetry", "install", "--no-interaction"],
                        ["poetry", "run", "python", "-c", "print('ok')"]):
            done = subprocess.run(command, cwd=project, capture_output=True, text=True)
            if done.returncode != 0 or (command[1] == "run" and done.stdout.strip() != "ok"):
                failures += 1
                print("FAILED", command, done.returncode,
                      (done.stdout + done.stderr)[-400:].replace("\\n", " | "))
    print(f"RESULT failures={failures}")
    """
)


def loop_failures(output: str) -> int:
    line = next(line for line in output.splitlines() if line.startswith("RESULT"))
    return int(line.split("=")[1])


def start_setup(
    the_bed: Bed, host: str, project: Path, install: Path, state: Path, job: str, **env: str
) -> subprocess.Popen[str]:
    command = argv(project, install, state, job, "--lock-timeout", str(LOCK_TIMEOUT))
    return the_bed.start(host, *command, env=engine_env(the_bed, **env))


def lock_project(the_bed: Bed, project: Path, setup: Setup) -> None:
    """Real projects commit poetry.lock (a first `poetry lock` from twelve jobs is not ours)."""
    done = the_bed.run(
        HOSTS[0],
        "sh",
        "-c",
        'cd "$1" && poetry lock',
        "sh",
        str(project),
        env=setup.env(engine_env(the_bed)),
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_twelve_jobs_on_three_hosts_share_one_install_and_project(
    backend: str, the_bed: Bed, tmp_path: Path
) -> None:
    volume = the_bed.mount(backend)  # glusterfs-nolock is the GlusterFS volume: own dirs
    install = volume / f"install-{backend}"
    project = shared_project(the_bed, volume / f"project-{backend}")
    started = time.monotonic()
    jobs = [
        (host, start_setup(the_bed, host, project, install, tmp_path / "state", f"{host}-{n}"))
        for host in HOSTS
        for n in range(JOBS_PER_HOST)
    ]
    setups = [finish(proc) for _, proc in jobs]
    set_up = time.monotonic() - started
    assert [s.returncode for s in setups] == [0] * len(jobs), [s.stderr[-1500:] for s in setups]
    built = [s for s in setups if s.outputs["reused"] == "false"]
    lock_logs = {line for s in setups for line in s.stderr.splitlines() if "lock: " in line}

    lock_project(the_bed, project, setups[0])
    loops = [
        the_bed.start(
            host,
            sys.executable,
            "-c",
            LOOP,
            str(project),
            str(ROUNDS),
            env=s.env(engine_env(the_bed)),
        )
        for (host, _), s in zip(jobs, setups, strict=True)
    ]
    with reaped(*loops):
        outputs = [proc.communicate(timeout=900)[0] for proc in loops]
    failures = sum(loop_failures(output) for output in outputs)
    seen = inspect(the_bed, install, project)

    print(
        f"\n[{backend}] setups ok {len(setups)}/{len(jobs)} in {set_up:.0f} s, builds {len(built)}"
        f" (published {len(seen['generations'])}, left {len(seen['builds'])}),"
        f" loop failures {failures}/{len(jobs) * ROUNDS * 2}; {sorted(lock_logs)[:1]}"
    )
    assert failures == 0, "\n".join(o for o in outputs if "FAILED" in o)
    assert seen["project_poetry"] is False, "no package may land in the shared project"
    venvs = {s.outputs["poetry-venv"] for s in setups}
    assert lock_logs, "the setups that took the lock say which"
    if backend == "sshfs":
        # flock excludes nothing across hosts here; the engine adds its lock file. Should two
        # hosts build anyway, one publish wins and every job gets that build.
        assert len(built) >= 1
        assert all("flock and the lock file" in line for line in lock_logs), lock_logs
    else:
        assert len(built) == 1, [s.stderr[-800:] for s in built]
        expected = "refuses flock" if backend == "glusterfs-nolock" else "flock on "
        assert all(expected in line for line in lock_logs), lock_logs
    assert len(venvs) == 1, venvs
    assert len(seen["generations"]) == 1
    assert seen["builds"] == [Path(venvs.pop()).name]


def wait_for(path: Path, proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 300  # harness limit, not an assertion on speed
    while not path.exists():
        assert proc.poll() is None, f"the setup ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"never reached {what}"
        time.sleep(0.1)


def test_a_host_killed_mid_build_another_host_finishes(the_bed: Bed, tmp_path: Path) -> None:
    """Host A holds the lock and is half-way through its build when the host dies (its init,
    FUSE client and all). B and C were waiting: one of them builds, the other reuses, within
    --lock-timeout (the setups fail past it). A's half build is kept: nobody can know yet that
    its owner is gone (another host, heartbeat silent for less than the limit)."""
    backend = "glusterfs"
    volume = the_bed.mount(backend)
    install = volume / f"install-kill-{backend}"
    project = shared_project(the_bed, volume / f"project-kill-{backend}")
    pauses = tmp_path / "pauses"
    pauses.mkdir()
    pause = {"SPP_TEST_PAUSE_AT": "install", "SPP_TEST_PAUSE_DIR": str(pauses)}
    state = tmp_path / "state"
    victim = start_setup(the_bed, "hostA", project, install, state, "victim", **pause)
    try:
        wait_for(pauses / "install.paused", victim, "the build")
        others = [start_setup(the_bed, h, project, install, state, h) for h in HOSTS[1:]]
        time.sleep(2)  # both are waiting on the lock now
        killed = time.monotonic()
        the_bed.kill_host("hostA")
        victim.communicate(timeout=60)
        setups = [finish(proc) for proc in others]
        recovered = time.monotonic() - killed
    finally:
        the_bed.script("up.sh", *BACKENDS)  # hostA back, mounts repaired
    assert [s.returncode for s in setups] == [0, 0], [s.stderr[-1500:] for s in setups]
    assert sorted(s.outputs["reused"] for s in setups) == ["false", "true"]
    assert len({s.outputs["poetry-venv"] for s in setups}) == 1
    seen = inspect(the_bed, install, project)
    assert len(seen["builds"]) == 2, seen  # theirs, and A's half build: its owner may be alive
    print(f"\n[{backend}] host killed mid-build: another host finished {recovered:.0f} s later")


TAKE_OVER = """
import logging, sys, time
from pathlib import Path
from setup_poetry_parallel.disk import locking
logging.basicConfig(level=logging.INFO, format="%(message)s")
lock, seconds = Path(sys.argv[1]), float(sys.argv[2])
started = time.monotonic()
with locking.hold(lock, timeout=120, what="test", stale_after=float(sys.argv[3])):
    print(f"HELD {time.monotonic() - started:.0f}", flush=True)
    time.sleep(seconds)
"""


def test_a_lock_file_left_by_a_killed_host_is_taken_over_by_its_silence(
    the_bed: Bed,
) -> None:
    """No locks (glusterfs-nolock): host A holds the lock file and its host dies. Its pid means
    nothing to host B; B takes the lock once the heartbeat has been silent for stale_after
    (5 s here, 60 s in the engine: the setup above shows the whole engine on GlusterFS)."""
    lock = the_bed.mount("glusterfs-nolock") / "takeover" / "install.lock"
    the_bed.run(HOSTS[0], "mkdir", "-p", str(lock.parent))
    holder = the_bed.start("hostA", sys.executable, "-c", TAKE_OVER, str(lock), "300", "5")
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().startswith("HELD")
        the_bed.kill_host("hostA")
        holder.communicate(timeout=60)
        taker = the_bed.run("hostB", sys.executable, "-c", TAKE_OVER, str(lock), "0", "5")
    finally:
        the_bed.script("up.sh", *BACKENDS)  # hostA back, mounts repaired
    assert taker.stdout.startswith("HELD"), taker.stderr
    assert "the lock file" in taker.stderr
    assert "refuses flock" in taker.stderr
    assert "has had no heartbeat for" in taker.stderr
    assert "which is gone" not in taker.stderr, "a pid of another host means nothing here"
    print(f"\n[glusterfs-nolock] lock file of a killed host taken over: {taker.stdout.strip()} s")


def test_a_host_cut_off_while_holding_the_lock_corrupts_nothing(
    the_bed: Bed, tmp_path: Path
) -> None:
    """Host A holds the lock mid-build and loses the network. GlusterFS frees its lock after
    the ping timeout while A still believes it holds it: B builds and publishes. A comes back,
    finishes its build, finds B's publish and takes B's build instead of publishing its own."""
    volume = the_bed.mount("glusterfs")
    install, project = volume / "install-cut", shared_project(the_bed, volume / "project-cut")
    pauses, state = tmp_path / "pauses", tmp_path / "state"
    pauses.mkdir()
    pause = {"SPP_TEST_PAUSE_AT": "install", "SPP_TEST_PAUSE_DIR": str(pauses)}
    victim = start_setup(the_bed, "hostA", project, install, state, "victim", **pause)
    try:
        wait_for(pauses / "install.paused", victim, "the build")
        the_bed.link("hostA", up=False)
        during = finish(start_setup(the_bed, "hostB", project, install, state, "during"))
        assert during.returncode == 0, during.stderr[-1500:]
        assert during.outputs["reused"] == "false"
    finally:
        the_bed.link("hostA", up=True)
        (pauses / "install.resume").write_text("")
        back = finish(victim)
        # GlusterFS may have given up on A's client for good (ENOTCONN on its mount, seen here
        # under load): repaired, as after a killed host, so the tests after this one have it.
        the_bed.script("up.sh", *BACKENDS)
    after = finish(start_setup(the_bed, "hostC", project, install, state, "after"))
    assert after.returncode == 0, after.stderr[-1500:]
    assert after.outputs["reused"] == "true"
    assert after.outputs["poetry-venv"] == during.outputs["poetry-venv"]
    version = the_bed.run(
        "hostC", after.outputs["poetry-path"], "--version", env=after.env(engine_env(the_bed))
    )
    assert "2.5.1" in version.stdout, version.stderr
    seen = inspect(the_bed, install, project)
    assert [build for _, build in seen["generations"]] == [Path(during.outputs["poetry-venv"]).name]
    if back.returncode == 0:
        assert back.outputs["poetry-venv"] == during.outputs["poetry-venv"]
        assert "another setup published build" in back.stderr
    print(
        f"\n[glusterfs] cut off while holding the lock (ping-timeout {PING_TIMEOUT} s): B built,"
        f" A {'took B' + chr(39) + 's build' if back.returncode == 0 else 'failed: ' + back.stderr.splitlines()[-1]}"
        f", later setup reused; generations {len(seen['generations'])}"
    )


@contextlib.contextmanager
def reaped(*procs: subprocess.Popen[str]) -> Iterator[None]:
    """No process of the block outlives it, whatever happens there: one still running (a
    timeout, a failed assertion) is killed and its pipes closed, or its Popen would warn
    (ResourceWarning, an error here) in whichever later test the collector runs in."""
    try:
        yield
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


# --- the races, each with a control that shows it happens ------------------------------------

STALE_READS = """
import json, sys, time
from pathlib import Path
from setup_poetry_parallel.disk import atomic, locking, trust
from setup_poetry_parallel.store import generations
from setup_poetry_parallel.paths import InstallPaths
role, root, sync, rounds = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
paths = InstallPaths(root, windows=False)
current, lock = Path(paths.current), Path(paths.lock)
def wait(name):  # the other host's step; it may have died: say so, never hang
    deadline = time.monotonic() + 120
    while not (sync / name).exists():
        if time.monotonic() > deadline:
            sys.exit(f"{role}: no {name} after 120 s (did the other host fail?)")
        time.sleep(0.01)
stale = {"current.json": 0, "generations": 0}
for n in range(1, rounds + 1):
    if role == "writer":
        wait(f"ready-{n}")
        with locking.hold(lock, timeout=60, what="test"):
            generations.publish(paths, n, f"20260101T000000-{n}-abcdef")
            atomic.replace(current, json.dumps({"generation": n}))
            (sync / f"written-{n}").write_text("")
            time.sleep(0.2)
    else:
        trust.read_json(current)  # this host has read the file before, as a waiter has
        (sync / f"ready-{n}").write_text("")
        wait(f"written-{n}")
        with locking.hold(lock, timeout=60, what="test"):
            stale["current.json"] += (trust.read_json(current) or {}).get("generation") != n
            newest = generations.latest(paths)
            stale["generations"] += newest is None or newest.number != n
print(json.dumps(stale))
"""


def test_control_a_stale_read_under_the_lock_and_the_generations_that_see_through_it(
    the_bed: Bed, tmp_path: Path
) -> None:
    """GlusterFS: host B takes the lock right after host A replaced current.json under it and
    reads the OLD content (the old engine then built again, or reused a superseded build).
    The generations (new names, found by lookup) are current in the same loop."""
    root = the_bed.mount("glusterfs") / "stale-reads"
    the_bed.run(HOSTS[0], "mkdir", "-p", str(root / "published"))
    sync = tmp_path / "sync"
    sync.mkdir()
    rounds = "8"
    reader = the_bed.start(
        "hostB", sys.executable, "-c", STALE_READS, "reader", str(root), str(sync), rounds
    )
    writer = the_bed.start(
        "hostA", sys.executable, "-c", STALE_READS, "writer", str(root), str(sync), rounds
    )
    with reaped(reader, writer):
        out, err = reader.communicate(timeout=300)
        writer_err = writer.communicate(timeout=60)[1]
    assert reader.returncode == 0, err + writer_err
    stale = json.loads(out)
    print(f"\n[glusterfs] stale reads under the lock in {rounds} rounds: {stale}")
    assert stale["current.json"] > 0, "control: the stale read did not happen"
    assert stale["generations"] == 0


EXCL_RACE = """
import json, os, sys, time
from pathlib import Path
from setup_poetry_parallel.disk import volume
mode, folder, count, tag = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
sync = Path(sys.argv[5])
(sync / tag).write_text("")
while len(list(sync.iterdir())) < 2:  # both hosts start together: the creates really race
    time.sleep(0.001)
won, errors = [], {}
for n in range(count):
    path = folder / f"e{n}"
    if mode == "link_new":
        if volume.link_new(path, f"{tag}-{n}", fsync=False):
            won.append(n)
        continue
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        won.append(n)
    except FileExistsError:
        pass
    except OSError as exc:
        errors[exc.strerror] = errors.get(exc.strerror, 0) + 1
print(json.dumps({"won": won, "errors": errors}))
"""


@pytest.mark.parametrize("mode", ["o_excl", "link_new"])
def test_control_creates_raced_from_two_hosts(mode: str, the_bed: Bed, tmp_path: Path) -> None:
    """sshfs: a plain O_EXCL create raced from two hosts gives some losers EPERM, not EEXIST
    (the old lock file took that for a failure). volume.link_new: exactly one winner for
    every name, no error."""
    folder = the_bed.mount("sshfs") / f"race-{mode}"
    the_bed.run(HOSTS[0], "mkdir", "-p", str(folder))
    count = "300"
    procs = [
        the_bed.start(
            h, sys.executable, "-c", EXCL_RACE, mode, str(folder), count, h, str(tmp_path)
        )
        for h in HOSTS[:2]
    ]
    with reaped(*procs):
        results = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    wins = [set(r["won"]) for r in results]
    errors = [r["errors"] for r in results]
    print(
        f"\n[sshfs] {mode}: both won {len(wins[0] & wins[1])}, nobody {int(count) - len(wins[0] | wins[1])}, errors {errors}"
    )
    assert not wins[0] & wins[1]
    if mode == "o_excl":
        assert any(errors), "control: no loser got an error other than EEXIST"
    else:
        assert len(wins[0] | wins[1]) == int(count)
        assert not any(errors)


HOLD = """
import sys, time, fcntl, os
from pathlib import Path
from setup_poetry_parallel.disk import locking
mode, lock, release = sys.argv[1], Path(sys.argv[2]), sys.argv[3]  # release: a file, or "try"
trying = release == "try"
try:
    if mode == "flock":
        fd = os.open(lock, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if trying else 0))
        held = None
    else:
        held = locking.hold(lock, timeout=3 if trying else 60, what="test")
        held.__enter__()
    print("HELD", flush=True)
    while not trying and not Path(release).exists():
        time.sleep(0.05)
    if held is not None:
        held.__exit__(None, None, None)
except Exception as exc:
    print("REFUSED", type(exc).__name__, flush=True)
"""


@pytest.mark.parametrize("mode", ["flock", "engine"])
def test_control_a_lock_that_lies_and_the_lock_file_that_does_not(
    mode: str, the_bed: Bed, tmp_path: Path
) -> None:
    """sshfs: host A holds the lock, host B tries. flock alone: B gets it too (no error).
    The engine's lock (flock plus the lock file there): B is refused."""
    lock = the_bed.mount("sshfs") / f"lies-{mode}" / "install.lock"
    the_bed.run(HOSTS[0], "mkdir", "-p", str(lock.parent))
    release = tmp_path / "release"
    holder = the_bed.start("hostA", sys.executable, "-c", HOLD, mode, str(lock), str(release))
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "HELD"
        second = the_bed.run("hostB", sys.executable, "-c", HOLD, mode, str(lock), "try")
    finally:
        release.write_text("")
        holder.communicate(timeout=60)
    print(f"\n[sshfs] {mode}: host B while host A holds it: {second.stdout.strip()}")
    if mode == "flock":
        assert second.stdout.startswith("HELD"), "control: flock excluded across hosts"
    else:
        assert second.stdout.startswith("REFUSED SetupError"), second.stdout + second.stderr


BUILDING = """
import json, sys, time
from pathlib import Path
from setup_poetry_parallel.disk import atomic, owners
from setup_poetry_parallel.store import cleanup
from setup_poetry_parallel.paths import InstallPaths
root, build, seconds = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
paths = InstallPaths(root, windows=False)
owner = cleanup.owner_file(paths, build)
atomic.create_new(owner, json.dumps(owners.identity()))
(root / "builds" / build).mkdir()
with owners.heartbeat(owner, every=0.5):
    print("BUILDING", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        (root / "builds" / build / "file").write_text("still here")  # fails once removed
        time.sleep(0.2)
print("DONE", flush=True)
"""

COLLECT = """
import shutil, sys
from pathlib import Path
from setup_poetry_parallel.store import cleanup
from setup_poetry_parallel.paths import InstallPaths
mode, root = sys.argv[1], Path(sys.argv[2])
paths = InstallPaths(root, windows=False)
if mode == "engine":
    cleanup.collect(paths, None)
else:  # the old rule: a build that is neither current nor superseded was never published
    for entry in (root / "builds").iterdir():
        if not entry.name.startswith(".") and not (entry / cleanup.SUPERSEDED).exists():
            shutil.rmtree(entry)
"""


@pytest.mark.parametrize("mode", ["old-rule", "engine"])
def test_control_collecting_a_build_another_host_is_making(mode: str, the_bed: Bed) -> None:
    """sshfs (the lock kept nobody out): host A is making a build while host B collects. The
    old rule removed every unpublished build and A's build broke under it; the engine keeps a
    build whose owner's heartbeat is alive."""
    root = the_bed.mount("sshfs") / f"gc-{mode}"
    the_bed.run(HOSTS[0], "mkdir", "-p", str(root / "builds"), str(root / "published"))
    build = "20260101T000000-1-abcdef"
    maker = the_bed.start("hostA", sys.executable, "-c", BUILDING, str(root), build, "4")
    with reaped(maker):
        assert maker.stdout is not None
        assert maker.stdout.readline().strip() == "BUILDING"
        collected = the_bed.run("hostB", sys.executable, "-c", COLLECT, mode, str(root))
        assert collected.returncode == 0, collected.stderr
        out, err = maker.communicate(timeout=60)
    print(f"\n[sshfs] {mode}: the build on another host {'survived' if 'DONE' in out else 'broke'}")
    if mode == "old-rule":
        assert "DONE" not in out, "control: the old rule left the build alone"
    else:
        assert "DONE" in out, err
