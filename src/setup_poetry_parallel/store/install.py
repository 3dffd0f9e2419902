"""Poetry, the plugins and our cache plugin, installed once per key and shared by every job.

Check without the lock, take the lock, check again, build into a fresh `builds/<id>`,
verify, then publish: the next generation's name (generations.py) and then `current.json`.
Whoever loses the race waits and reuses. A build that fails or is killed leaves a directory
that nothing points at; cleanup.py removes it once its owner is known to be gone. A published
build that fails the health check is replaced by a new build, never rebuilt in place, so a job
still running the old one keeps working.

On a shared volume the lock may not exclude other hosts (sshfs) and a read may be stale
(GlusterFS): under the lock the generations decide, not `current.json`, and a build is
published only if no other setup published one while it was being made.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from setup_poetry_parallel import background
from setup_poetry_parallel.disk import atomic, dir_checks, owners, trust, volume
from setup_poetry_parallel.disk.locking import hold
from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.index import versions
from setup_poetry_parallel.paths import InstallPaths, VenvPaths
from setup_poetry_parallel.poetry_venv import plugin_wheel
from setup_poetry_parallel.poetry_venv.installer import Installer
from setup_poetry_parallel.poetry_venv.key import InstallSpec
from setup_poetry_parallel.settings import Pause
from setup_poetry_parallel.store import cleanup, generations
from setup_poetry_parallel.store.generations import BUILD_ID, Published
from setup_poetry_parallel.store.manifest import Manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Install:
    venv: VenvPaths
    manifest: Manifest
    reused: bool


def ensure(
    paths: InstallPaths,
    installer: Installer,
    *,
    lock_timeout: float,
    pause: Pause | None = None,
) -> Install:
    """The install of `installer.spec` under `paths`: found, waited for, or built. Knows no
    inputs: the engine's `path_errors.preparing` names install-dir in an error."""
    if ready := find_ready(paths):
        return ready
    make_dirs(paths)
    with hold(Path(paths.lock), timeout=lock_timeout, what="the Poetry install"):
        newest = generations.latest(paths, _hint(paths))
        if newest and (ready := healthy(paths, newest.build)):
            log.info("another job published the install (generation %s): reusing it", newest.number)
            _point_current_at(paths, newest, ready.manifest)
            return ready
        # Only the job that builds asks the index: in a burst the others are waiting here,
        # and eight HTTPS requests (and requests imports) on two cores slow the builder.
        # It asks while uv installs (0.2 s off a cold setup); the build is published only
        # if the release is fine, and a missing release is reported as the input it is.
        spec = installer.spec
        with background.Task(versions.check_release, spec.poetry_version, installer.index) as check:
            cleanup.collect(paths, newest)
            return _build(paths, installer, pause, newest, check.result)


def find_ready(paths: InstallPaths) -> Install | None:
    """The fast path, without the lock: `current.json`, if it names a build that is not
    superseded and passes a cheap health check (stats only). Any doubt (a stale or torn read
    included) sends the setup to the lock, where the generations decide."""
    data = trust.read_json(Path(paths.current))
    if data is None:
        return None
    trust.check_dir(Path(paths.root).parent)
    trust.check_dir(Path(paths.root))
    build = data.get("build")
    if not isinstance(build, str) or not BUILD_ID.match(build):
        log.warning("%s names no valid build: asking the published generations", paths.current)
        return None
    if volume.exists(Path(paths.build(build).root) / cleanup.SUPERSEDED):
        return None  # a stale read of current.json (another host replaced it a moment ago)
    return _checked(paths, build, Manifest.from_data(data))


def healthy(paths: InstallPaths, build: str) -> Install | None:
    """Build `build` from its own manifest (written once, never replaced), if it is intact."""
    root = Path(paths.build(build).root)
    if not volume.exists(root):
        log.warning("the published build %s is gone: building a new one", root)
        return None
    data = volume.read_parsed(root / "manifest.json", trust.parse_json, missing_is_transient=True)
    return _checked(paths, build, Manifest.from_data(data) if data else None)


def _checked(paths: InstallPaths, build: str, manifest: Manifest | None) -> Install | None:
    if manifest is None or manifest.build != build:
        log.warning("the manifest of build %s is unreadable: building a new one", build)
        return None
    venv = paths.build(build)
    checks: list[object] = [venv.python, venv.poetry, *manifest.files]
    # volume.exists: a moment's ESTALE on a shared volume is not a damaged install.
    missing = [str(f) for f in checks if not volume.exists(Path(str(f)))]
    if missing:
        log.warning(
            "the Poetry install at %s is damaged (%s is gone): building a new one",
            venv.root,
            missing[0],
        )
        return None
    return Install(venv, manifest, reused=True)


def _hint(paths: InstallPaths) -> int:
    number = (trust.read_json(Path(paths.current)) or {}).get("generation")
    return number if isinstance(number, int) and number > 0 else 0


def current_build(paths: InstallPaths) -> str | None:
    build = (trust.read_json(Path(paths.current)) or {}).get("build")
    return build if isinstance(build, str) and BUILD_ID.match(build) else None


def _point_current_at(paths: InstallPaths, newest: Published, manifest: Manifest) -> None:
    """Under the lock: a `current.json` left behind (its publisher died after the generation,
    or it was damaged) is written again, so the next jobs take the fast path."""
    if _hint(paths) != newest.number or current_build(paths) != newest.build:
        _write_current(paths, newest.number, manifest)


def _write_current(paths: InstallPaths, number: int, manifest: Manifest) -> None:
    data: dict[str, Any] = {**asdict(manifest), "generation": number}
    atomic.replace(Path(paths.current), json.dumps(data, indent=2), fsync=True)


