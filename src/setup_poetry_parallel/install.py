"""Poetry, the plugins and our cache plugin, installed once per key and shared by every job.

Check without the lock, take the lock, check again, build into a fresh `builds/<id>`,
verify, then publish `current.json` last with `os.replace`. Whoever loses the race waits
and reuses. A build that fails or is killed leaves a directory that nothing points at (the
next cold setup removes it); a published build that fails the health check is replaced by a
new build, never rebuilt in place, so a job still running the old one keeps working.

Old builds: a build stops being current only when a newer one is published (a damaged
install, or the same key rebuilt). It is marked `superseded` first and removed by a later
cold setup once it has been superseded for `GC_AFTER` (longer than any job can run), never
while it is current.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from setup_poetry_parallel import atomic, plugin_wheel, process, versions
from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.installer_errors import disk_error, installer_error
from setup_poetry_parallel.key import InstallSpec
from setup_poetry_parallel.locking import hold
from setup_poetry_parallel.paths import InstallPaths, VenvPaths

log = logging.getLogger(__name__)

GC_AFTER: Final = 7 * 24 * 3600.0  # GitHub's longest job (self-hosted) is 5 days
SUPERSEDED: Final = "superseded"
_BUILD_ID = re.compile(r"^\d{8}T\d{6}-\d+-[0-9a-f]{6}$")
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)

# Loads every Poetry plugin entry point, as Poetry would at start-up, and reports what is there
# plus, for the cheap health check, one module file and the metadata of every distribution.
# Runs on Poetry's interpreter (3.9+), hence no newer syntax.
VERIFY = r"""
import json, sys
from importlib import metadata
eps = metadata.entry_points()
found, files = [], []
for group in ("poetry.plugin", "poetry.application.plugin"):
    for ep in (eps.select(group=group) if hasattr(eps, "select") else eps.get(group, [])):
        ep.load()
        found.append(ep.name)
        files.append(sys.modules[ep.module].__file__)
import poetry.__version__ as v
files.append(v.__file__)
for dist in metadata.distributions():
    own = [p for p in (dist.files or []) if ".." not in p.parts]
    modules = [p for p in own if p.suffix == ".py"]
    if modules:
        files.append(str(dist.locate_file(min(modules, key=lambda p: (len(p.parts), str(p))))))
    files.extend(str(dist.locate_file(p)) for p in own if p.name == "METADATA")
print(json.dumps({"poetry": v.__version__, "entry_points": found, "files": sorted(set(files)),
                  "sys_version": sys.version}))
