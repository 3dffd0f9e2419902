"""Poetry, the plugins and our cache plugin, installed once per key and shared by every job.

Check without the lock, take the lock, check again, build into a fresh `builds/<id>`,
verify, then publish `current.json` last with `os.replace`. Whoever loses the race waits
and reuses. A build that fails or is killed leaves a directory that nothing points at; a
published build that fails the health check is replaced by a new build, never rebuilt in
place, so a job still running the old one keeps working.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from setup_poetry_parallel import plugin_wheel, process
from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.key import InstallSpec
from setup_poetry_parallel.locking import hold
from setup_poetry_parallel.paths import InstallPaths, VenvPaths

log = logging.getLogger(__name__)

# Loads every Poetry plugin entry point, as Poetry would at start-up, and reports what is there.
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
print(json.dumps({"poetry": v.__version__, "entry_points": found, "files": files}))
"""


@dataclass(frozen=True)
class Install:
    venv: VenvPaths
    manifest: dict[str, Any]
    reused: bool


def ensure(
    spec: InstallSpec, paths: InstallPaths, *, timeout: float, environ: Mapping[str, str]
) -> Install:
    if ready := find_ready(paths):
        return ready
    with hold(Path(paths.lock), timeout=timeout, what="the Poetry install"):
        if ready := find_ready(paths):
            log.info("another job finished the install while this one waited: reusing it")
            return ready
        _remove_unpublished(paths)
        return _build(spec, paths, environ)


def find_ready(paths: InstallPaths) -> Install | None:
    """The published build, if it exists and passes a cheap health check (a few stats)."""
    manifest = _read_json(Path(paths.current))
    if manifest is None:
        return None
    venv = paths.build(str(manifest.get("build", "")))
    checks = [venv.python, venv.poetry, *manifest.get("files", [])]
    missing = [str(f) for f in checks if not os.path.exists(f)]
    if missing:
        log.warning(
            "the Poetry install at %s is damaged (%s is gone): rebuilding", venv.root, missing[0]
        )
        return None
    return Install(venv, manifest, reused=True)


def _build(spec: InstallSpec, paths: InstallPaths, environ: Mapping[str, str]) -> Install:
    build_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
    venv = paths.build(build_id)
    root = Path(venv.root)
    log.info("installing %s into %s", ", ".join(spec.pinned), root)
    try:
        wheel = plugin_wheel.write(root.with_name(build_id + ".wheel"))
        _create_venv(spec, venv, environ)
        _pip_install(spec, venv, [*spec.pinned, str(wheel)], environ)
        found = json.loads(
            process.run(
                [venv.python, "-c", VERIFY], env=environ, what="checking the Poetry install"
            )
        )
        if found["poetry"] != spec.poetry_version:
            raise SetupError(
                f"the install has Poetry {found['poetry']}, not {spec.poetry_version}:"
                " check the plugins' requirements on Poetry"
            )
        manifest = {
            "build": build_id,
            "poetry_version": spec.poetry_version,
            "requirements": list(spec.requirements),
            "entry_points": found["entry_points"],
            "files": found["files"],
            "python": spec.python,
            "installer": spec.installer,
            "built_at": time.time(),
        }
        _write_json(root / "manifest.json", manifest)
        _write_json(Path(paths.current), manifest)  # published: from here on jobs reuse it
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(root.with_name(build_id + ".wheel"), ignore_errors=True)
    return Install(venv, manifest, reused=False)


def _create_venv(spec: InstallSpec, venv: VenvPaths, environ: Mapping[str, str]) -> None:
    if spec.installer == "uv":
        argv = [_uv(), "venv", "--quiet", "--no-project", "--python", spec.python, str(venv.root)]
    else:
        argv = [spec.python, "-m", "venv", str(venv.root)]
    process.run(argv, env=environ, cwd=Path(venv.root).parent.parent, what="creating Poetry's venv")


def _pip_install(
    spec: InstallSpec, venv: VenvPaths, requirements: list[str], environ: Mapping[str, str]
) -> None:
    if spec.installer == "uv":
        argv = [_uv(), "pip", "install", "--python", str(venv.python), *requirements]
    else:
        argv = [
            str(venv.python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            *requirements,
        ]
    process.run(
        argv, env=environ, cwd=Path(venv.root).parent.parent, what="installing Poetry and plugins"
    )


def _uv() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


def _remove_unpublished(paths: InstallPaths) -> None:
    """Builds that never got published were killed or failed: nobody can be using them."""
    current = (_read_json(Path(paths.current)) or {}).get("build")
    builds = Path(paths.builds)
    if not builds.is_dir():
        return
    for entry in builds.iterdir():
        if entry.name != current and not (entry / "manifest.json").exists():
            log.info("removing the unfinished build %s", entry)
            shutil.rmtree(entry, ignore_errors=True)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write beside the target, then rename over it: readers see the old or the new file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}")
    with contextlib.ExitStack() as stack:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644
        )
        handle = stack.enter_context(os.fdopen(fd, "w", encoding="utf-8"))
        json.dump(data, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