def make_dirs(paths: InstallPaths) -> None:
    # The install dir first: what is in it is only as trustworthy as it is. Modes are set,
    # not left to the umask (under umask 000 mkdir's parents would be world-writable).
    for directory in (
        Path(paths.root).parent,
        Path(paths.root),
        Path(paths.builds),
        generations.directory(paths),
    ):
        trust.make_dir(directory)


def _build(
    paths: InstallPaths,
    installer: Installer,
    pause: Pause | None,
    seen: Published | None,
    release_checked: Callable[[], object],
) -> Install:
    spec = installer.spec
    build_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
    venv = paths.build(build_id)
    root = Path(venv.root)
    log.info("installing %s into %s", ", ".join(spec.pinned), root)
    try:
        # The owner first: a collector never sees this build without one (cleanup.abandoned).
        owner = cleanup.owner_file(paths, build_id)
        atomic.create_new(owner, json.dumps(owners.identity()), fsync=True)
        root.mkdir(mode=0o755)
        with owners.heartbeat(owner) as collected, _umask_at_least(0o022):
            found = _make(venv, installer, spec, pause, release_checked)
            manifest = Manifest(
                build=build_id,
                poetry_version=spec.poetry_version,
                requirements=spec.requirements,
                entry_points=tuple(found["entry_points"]),
                files=tuple(found["files"]),
                python_sys_version=found["sys_version"],
                python=spec.python,
                installer=spec.installer,
                built_at=time.time(),
            )
            atomic.replace(root / "manifest.json", manifest.to_json(), fsync=True)
            _pause_for_tests("publish", pause)
            done = _publish(paths, seen, Install(venv, manifest, reused=False), collected.is_set)
        if done.venv != venv:
            _discard(root)  # another setup published first: nobody ever saw this build
    except BaseException:
        _discard(root)
        raise
    finally:
        with contextlib.suppress(OSError):
            cleanup.owner_file(paths, build_id).unlink()
    return done


def _make(
    venv: VenvPaths,
    installer: Installer,
    spec: InstallSpec,
    pause: Pause | None,
    release_checked: Callable[[], object],
) -> dict[str, Any]:
    """The venv, Poetry and the plugins in it, checked: what the manifest records."""
    _pause_for_tests("venv", pause)
    installer.create_venv(venv)
    root = Path(venv.root)
    # Kept in the build: Poetry reads the wheel's recorded path when it resolves project
    # plugins against its own environment, and fails if the file is gone.
    wheel = plugin_wheel.write(root / "spp-wheel")
    _pause_for_tests("install", pause)
    try:
        installer.install(venv, [*spec.pinned, str(wheel)])
    except SetupError:
        release_checked()  # a release that is missing or yanked: the input's error
        raise
    release_checked()
    _pause_for_tests("verify", pause)
    # The permissions walk runs while the check's Python starts (0.1 s of stats and mkdirs);
    # the umask keeps whatever that Python writes meanwhile closed to others.
    with background.Task(dir_checks.close_to_others, root) as restricted:
        found = installer.verify(venv)
    restricted.result()
    return found


@contextlib.contextmanager
def _umask_at_least(bits: int) -> Iterator[None]:
    """Files the build's tools create (uv, the check's bytecode) are never group- or
    world-writable, whatever the job's umask (process-wide: the engine runs one setup)."""
    previous = os.umask(0o077)  # reading it sets it: for that moment, the strictest one
    os.umask(previous | bits)
    try:
        yield
    finally:
        os.umask(previous)


def _publish(
    paths: InstallPaths, seen: Published | None, mine: Install, collected: Callable[[], bool]
) -> Install:
    """The next generation, unless another setup published one while this one built (the
    lock did not keep it out): then its build is used and this one discarded."""
    number = seen.number if seen else 0
    while True:
        newest = generations.latest(paths, number)
        if newest and newest.number > number:
            if theirs := healthy(paths, newest.build):
                log.warning(
                    "another setup published build %s while this one built (the lock did not"
                    " exclude it): using that build, discarding %s",
                    newest.build,
                    mine.venv.root,
                )
                return theirs
            number = newest.number  # theirs is damaged: publish after it
        if collected():
            raise SetupError(
                f"the build {mine.venv.root} was collected as abandoned while it was being made"
                " (was this host cut off from the volume?): run the setup again"
            )
        if generations.publish(paths, number + 1, mine.manifest.build):
            break
    log.info("published build %s as generation %s", mine.manifest.build, number + 1)
    # Published: from here on jobs reuse it, and nothing may fail this setup (its caller
    # would remove the build). The rest is bookkeeping a later setup under the lock redoes.
    try:
        previous = {seen.build if seen else "", current_build(paths) or ""}
        for old in sorted(previous - {"", mine.manifest.build}):
            cleanup.mark_superseded(paths, old)
        _write_current(paths, number + 1, mine.manifest)  # readers see the old or the new
    except OSError as exc:
        log.warning(
            "build %s is published; updating %s failed: %s", mine.manifest.build, paths.current, exc
        )
    return mine


def _discard(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)


def _pause_for_tests(point: str, pause: Pause | None) -> None:
    """TEST-ONLY hook (tests/store/test_faults.py kills the build here): never set these variables.

    With SPP_TEST_PAUSE_AT=<point>, the build writes `<point>.paused` (holding its pid) into
    SPP_TEST_PAUSE_DIR and waits until `<point>.resume` appears there (or 5 minutes pass).
    """
    if pause is None or pause.point != point:
        return
    (pause.directory / f"{point}.paused").write_text(str(os.getpid()), encoding="utf-8")
    deadline = time.monotonic() + 300
    while not (pause.directory / f"{point}.resume").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