"""


@dataclass(frozen=True)
class Install:
    venv: VenvPaths
    manifest: dict[str, Any]
    reused: bool


def ensure(
    spec: InstallSpec, paths: InstallPaths, *, timeout: float, environ: Mapping[str, str]
) -> Install:
    try:
        if ready := find_ready(paths):
            return ready
        _make_dirs(paths)
        with hold(Path(paths.lock), timeout=timeout, what="the Poetry install"):
            if ready := find_ready(paths):
                log.info("another job finished the install while this one waited: reusing it")
                return ready
            # Only the job that builds asks the index: in a burst the others are waiting here,
            # and eight HTTPS requests (and requests imports) on two cores slow the builder.
            versions.check_release(spec.poetry_version, environ)
            _collect_garbage(paths)
            return _build(spec, paths, environ)
    except OSError as exc:
        raise disk_error(exc, Path(paths.root)) from None


def find_ready(paths: InstallPaths) -> Install | None:
    """The published build, if it exists and passes a cheap health check (stats only)."""
    manifest = _read_trusted_json(Path(paths.current))
    if manifest is None:
        return None
    _check_trusted(Path(paths.root))
    build = str(manifest.get("build", ""))
    if not _BUILD_ID.match(build):
        log.warning("%s names no valid build (%r): rebuilding", paths.current, build)
        return None
    venv = paths.build(build)
    checks = [venv.python, venv.poetry, *manifest.get("files", [])]
    missing = [str(f) for f in checks if not os.path.exists(f)]
    if missing:
        log.warning(
            "the Poetry install at %s is damaged (%s is gone): building a new one",
            venv.root,
            missing[0],
        )
        return None
    return Install(venv, manifest, reused=True)


def _build(spec: InstallSpec, paths: InstallPaths, environ: Mapping[str, str]) -> Install:
    build_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
    venv = paths.build(build_id)
    root = Path(venv.root)
    env = installer_env(spec.installer, environ)
    log.info("installing %s into %s", ", ".join(spec.pinned), root)
    try:
        root.mkdir(mode=0o755)
        _pause_for_tests("venv", environ)
        _create_venv(spec, venv, env)
        # Kept in the build: Poetry reads the wheel's recorded path when it resolves project
        # plugins against its own environment, and fails if the file is gone.
        wheel = plugin_wheel.write(root / "spp-wheel")
        _pause_for_tests("install", environ)
        _install(spec, venv, [*spec.pinned, str(wheel)], env)
        _pause_for_tests("verify", environ)
        found = json.loads(
            process.run([venv.python, "-c", VERIFY], env=env, what="checking the Poetry install")
        )
        if found["poetry"] != spec.poetry_version:
            raise SetupError(
                f"the install has Poetry {found['poetry']}, not {spec.poetry_version}:"
                " check the plugins' requirements on Poetry"
            )
        restrict_permissions(root)
        manifest = {
            "build": build_id,
            "poetry_version": spec.poetry_version,
            "requirements": list(spec.requirements),
            "entry_points": found["entry_points"],
            "files": found["files"],
            # Poetry stamps its project plugin cache with this; engine.py seeds the job's cache.
            "python_sys_version": found["sys_version"],
            "python": spec.python,
            "installer": spec.installer,
            "built_at": time.time(),
        }
        _write_json(root / "manifest.json", manifest)
        _pause_for_tests("publish", environ)
        _mark_superseded(paths)
        _write_json(Path(paths.current), manifest)  # published: from here on jobs reuse it
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return Install(venv, manifest, reused=False)


def _pause_for_tests(point: str, environ: Mapping[str, str]) -> None:
    """TEST-ONLY hook (tests/test_faults.py kills the build here): never set these variables.

    With SPP_TEST_PAUSE_AT=<point>, the build writes `<point>.paused` (holding its pid) into
    SPP_TEST_PAUSE_DIR and waits until `<point>.resume` appears there (or 5 minutes pass).
    """
    if environ.get("SPP_TEST_PAUSE_AT") != point or not environ.get("SPP_TEST_PAUSE_DIR"):
        return
    where = Path(environ["SPP_TEST_PAUSE_DIR"])
    (where / f"{point}.paused").write_text(str(os.getpid()), encoding="utf-8")
    deadline = time.monotonic() + 300
    while not (where / f"{point}.resume").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


# --- running the installer ---------------------------------------------------------------


def installer_env(installer: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The installer reads the same index, timeout and retries as versions.py does."""
    env = dict(environ)
    index = versions.index_url(environ)
    if installer == "uv":
        if not (env.get("UV_DEFAULT_INDEX") or env.get("UV_INDEX_URL")) and env.get(
            "PIP_INDEX_URL"
        ):
            env["UV_DEFAULT_INDEX"] = env["PIP_INDEX_URL"]  # uv does not read pip's variable
    else:
        if not env.get("PIP_INDEX_URL") and index != versions.DEFAULT_INDEX:
            env["PIP_INDEX_URL"] = index
        timeout, retries = versions.http_settings(environ)
        env.setdefault("PIP_TIMEOUT", f"{timeout:g}")
        env.setdefault("PIP_RETRIES", str(retries))
    return env


def _create_venv(spec: InstallSpec, venv: VenvPaths, environ: Mapping[str, str]) -> None:
    if spec.installer == "uv":
        argv = [_uv(), "venv", "--quiet", "--no-project", "--python", spec.python, str(venv.root)]
    else:
        argv = [spec.python, "-m", "venv", str(venv.root)]
    try:
        process.run(
            argv, env=environ, cwd=Path(venv.root).parent.parent, what="creating Poetry's venv"
        )
    except SetupError as exc:
        raise installer_error(exc, spec, venv, environ) from None


