"""Poetry, the plugins and our cache plugin, installed once per key and shared by every job.

Check without the lock, take the lock, check again, build into a fresh `builds/<id>`,
verify, then publish `current.json` last with `os.replace`. Whoever loses the race waits
and reuses. A build that fails or is killed leaves a directory that nothing points at (the
next cold setup removes it: cleanup.py); a published build that fails the health check is
replaced by a new build, never rebuilt in place, so a job still running the old one keeps
working.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from setup_poetry_parallel import atomic, cleanup, plugin_wheel, trust, versions
from setup_poetry_parallel.installer import Installer
from setup_poetry_parallel.key import InstallSpec
from setup_poetry_parallel.locking import hold
from setup_poetry_parallel.manifest import Manifest
from setup_poetry_parallel.path_errors import preparing
from setup_poetry_parallel.paths import InstallPaths, VenvPaths
from setup_poetry_parallel.settings import Pause, Settings

log = logging.getLogger(__name__)

_BUILD_ID: Final = re.compile(r"^\d{8}T\d{6}-\d+-[0-9a-f]{6}$")


@dataclass(frozen=True)
class Install:
    venv: VenvPaths
    manifest: Manifest
    reused: bool


def ensure(spec: InstallSpec, paths: InstallPaths, settings: Settings) -> Install:
    with preparing("install-dir", settings.install_dir):
        if ready := find_ready(paths):
            return ready
        make_dirs(paths)
        with hold(Path(paths.lock), timeout=settings.lock_timeout, what="the Poetry install"):
            if ready := find_ready(paths):
                log.info("another job finished the install while this one waited: reusing it")
                return ready
            # Only the job that builds asks the index: in a burst the others are waiting here,
            # and eight HTTPS requests (and requests imports) on two cores slow the builder.
            versions.check_release(spec.poetry_version, settings.index)
            cleanup.collect(paths, current_build(paths))
            return _build(spec, paths, settings)


def find_ready(paths: InstallPaths) -> Install | None:
    """The published build, if it exists and passes a cheap health check (stats only)."""
    data = trust.read_json(Path(paths.current))
    if data is None:
        return None
    trust.check_dir(Path(paths.root))
    manifest = Manifest.from_data(data)
    if manifest is None or not _BUILD_ID.match(manifest.build):
        log.warning("%s names no valid build: rebuilding", paths.current)
        return None
    venv = paths.build(manifest.build)
    checks: list[object] = [venv.python, venv.poetry, *manifest.files]
    missing = [str(f) for f in checks if not os.path.exists(str(f))]
    if missing:
        log.warning(
            "the Poetry install at %s is damaged (%s is gone): building a new one",
            venv.root,
            missing[0],
        )
        return None
    return Install(venv, manifest, reused=True)


def current_build(paths: InstallPaths) -> str | None:
    build = (trust.read_json(Path(paths.current)) or {}).get("build")
    return build if isinstance(build, str) and _BUILD_ID.match(build) else None


def make_dirs(paths: InstallPaths) -> None:
    for directory in (Path(paths.root), Path(paths.builds)):
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        trust.check_dir(directory)


def _build(spec: InstallSpec, paths: InstallPaths, settings: Settings) -> Install:
    build_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
    venv = paths.build(build_id)
    root = Path(venv.root)
    installer = Installer(spec, settings.index, settings.env)
    log.info("installing %s into %s", ", ".join(spec.pinned), root)
    try:
        root.mkdir(mode=0o755)
        _pause_for_tests("venv", settings.pause)
        installer.create_venv(venv)
        # Kept in the build: Poetry reads the wheel's recorded path when it resolves project
        # plugins against its own environment, and fails if the file is gone.
        wheel = plugin_wheel.write(root / "spp-wheel")
        _pause_for_tests("install", settings.pause)
        installer.install(venv, [*spec.pinned, str(wheel)])
        _pause_for_tests("verify", settings.pause)
        found = installer.verify(venv)
        trust.restrict_permissions(root)
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
        _pause_for_tests("publish", settings.pause)
        cleanup.mark_superseded(paths, current_build(paths))
        # Published: from here on jobs reuse it. Readers see the old file or the new one.
        atomic.replace(Path(paths.current), manifest.to_json(), fsync=True)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return Install(venv, manifest, reused=False)


def _pause_for_tests(point: str, pause: Pause | None) -> None:
    """TEST-ONLY hook (tests/test_faults.py kills the build here): never set these variables.

    With SPP_TEST_PAUSE_AT=<point>, the build writes `<point>.paused` (holding its pid) into
    SPP_TEST_PAUSE_DIR and waits until `<point>.resume` appears there (or 5 minutes pass).
    """
    if pause is None or pause.point != point:
        return
    (pause.directory / f"{point}.paused").write_text(str(os.getpid()), encoding="utf-8")
    deadline = time.monotonic() + 300
    while not (pause.directory / f"{point}.resume").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
