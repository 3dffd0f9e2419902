"""One setup, start to finish: validate, install (or reuse), give the job its dirs, export.

Nothing is exported until everything else has succeeded: a failed setup leaves later steps
exactly the environment they had.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from setup_poetry_parallel import (
    install,
    interpreters,
    plugin_cache,
    plugin_wheel,
    process,
    versions,
)
from setup_poetry_parallel.errors import InputError
from setup_poetry_parallel.key import InstallSpec, install_key, merge_requirements
from setup_poetry_parallel.paths import JobPaths, install_paths, job_paths
from setup_poetry_parallel.plugins import ProjectPlugins, read_project_plugins, to_requirements
from setup_poetry_parallel.runner import Exports
from setup_poetry_parallel.settings import Settings

log = logging.getLogger(__name__)

# Set for every job, with why:
STATIC_ENV = {
    # A prompt in an unattended job waits forever; Poetry's own switch for "never ask".
    "POETRY_NO_INTERACTION": "1",
    # An in-project .venv in a shared project directory is one venv for every job:
    # they would install into and delete it under each other. Env vars beat poetry.toml.
    "POETRY_VIRTUALENVS_IN_PROJECT": "false",
}


# Exported when project-plugins is false; see poetry_plugin/spp_project_plugin_cache.py.
REFUSE_PROJECT_PLUGINS = "SPP_REFUSE_PROJECT_PLUGINS"


@dataclass(frozen=True)
class PoetryPython:
    path: str
    version: str
    markers: dict[str, str]


@dataclass(frozen=True)
class Plan:
    spec: InstallSpec
    key: str
    project: ProjectPlugins


def plan(settings: Settings, environ: Mapping[str, str]) -> Plan:
    """What would be installed and under which key; installs nothing (the cache step needs it)."""
    project = read_project_plugins(settings.working_directory)
    _check_stale_plugin_cache(settings)
    poetry_version = _poetry_version(settings, environ)
    project_requirements = _project_requirements(settings, project, poetry_version)
    poetry_python = _poetry_python(settings, environ)
    requirements = merge_requirements(project_requirements, settings.plugins)
    spec = InstallSpec(
        poetry_version=poetry_version,
        requirements=applicable(requirements, poetry_python.markers),
        python=poetry_python.path,
        python_version=poetry_python.version,
        installer=settings.installer,
        platform=f"{sys.platform}-{platform.machine()}",
        plugin_wheel=plugin_wheel.version(),
    )
    return Plan(spec, install_key(spec), project)


def _check_stale_plugin_cache(settings: Settings) -> None:
    """`<project>/.poetry/plugins` goes on Poetry's sys.path before any plugin can move it, and
    its `.pth` files run then: from an untrusted checkout that is code execution."""
    stale = settings.working_directory / ".poetry" / "plugins"
    if not stale.exists():
        return
    if not settings.project_plugins:
        raise InputError(
            f"{stale} exists and Poetry loads it before any plugin: delete it (it is never"
            " committed); project-plugins: false cannot be honoured while it is there"
        )
    log.warning(
        "%s is left from a run without this setup and Poetry still puts it on sys.path:"
        " delete it once",
        stale,
    )


def plan_exports(settings: Settings, environ: Mapping[str, str]) -> Exports:
    key = plan(settings, environ).key
    root = install_paths(settings.install_dir, key).root
    return Exports(
        outputs={"cache-key": cache_key(key), "install-path": str(root)}, env={}, path=[]
    )


def run(settings: Settings, environ: Mapping[str, str]) -> Exports:
    started = time.monotonic()
    planned = plan(settings, environ)
    spec, key = planned.spec, planned.key
    poetry_version = spec.poetry_version
    pythons = [interpreters.find(v, environ) for v in settings.python_versions]

    try:
        done = install.ensure(
            spec,
            install_paths(settings.install_dir, key),
            timeout=settings.lock_timeout,
            environ=environ,
        )
    except InputError as exc:
        raise _point_at_plugin(exc, planned.project) from None
    log.info(
        "Poetry %s %s at %s", poetry_version, "reused" if done.reused else "built", done.venv.root
    )
    job = job_paths(settings.state_dir, settings.job_id)
    _prepare_job(job, Path(done.venv.poetry), pythons)
    env = {**job_env(job), **STATIC_ENV}
    if not settings.project_plugins:
        # Read by our Poetry plugin: `poetry install` would otherwise install them itself.
        env[REFUSE_PROJECT_PLUGINS] = "1"
    elif planned.project.table and (sys_version := done.manifest.get("python_sys_version")):
        text = plugin_cache.config_text(planned.project.table, poetry_version, sys_version)
        plugin_cache.seed(Path(job.plugin_cache), text)
    if settings.project_python and (settings.working_directory / "pyproject.toml").is_file():
        project_python = pythons[settings.python_versions.index(settings.project_python)]
        _use_python(job, project_python, settings.working_directory, {**environ, **env})
    exports = Exports(
        outputs={
            "poetry-version": poetry_version,
            "poetry-path": str(done.venv.poetry),
            "poetry-venv": str(done.venv.root),
            "job-dir": str(job.root),
            "cache-dir": str(job.cache),
            "virtualenvs-path": str(job.virtualenvs),
            "plugins": json.dumps(list(spec.requirements)),
            "reused": "true" if done.reused else "false",
            "cache-key": cache_key(key),
        },
        env=env,
        path=[str(job.bin), *([str(job.pythons)] if pythons else [])],
        summary=_summary(spec, done.reused, job, time.monotonic() - started),
    )
    return exports


def _point_at_plugin(exc: InputError, project: ProjectPlugins) -> InputError:
    """A plugin the index lacks or cannot satisfy: annotate its requires-plugins line."""
    message = exc.message.lower()
    for name in project.table:
        at = message.find(f"'{name.lower()}")
        after = message[at + len(name) + 1 : at + len(name) + 2]
        if exc.file is None and at >= 0 and not (after.isalnum() or after in "-_."):
            exc.file, exc.line = project.pyproject, project.line_of(name)
    return exc


def job_env(job: JobPaths) -> dict[str, str]:
    return {
        "POETRY_CACHE_DIR": str(job.cache),
        "POETRY_CONFIG_DIR": str(job.config),
        "POETRY_DATA_DIR": str(job.data),
        "POETRY_VIRTUALENVS_PATH": str(job.virtualenvs),
        "POETRY_PROJECT_PLUGIN_CACHE": str(job.plugin_cache),
    }


def cache_key(key: str) -> str:
    """For actions/cache: the install key already covers Python, platform and versions."""
    return f"setup-poetry-parallel-{sys.platform}-{platform.machine()}-{key}"


def _poetry_version(settings: Settings, environ: Mapping[str, str]) -> str:
    if versions.is_exact(settings.poetry_version):
        return settings.poetry_version
    resolved = versions.resolve(settings.poetry_version, environ)
    log.info("poetry-version %s resolved to %s", settings.poetry_version, resolved)
    return resolved


def _project_requirements(
    settings: Settings, project: ProjectPlugins, poetry_version: str
) -> list[str]:
    if not project.table:
        return []
    if versions.major(poetry_version) < 2:
        raise InputError(
            f"poetry-version {poetry_version} ignores [tool.poetry.requires-plugins] (Poetry 2.0+"
            " reads it): pin Poetry 2.x, or list the plugins in the plugins input",
            file=project.pyproject,
            line=project.line_of("requires-plugins"),
        )
    requirements = to_requirements(
        project,
        settings.working_directory,
        cache_dir=settings.install_dir / "requirements-cache",
    )
    if not settings.project_plugins:
        log.warning(
            "project-plugins is false: not installing %s from %s",
            ", ".join(requirements),
            project.pyproject,
        )
        return []
    log.info("plugins from %s: %s", project.pyproject, ", ".join(requirements))
    return requirements


def _poetry_python(settings: Settings, environ: Mapping[str, str]) -> PoetryPython:
    if not settings.poetry_python:
        # The engine's own interpreter: the same for every job on the host, so they share.
        from packaging.markers import default_environment

        return PoetryPython(
            str(Path(sys.executable).resolve()),
            platform.python_version(),
            {k: str(v) for k, v in default_environment().items()},
        )
    if os.sep in settings.poetry_python or "/" in settings.poetry_python:
        found = interpreters.probe([settings.poetry_python], environ)
        if not found:
            raise InputError(
                f"poetry-python {settings.poetry_python!r} is not a working Python interpreter:"
                " give a path to one, or a version such as 3.12"
            )
    else:
        found = interpreters.find(settings.poetry_python, environ)
    return PoetryPython(str(found.path.resolve()), found.version, found.markers)


def applicable(requirements: tuple[str, ...], markers: Mapping[str, str]) -> tuple[str, ...]:
    """Keep the requirements whose markers hold for Poetry's interpreter, as Poetry would."""
    from packaging.requirements import Requirement

    kept = []
    for text in requirements:
        marker = Requirement(text).marker if ";" in text else None  # parsing costs: skip most
        if marker is None or marker.evaluate({**markers, "extra": ""}):
            kept.append(text)
        else:
            log.info("skipping %s: its markers do not hold for Poetry's Python", text)
    return tuple(kept)


