"""The original report, for real: parallel jobs on one shared project directory.

Four jobs whose Poetry runs on four different interpreters share one project that declares
`requires-plugins`; each is set up at the same moment and then loops `poetry install` and
`poetry run`. Failures and plugin-cache rebuilds are counted, not sampled.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine_cli import argv, finish, start
from tests.projects import PYTHONS, python_path
from tests.scenario import counts, lock_project, run_jobs, tox_envs, without_the_moved_cache

pytestmark = pytest.mark.real

ROUNDS = 8


def test_four_pythons_on_one_shared_project(
    project: Path, shared_install_dir: Path, tmp_path: Path
) -> None:
    minors = list(PYTHONS)
    setups = [
        start(
            argv(
                project,
                shared_install_dir,
                tmp_path / "state",
                f"job-{minor}",
                "--poetry-python",
                str(python_path(minor)),
                "--python-version",
                minor,
            )
        )
        for minor in minors
    ]
    done = [finish(s) for s in setups]
    assert [d.returncode for d in done] == [0] * 4, [d.stderr for d in done]
    envs = [d.env() for d in done]
    assert len({env["POETRY_PROJECT_PLUGIN_CACHE"] for env in envs}) == 4
    assert len({d.outputs["poetry-venv"] for d in done}) == 4  # Poetry on four interpreters
    lock_project(project, envs[0])

    outputs = run_jobs(project, envs, minors, ROUNDS)

    results = [counts(output) for output in outputs]
    assert results == [(0, 0)] * 4, "\n".join(outputs)
    assert not (project / ".poetry").exists(), "no package may land in the shared project"


def test_without_the_fix_the_same_loop_thrashes(
    project: Path, shared_install_dir: Path, tmp_path: Path
) -> None:
    """Control: the scenario above is sensitive. Without POETRY_PROJECT_PLUGIN_CACHE the jobs
    share `<project>/.poetry/plugins` and rewrite it under each other."""
    minors = list(PYTHONS)
    done = [
        finish(
            start(
                argv(
                    project,
                    shared_install_dir,
                    tmp_path / "state",
                    f"ctl-{minor}",
                    "--poetry-python",
                    str(python_path(minor)),
                    "--python-version",
                    minor,
                )
            )
        )
        for minor in minors
    ]
    envs = [
        without_the_moved_cache(d.env(), d.outputs["poetry-path"], tmp_path / f"plain-{i}")
        for i, d in enumerate(done)
    ]
    lock_project(project, envs[0])

    outputs = run_jobs(project, envs, minors, ROUNDS)

    rebuilds = sum(counts(output)[1] for output in outputs)
    assert (project / ".poetry" / "plugins").is_dir()
    assert rebuilds > 0, "\n".join(outputs)


def test_eight_setups_at_once_on_a_cold_install_dir(project: Path, tmp_path: Path) -> None:
    install_dir = tmp_path / "cold-install"
    setups = [start(argv(project, install_dir, tmp_path / "state", f"burst-{n}")) for n in range(8)]
    done = [finish(s) for s in setups]
    assert [d.returncode for d in done] == [0] * 8, [d.stderr for d in done]
    reused = sorted(d.outputs["reused"] for d in done)
    assert reused == ["false"] + ["true"] * 7
    assert len({d.outputs["poetry-path"] for d in done}) == 1
    assert len({d.outputs["job-dir"] for d in done}) == 8
    builds = Path(done[0].outputs["poetry-venv"]).parent
    assert [b.name for b in builds.iterdir()] == [
        builds.joinpath(done[0].outputs["poetry-venv"]).name
    ]


def test_one_job_many_poetry_processes_like_tox_p(
    project: Path, shared_install_dir: Path, tmp_path: Path
) -> None:
    """`tox -p`: one job's Poetry runs `poetry install` into several envs at the same moment,
    all with the job's one plugin cache. The engine seeded that cache, so no Poetry writes it."""
    done = finish(start(argv(project, shared_install_dir, tmp_path / "state", "tox-job")))
    assert done.returncode == 0, done.stderr
    env = done.env()
    lock_project(project, env)
    config = Path(env["POETRY_PROJECT_PLUGIN_CACHE"]) / "config.toml"
    seeded = config.stat().st_mtime_ns
    envs = tox_envs(env, tmp_path)

    outputs = run_jobs(project, envs, list(PYTHONS), ROUNDS)

    assert [counts(output) for output in outputs] == [(0, 0)] * 4, "\n".join(outputs)
    assert config.stat().st_mtime_ns == seeded, "a Poetry process rewrote the plugin cache"
