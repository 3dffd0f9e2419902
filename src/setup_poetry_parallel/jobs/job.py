"""This job's own side: its Pythons, its Poetry dirs, the `poetry` it runs, its plugin cache and
its project env. Nothing here is shared with another job.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from setup_poetry_parallel import interpreters, process
from setup_poetry_parallel.disk import dir_checks, trust
from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.interpreters import Interpreter
from setup_poetry_parallel.jobs import dynamic_versioning, launcher, plugin_cache, project_env
from setup_poetry_parallel.path_errors import preparing
from setup_poetry_parallel.paths import JobPaths, job_paths
from setup_poetry_parallel.settings import Host, Settings
from setup_poetry_parallel.store import downloads
from setup_poetry_parallel.store.install import Install

log = logging.getLogger(__name__)

# Set for every job, with why:
STATIC_ENV: Final = {
    # A prompt in an unattended job waits forever; Poetry's own switch for "never ask".
    "POETRY_NO_INTERACTION": "1",
    # An in-project .venv in a shared project directory is one venv for every job:
    # they would install into and delete it under each other. Env vars beat poetry.toml.
    "POETRY_VIRTUALENVS_IN_PROJECT": "false",
}

# Exported when project-plugins is false; see poetry_plugin/spp_project_plugin_cache.py.
REFUSE_PROJECT_PLUGINS: Final = "SPP_REFUSE_PROJECT_PLUGINS"
# tox reads it for `--workdir` (tox 4's TOX_<option>): a work dir per job, so two jobs running
# tox on one project never share `.tox/` (issue 20: 5 failures in 6 without). nox has no such
# variable (only `--envdir`), so it is left alone.
TOX_WORK_DIR: Final = "TOX_WORK_DIR"
# Read by our Poetry plugin (spp_fast_install.py): the uv that installs for `poetry install`.
FAST_INSTALL: Final = "SPP_FAST_INSTALL"


@dataclass(frozen=True)
class Job:
    paths: JobPaths
    env: dict[str, str]  # for later steps
    path: list[str]  # prepended to PATH, first entry first


def find_pythons(versions: Sequence[str], host: Host, env: Mapping[str, str]) -> list[Interpreter]:
    """Before anything is installed: a Python that is not there is bad input."""
    return [interpreters.find(v, host, env) for v in versions]


def make_dirs(settings: Settings) -> JobPaths:
    """Before the install, so that a state-dir or download-cache that cannot be written fails
    at once. The job's cache gets the host's shared downloads (downloads.py says what and why)."""
    job = job_paths(settings.state_dir, settings.job_id)
    with preparing("state-dir", settings.state_dir):
        # Checked before anything is written or trusted there: whoever could write in it could
        # replace the job's `bin/poetry` (a predictable dir in /tmp, made first by another user).
        trust.make_dir(settings.state_dir, private=True, input="state-dir")
        make_job_dir(Path(job.root), private=True)  # what Poetry makes below it, whatever
        for directory in job.created_dirs():  # its umask, stays out of other users' reach
            make_job_dir(Path(directory))
    if settings.download_cache is not None and not job.windows:  # links need privileges there
        given, path = settings.download_cache_input or ("download-cache", settings.download_cache)
        with preparing(given, path):
            shared = downloads.prepare(settings.download_cache)
        with preparing("state-dir", settings.state_dir):
            for part in shared:
                _share(Path(job.cache) / part.name, part)
    return job


def make_job_dir(directory: Path, *, private: bool = False) -> None:
    """0700 or 0755 whatever the umask."""
    dir_checks.make(directory, dir_checks.PRIVATE if private else dir_checks.SHARED)


def _share(link: Path, shared: Path) -> None:
    if link.is_dir() and not link.is_symlink():  # this job id ran before without sharing
        log.info("%s is the job's own: keeping it", link)
        return
    _link(link, shared)


def finish(
    settings: Settings,
    job: JobPaths,
    plugins: dict[str, Any],
    done: Install,
    pythons: list[Interpreter],
) -> Job:
    with preparing("state-dir", settings.state_dir):
        if job.windows:  # no sh there: the venv's launcher, copied (launcher.py says more)
            _link(Path(job.poetry_shim), Path(done.venv.poetry), copy=True)
        else:  # links to the job's Pythons; on Windows tox and virtualenv use the py launcher
            # `python` and `pip` links are this run's decision (_give_python), never an
            # earlier run's of this job id.
            for name in ("python", "pip"):
                (Path(job.pythons) / name).unlink(missing_ok=True)
            for found in pythons:
                _link(Path(job.pythons) / f"python{found.minor}", found.path)
        env = {**job_env(job), **STATIC_ENV}
        env.update(
            dynamic_versioning.env_for(
                done.manifest.entry_points, settings.dynamic_versioning_no_io
            )
        )
        if not settings.project_plugins:
            # Read by our Poetry plugin: `poetry install` would otherwise install them itself.
            env[REFUSE_PROJECT_PLUGINS] = "1"
        elif plugins:  # the project's requires-plugins table: its plugin cache is seeded
            text = plugin_cache.config_text(
                plugins,
                done.manifest.poetry_version,
                done.manifest.python_sys_version,
            )
            plugin_cache.seed(Path(job.plugin_cache), text)
        if settings.fast_install:  # the engine's own uv, in the checked install dir
            env[FAST_INSTALL] = process.uv()
        if not settings.env.get(TOX_WORK_DIR):  # the user's own choice stays
            env[TOX_WORK_DIR] = str(job.tox_work_dir)
        if not job.windows:  # written last: it carries the whole env
            launcher.write(Path(job.poetry_shim), launcher.text(done.venv.poetry, env))
    if settings.download_cache is not None and not job.windows:
        _prune(settings.download_cache)
    if settings.project_python and (settings.working_directory / "pyproject.toml").is_file():
        project_python = pythons[settings.python_versions.index(settings.project_python)]
        _give_python(
            job,
            project_python,
            {**settings.env, **env},
            project=settings.working_directory,
            env_choice=settings.env_choice,
            state_dir=settings.state_dir,
        )
    return Job(job, env, [str(job.bin), *([str(job.pythons)] if pythons else [])])


def _prune(download_cache: Path) -> None:
    """Best effort: a busy or failing prune never fails a job; the next day's setup tries again."""
    try:
        downloads.prune(download_cache)
    except (SetupError, OSError) as exc:
        log.warning("download cache not pruned: %s", exc)


