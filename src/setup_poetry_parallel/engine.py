"""One setup, start to finish. Each line is a stage with a module of its own.

Nothing is exported until everything else has succeeded: a failed setup leaves later steps
exactly the environment they had (cli.py publishes what `run` returns).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from pathlib import Path

from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.jobs import job
from setup_poetry_parallel.outputs import exports
from setup_poetry_parallel.outputs.runner import Exports, redacted, render
from setup_poetry_parallel.path_errors import preparing
from setup_poetry_parallel.paths import install_paths, job_paths
from setup_poetry_parallel.poetry_venv import plan
from setup_poetry_parallel.poetry_venv.installer import Installer as PoetryInstaller
from setup_poetry_parallel.settings import Settings
from setup_poetry_parallel.store import install

log = logging.getLogger(__name__)


def run(settings: Settings) -> Exports:
    started = time.monotonic()
    planned = plan.make(settings)  # project plugins, exact Poetry, Poetry's Python: spec + key
    # The job's own Pythons, before anything is built.
    pythons = job.find_pythons(settings.python_versions, settings.host, settings.env)
    fresh = not os.path.lexists(job_paths(settings.state_dir, settings.job_id).root)
    job_dirs = job.make_dirs(settings)  # a state-dir that cannot be written fails now
    try:  # check, lock, check again, build, publish; or reuse
        with preparing("install-dir", settings.install_dir):  # the store knows no inputs
            done = install.ensure(
                install_paths(settings.install_dir, planned.key),
                PoetryInstaller(planned.spec, settings.index, settings.env),
                lock_timeout=settings.lock_timeout,
                pause=settings.pause,
            )
    except SetupError as exc:
        raise planned.locate(exc) from None  # a plugin at fault: annotate its pyproject line
    log.info(
        "Poetry %s %s at %s",
        planned.spec.poetry_version,
        "reused" if done.reused else "built",
        done.venv.root,
    )
    # links, cache, env
    prepared = job.finish(settings, job_dirs, planned.project.table, done, pythons)
    exported = exports.of_setup(planned, done, prepared, time.monotonic() - started)
    if not fresh:
        return exported  # what an earlier setup of this job left there is not ours to copy
    return replace(
        exported, remember=lambda keys: _remember(settings, planned, done, prepared, keys)
    )


def _remember(
    settings: Settings,
    planned: plan.Plan,
    done: install.Install,
    made: job.Job,
    keys: dict[str, str],
) -> None:
    """For the next job with the same inputs on this host: warm_lane.py, under `keys` (its
    view of the command line). Best effort."""
    from setup_poetry_parallel.startup import warm_lane
    from setup_poetry_parallel.store import cleanup

    paths = install_paths(settings.install_dir, planned.key)
    build = done.manifest.build
    again = exports.of_setup(planned, replace(done, reused=True), made, warm_lane.TIME)
    try:
        where = warm_lane.record(
            keys,
            job=str(made.paths.root),
            current=str(paths.current),
            build=build,
            superseded=str(Path(paths.build(build).root) / cleanup.SUPERSEDED),
            checks=[str(done.venv.python), str(done.venv.poetry), *map(str, done.manifest.files)],
            exports={
                "outputs": again.outputs,
                "env": again.env,
                "path": again.path,
                "summary": again.summary,
            },
            message=f"Poetry {planned.spec.poetry_version} reused at {done.venv.root} (warm lane)",
            output_format=settings.output_format,
            render=lambda recorded: render(  # the CLI's stdout, as runner.publish prints it
                redacted(Exports(recorded["outputs"], recorded["env"], recorded["path"])),
                settings.output_format,
                settings.host.path,
            ),
        )
    except (OSError, ValueError) as exc:
        log.debug("warm lane: not recorded: %s", exc)
        return
    log.debug("warm lane: %s", f"recorded {where}" if where else "this setup is not replayable")


def plan_only(settings: Settings) -> Exports:
    """`--plan`: the cache key and install path, for the cache step; installs nothing."""
    return exports.of_plan(plan.make(settings), settings.install_dir, settings.download_cache)