def _prepare_job(job: JobPaths, poetry: Path, pythons: list[interpreters.Interpreter]) -> None:
    for directory in job.created_dirs():
        Path(directory).mkdir(parents=True, exist_ok=True)
    _link(Path(job.poetry_shim), poetry, copy=job.windows)
    if job.windows:
        return  # tox and virtualenv find Pythons through the py launcher there, not PATH
    for found in pythons:
        _link(Path(job.pythons) / f"python{found.minor}", found.path)


def _link(link: Path, target: Path, *, copy: bool = False) -> None:
    """Atomically (re)point `link` at `target`.

    `copy` for Windows, where symlinks need privileges and Git Bash runs only `.exe` files
    by their bare name: a venv's `poetry.exe` launcher names its Python by absolute path, so
    a copy of it works from anywhere.
    """
    tmp = link.with_name(f".{link.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    if copy:
        shutil.copy2(target, tmp)
    else:
        tmp.symlink_to(target)
    os.replace(tmp, link)


def _use_python(
    job: JobPaths, python: interpreters.Interpreter, project: Path, env: Mapping[str, str]
) -> None:
    """`poetry env use` inside the job's own virtualenvs path: `poetry run python` is this one."""
    process.run(
        [job.poetry_shim, "env", "use", "--no-interaction", str(python.path)],
        env=env,
        cwd=project,
        what=f"poetry env use {python.version}",
    )
    log.info("project env of this job uses Python %s (%s)", python.version, python.path)


def _summary(spec: InstallSpec, reused: bool, job: JobPaths, seconds: float) -> str:
    plugins = "<br>".join(f"`{r}`" for r in spec.requirements) or "none"
    rows = [
        ("Poetry", f"`{spec.poetry_version}` on Python {spec.python_version}"),
        ("Plugins", plugins),
        ("Install", "reused" if reused else f"built with {spec.installer}"),
        ("Time", f"{seconds:.1f} s"),
        ("Job dir", f"`{job.root}`"),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return f"### setup-poetry-parallel\n\n| | |\n|---|---|\n{table}\n"
