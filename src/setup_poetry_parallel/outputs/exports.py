"""What a setup hands to later steps: outputs, environment, PATH and the step summary."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path, PurePath

from setup_poetry_parallel.jobs.job import Job
from setup_poetry_parallel.outputs.runner import Exports
from setup_poetry_parallel.paths import install_paths
from setup_poetry_parallel.poetry_venv.key import InstallSpec
from setup_poetry_parallel.poetry_venv.plan import Plan
from setup_poetry_parallel.redaction import public
from setup_poetry_parallel.store import downloads
from setup_poetry_parallel.store.install import Install


def cache_key(key: str) -> str:
    """For actions/cache: the install key already covers Python, platform and versions."""
    return f"setup-poetry-parallel-{sys.platform}-{platform.machine()}-{key}"


def of_plan(planned: Plan, install_dir: PurePath, download_cache: PurePath | None) -> Exports:
    root = install_paths(install_dir, planned.key).root
    prefix = f"setup-poetry-parallel-downloads-{sys.platform}-{platform.machine()}"
    prefix += f"-poetry{planned.spec.poetry_version}-"
    return Exports(
        outputs={
            "cache-key": cache_key(planned.key),
            "install-path": str(root),
            # actions/cache of the download cache: exact for this lock file, else the newest
            # cache of the same Poetry and platform (most archives are still the same).
            "download-cache": str(download_cache) if download_cache else "",
            # What cache-dependencies uploads: the archives only. Poetry's HTTP cache (under
            # `cache/`) keeps a request's Authorization header in an entry when the index
            # answers `Vary: Authorization` (cachecontrol's serialize.py stores the headers
            # Vary names): never uploaded to the Actions cache.
            "download-archives": str(downloads.artifacts(Path(download_cache)))
            if download_cache
            else "",
            "downloads-key": prefix + planned.lock_digest,
            "downloads-restore-key": prefix,
        },
        env={},
        path=[],
    )


def of_setup(planned: Plan, done: Install, job: Job, seconds: float | str) -> Exports:
    spec = planned.spec
    return Exports(
        outputs={
            "poetry-version": spec.poetry_version,
            "poetry-path": str(done.venv.poetry),
            "poetry-venv": str(done.venv.root),
            "job-dir": str(job.paths.root),
            "cache-dir": str(job.paths.cache),
            "virtualenvs-path": str(job.paths.virtualenvs),
            # Without the userinfo of a requirement's URL (`name @ https://user:token@...`).
            "plugins": json.dumps([public(r) for r in spec.requirements]),
            "reused": "true" if done.reused else "false",
            "cache-key": cache_key(planned.key),
        },
        env=job.env,
        path=job.path,
        summary=_summary(spec, done.reused, job, seconds),
    )


def _summary(spec: InstallSpec, reused: bool, job: Job, seconds: float | str) -> str:
    plugins = "<br>".join(f"`{public(r)}`" for r in spec.requirements) or "none"
    rows = [
        ("Poetry", f"`{spec.poetry_version}` on Python {spec.python_version}"),
        ("Plugins", plugins),
        ("Install", "reused" if reused else f"built with {spec.installer}"),
        ("Time", seconds if isinstance(seconds, str) else f"{seconds:.1f} s"),
        ("Job dir", f"`{job.paths.root}`"),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return f"### setup-poetry-parallel\n\n| | |\n|---|---|\n{table}\n"
