"""The host's shared download cache, for real: eight jobs at once on a cold cache, then more
rounds, for a project with an sdist-only package (built by each job's Poetry into the shared
artifacts) and a git dependency (cloned per job, its wheel built into the shared artifacts)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from setup_poetry_parallel.index import simple_index
from setup_poetry_parallel.store import downloads
from tests.conftest import have_git
from tests.engine_cli import argv, finish, start
from tests.fault_index import Fault, serve
from tests.projects import PYTHONS, SIMPLE_INDEX, make_project, python_path

pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(not have_git(), reason="the project has a git dependency"),
]

JOBS, ROUNDS = 8, 3
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
}  # fmt: skip

# One job: install from scratch each round (its env removed first), import what it installed.
JOB_LOOP = textwrap.dedent(
    """
    import subprocess, sys
    failures = 0
    check = "import docopt, gitpkg; print(docopt.__version__, gitpkg.VALUE)"
    for _ in range(int(sys.argv[1])):
        for command in (["poetry", "env", "remove", "--all"], ["poetry", "install", "--no-root"],
                        ["poetry", "run", "python", "-c", check]):
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0 or (command[1] == "run" and done.stdout.split() != ["0.6.2", "42"]):
                failures += 1
                print("FAILED", command, (done.stdout + done.stderr)[-600:].replace("\\n", " | "))
    print(f"RESULT failures={failures}")
    """
)


def canonical(filename: str) -> str:
    """The project name of an archive's file name, normalised as in poetry.lock."""
    return simple_index.canonical(re.split(r"-\d", filename, maxsplit=1)[0])


def git_package(where: Path) -> str:
    """A tiny package in a local git repository: its URL, for a git dependency."""
    (where / "gitpkg").mkdir(parents=True)
    (where / "gitpkg" / "__init__.py").write_text("VALUE = 42\n")
    (where / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [project]
            name = "gitpkg"
            version = "1.0.0"

            [build-system]
            requires = ["poetry-core>=2.0.0,<3.0.0"]
            build-backend = "poetry.core.masonry.api"
            """
        )
    )
    env = {**os.environ, **GIT_ENV}
    for command in (["init", "-q", "."], ["add", "-A"], ["commit", "-qm", "gitpkg"]):
        subprocess.run(["git", *command], cwd=where, check=True, env=env, capture_output=True)
    return where.as_uri()


def test_eight_jobs_on_a_cold_shared_download_cache(
    shared_install_dir: Path, tmp_path: Path
) -> None:
    url = git_package(tmp_path / "gitpkg")
    project = make_project(
        tmp_path / "project",
        plugins="",
        dependencies=f'"docopt==0.6.2", "requests==2.32.3", "gitpkg @ git+{url}"',
    )
    cache = tmp_path / "downloads"
    setups = [
        start(argv(project, shared_install_dir, tmp_path / "state", f"job-{n}", "--download-cache", str(cache)))
        for n in range(JOBS)
    ]  # fmt: skip
    done = [finish(s) for s in setups]
    assert [d.returncode for d in done] == [0] * JOBS, [d.stderr for d in done]
    # A real interpreter first on PATH, as setup-python gives a runner: Poetry asks `python`
    # which version it is, within 5 s, and a pyenv shim on a loaded machine can miss that.
    real_python = str(python_path(PYTHONS[1]).parent)
    envs = [{**d.env(), "PATH": f"{real_python}:{d.env()['PATH']}"} for d in done]
    for env in envs:
        for part in downloads.SHARED:
            assert (Path(env["POETRY_CACHE_DIR"]) / part).resolve() == cache / part

    counter = Fault(kind="count")  # every archive is fetched through it, and counted
    with serve(counter) as index:
        pyproject = project / "pyproject.toml"
        pyproject.write_text(pyproject.read_text().replace(SIMPLE_INDEX, index + "/"))
        # Locked with a cache of its own (the sdist is fetched to read its metadata): the
        # shared cache is still cold when the eight jobs start.
        lock_env = {**envs[0], "POETRY_CACHE_DIR": str(tmp_path / "lock-cache")}
        subprocess.run(
            ["poetry", "lock"], cwd=project, env=lock_env, check=True, capture_output=True
        )
        assert not any(downloads.artifacts(cache).iterdir())
        counter.requests.clear()
        jobs = [
            subprocess.Popen(
                [sys.executable, "-c", JOB_LOOP, str(ROUNDS)],
                cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            for env in envs
        ]  # fmt: skip
        outputs = [job.communicate(timeout=900)[0] for job in jobs]

    assert all("RESULT failures=0" in o for o in outputs), "\n".join(outputs)
    fetched = counter.downloads()
    locked = {p["name"] for p in tomllib.loads((project / "poetry.lock").read_text())["package"]}
    ours = {name: n for name, n in fetched.items() if canonical(name) in locked}
    assert {canonical(name) for name in ours} == locked - {"gitpkg"}, fetched
    # Each archive of the project came from the index once, for eight jobs on a cold cache.
    # Build backends (setuptools, poetry-core) are not among them: Poetry installs them into a
    # throwaway build env, outside its artifact cache, for every build (printed below).
    assert set(ours.values()) == {1}, f"archives fetched more than once: {fetched}"
    wheels = sorted(p.name for p in downloads.artifacts(cache).rglob("*.whl"))
    assert any(name.startswith("docopt-0.6.2-") for name in wheels), wheels  # built, shared
    assert any(name.startswith("gitpkg-1.0.0-") for name in wheels), wheels
    assert not list(downloads.artifacts(cache).rglob(".spp-build-*")), "scratch left behind"
    for env in envs:  # git clones stay each job's own
        assert not (Path(env["POETRY_CACHE_DIR"]) / "src").is_symlink()
    print(
        f"shared downloads: {JOBS} jobs x {ROUNDS} rounds, 0 failures;"
        f" {len(ours)} project archives, each fetched once; build backends: "
        f"{ {name: n for name, n in fetched.items() if name not in ours} }"
    )


def test_download_cache_off_keeps_the_cache_per_job(
    project: Path, shared_install_dir: Path, tmp_path: Path
) -> None:
    done = finish(
        start(
            argv(
                project, shared_install_dir, tmp_path / "state", "own", "--download-cache", "false"
            )
        )
    )
    assert done.returncode == 0, done.stderr
    assert not (Path(done.env()["POETRY_CACHE_DIR"]) / "artifacts").exists()
