"""One setup, start to finish. Each line is a stage with a module of its own.

Nothing is exported until everything else has succeeded: a failed setup leaves later steps
exactly the environment they had (cli.py publishes what `run` returns).
"""

from __future__ import annotations

import logging
import time

from setup_poetry_parallel import exports, install, job, plan
from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.paths import install_paths
from setup_poetry_parallel.runner import Exports
from setup_poetry_parallel.settings import Settings

log = logging.getLogger(__name__)


def run(settings: Settings) -> Exports:
    started = time.monotonic()
    planned = plan.make(settings)  # project plugins, exact Poetry, Poetry's Python: spec + key
    pythons = job.find_pythons(settings)  # the job's own Pythons, before anything is built
    job_dirs = job.make_dirs(settings)  # a state-dir that cannot be written fails now
    try:  # check, lock, check again, build, publish; or reuse
        done = install.ensure(
            planned.spec, install_paths(settings.install_dir, planned.key), settings
        )
    except SetupError as exc:
        raise planned.locate(exc) from None  # a plugin at fault: annotate its pyproject line
    log.info(
        "Poetry %s %s at %s",
        planned.spec.poetry_version,
        "reused" if done.reused else "built",
        done.venv.root,
    )
    prepared = job.finish(settings, job_dirs, planned, done, pythons)  # links, cache, env
    return exports.of_setup(planned, done, prepared, time.monotonic() - started)


def plan_only(settings: Settings) -> Exports:
    """`--plan`: the cache key and install path, for the cache step; installs nothing."""
    return exports.of_plan(plan.make(settings), settings.install_dir, settings.download_cache)