def job_env(job: JobPaths) -> dict[str, str]:
    return {
        "POETRY_CACHE_DIR": str(job.cache),
        "POETRY_CONFIG_DIR": str(job.config),
        "POETRY_DATA_DIR": str(job.data),
        "POETRY_VIRTUALENVS_PATH": str(job.virtualenvs),
        "POETRY_PROJECT_PLUGIN_CACHE": str(job.plugin_cache),
    }


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


def _give_python(
    job: JobPaths,
    python: Interpreter,
    env: dict[str, str],
    *,
    project: Path,
    env_choice: Mapping[str, str],
    state_dir: Path,
) -> None:
    """The project env's Python, without starting Poetry where the job's PATH decides it
    (project_env.py says when and why)."""
    path = os.pathsep.join([str(job.bin), str(job.pythons), env.get("PATH", "")])
    found = shutil.which("python", path=path)
    chosen = project_env.choose(
        project_env.facts(
            requested=python,
            path_python=Path(found) if found else None,
            windows=job.windows,
            env_choice=env_choice,
            project=project,
            config_dir=Path(job.config),
            virtualenvs=Path(job.virtualenvs),
        )
    )
    if chosen.route is project_env.Route.ENV_USE:
        log.info("project env: poetry env use, since %s", chosen.why)
        _use_python(job, python, env, project)
    elif chosen.route is project_env.Route.LINK:
        # pip too, so that `pip` installs where `python` runs; only `pip3.X` beside the
        # interpreter is surely its own (Debian's /usr/bin/pip3 is the default python3's).
        pip = Path(os.path.realpath(python.path)).with_name(f"pip{python.minor}")
        with preparing("state-dir", state_dir):
            _link(Path(job.pythons) / "python", python.path)
            if pip.is_file():
                _link(Path(job.pythons) / "pip", pip)
        log.info(
            "`python`%s of later steps: now Python %s (%s), the project env's, as"
            " actions/setup-python would make it; %s",
            " and `pip`" if pip.is_file() else "",
            python.version,
            python.path,
            chosen.why,
        )
    else:
        log.info("project env of this job uses Python %s: %s", python.version, chosen.why)


def _use_python(job: JobPaths, python: Interpreter, env: dict[str, str], project: Path) -> None:
    """`poetry env use` inside the job's own virtualenvs path: `poetry run python` is this one."""
    process.run(
        [job.poetry_shim, "env", "use", "--no-interaction", str(python.path)],
        env=env,
        cwd=project,
        what=f"poetry env use {python.version}",
    )
    log.info("project env of this job uses Python %s (%s)", python.version, python.path)