def _install(
    spec: InstallSpec, venv: VenvPaths, requirements: list[str], environ: Mapping[str, str]
) -> None:
    if spec.installer == "uv":
        # Compiled once here, or every Poetry start compiles ~1,400 modules again where jobs
        # cannot write to the install (or run with PYTHONDONTWRITEBYTECODE): 0.6 s -> 2 s.
        argv = [
            _uv(), "pip", "install", "--compile-bytecode", "--python", str(venv.python), *requirements
        ]  # fmt: skip
    else:
        argv = [
            str(venv.python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            *requirements,
        ]
    try:
        process.run(
            argv,
            env=environ,
            cwd=Path(venv.root).parent.parent,
            what="installing Poetry and plugins",
        )
    except SetupError as exc:
        raise installer_error(exc, spec, venv, environ) from None


def _uv() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


# --- the install dir on disk -------------------------------------------------------------


def _make_dirs(paths: InstallPaths) -> None:
    for directory in (Path(paths.root), Path(paths.builds)):
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        _check_trusted(directory)


def _check_trusted(directory: Path) -> None:
    """Refuse a shared dir that someone else could swap the install in: links, foreign owners."""
    info = directory.lstat()
    if stat.S_ISLNK(info.st_mode):
        raise SetupError(
            f"{directory} is a symbolic link: remove it; install dirs are not followed"
        )
    if os.name == "nt":
        return
    if info.st_uid not in (os.getuid(), 0):
        raise SetupError(
            f"{directory} belongs to uid {info.st_uid}, not this user: another user could replace"
            " the install; remove it or use an install-dir of your own"
        )
    if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_ISVTX:
        raise SetupError(
            f"{directory} is writable by everyone: run chmod o-w on it, or use another install-dir"
        )


def restrict_permissions(root: Path) -> None:
    """No group- or world-writable file in a shared install, whatever the job's umask was."""
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = os.path.join(directory, name)
            mode = os.lstat(path).st_mode
            if not stat.S_ISLNK(mode) and mode & 0o022:
                os.chmod(path, stat.S_IMODE(mode) & ~0o022)
    mode = os.lstat(root).st_mode
    os.chmod(root, stat.S_IMODE(mode) & ~0o022)


def _mark_superseded(paths: InstallPaths) -> None:
    """Before a new build is published: the current one starts its grace period now."""
    current = (_read_trusted_json(Path(paths.current)) or {}).get("build")
    if isinstance(current, str) and _BUILD_ID.match(current):
        marker = Path(paths.build(current).root) / SUPERSEDED
        with contextlib.suppress(FileNotFoundError):  # its venv may be gone: that is why
            _write_json(marker, {"at": time.time()})  # a fresh file: a fresh mtime


def _collect_garbage(paths: InstallPaths) -> None:
    """Under the lock: remove builds nobody can be using.

    Never published (no `superseded` marker, not current): killed or failed builds, which no
    reader ever saw. Superseded for longer than GC_AFTER: no job runs that long.
    """
    current = (_read_trusted_json(Path(paths.current)) or {}).get("build")
    now = time.time()
    for entry in Path(paths.builds).iterdir():
        if entry.name == current:
            continue
        marker = entry / SUPERSEDED
        try:
            age = now - marker.lstat().st_mtime
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


def _read_trusted_json(path: Path) -> dict[str, Any] | None:
    """Read `path` without following a link, and only if this user (or root) wrote it."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return None  # missing, or a symbolic link (ELOOP): not a marker we published
    with os.fdopen(fd, "rb") as handle:
        owner = os.fstat(handle.fileno()).st_uid
        if os.name != "nt" and owner not in (os.getuid(), 0):
            log.warning("ignoring %s: it belongs to uid %s, not this user", path, owner)
            return None
        try:
            data = json.loads(handle.read())
        except ValueError:
            return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Readers see the old file or the new one; fsynced: it publishes a build."""
    atomic.replace(path, json.dumps(data, indent=2), fsync=True)
