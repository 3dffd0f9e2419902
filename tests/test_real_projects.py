"""Two real Poetry 2 projects written by others, run the way their own CI runs them.

Both declare poetry-dynamic-versioning in `[tool.poetry.requires-plugins]`, and their CI
(pronovic/gha-shared-workflows, poetry-build-and-test) is a matrix over Python versions: each
job installs Poetry, runs `poetry install`, then the project's test suite. Here the four matrix
jobs (3.10-3.13) run at once on one shared checkout of the pinned sdist, each set up by the
engine, and each job's test suite runs offline (see `offline`). Which project and why:
tests/real_projects.py.

The only change to their files: an explicit simple-index source (see
`real_projects.adapt_to_this_index`). Their sdists carry no poetry.lock, so the checkout is locked
once before the jobs fan out, as a repository that commits its lock would be.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engine_cli import Setup, argv, finish, start
from tests.projects import PYTHONS, python_path
from tests.real_projects import APOLOGIES, UCIPARSE, RealProject, adapt_to_this_index, fetch
from tests.scenario import OUTDATED, lock_project, without_the_moved_cache

pytestmark = pytest.mark.real

# Belt and braces for the offline test run: with no network namespace, these point pip, uv and
# requests-based tools (Poetry among them) at a closed local port.
NO_NETWORK_ENV = {
    "PIP_NO_INDEX": "1",
    "UV_OFFLINE": "1",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "",
    "no_proxy": "",
}


def offline() -> list[str]:
    """`unshare -n` (a network namespace with no interface up) where this user may create one,
    as root here; otherwise nothing, and NO_NETWORK_ENV alone blocks the network."""
    if shutil.which("unshare") is None:
        return []
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    return ["unshare", "-n"] if probe.returncode == 0 else []


def test_the_offline_wrapper_cuts_the_network() -> None:
    """What the jobs' test runs get: the package index is unreachable."""
    probe = "import urllib.request as r; r.urlopen('https://pypi.org/simple/', timeout=10)"
    done = subprocess.run(
        [*offline(), sys.executable, "-c", probe],
        env={**os.environ, **NO_NETWORK_ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0, "the index is reachable from an offline test run"
    print(f"offline via: {' '.join(offline()) or 'environment variables only'}")


@dataclass(frozen=True)
class Job:
    minor: str
    install: subprocess.CompletedProcess[str]
    tests: subprocess.CompletedProcess[str]

    @property
    def output(self) -> str:
        return "".join((p.stdout or "") + (p.stderr or "") for p in (self.install, self.tests))

    def passed(self) -> int:
        found = re.search(r"(\d+) passed", self.tests.stdout)
        return int(found.group(1)) if found else 0

    def python(self) -> str:
        found = re.search(r"platform \S+ -- Python (\d+\.\d+)", self.tests.stdout)
        return found.group(1) if found else ""

    def summary(self) -> str:
        lines = self.tests.stdout.strip().splitlines()
        return lines[-1] if lines else ""


def checkout(project: RealProject, where: Path) -> Path:
    """The pinned sdist, extracted and adapted to this index: the jobs' one shared checkout."""
    root = fetch(project, where)
    adapt_to_this_index(root)
    return root


def matrix_setups(
    root: Path, install_dir: Path, state: Path, *, poetry_on_matrix_python: bool
) -> list[Setup]:
    """The four matrix jobs' setup steps, all at once."""
    setups = []
    for minor in PYTHONS:
        extra = ["--python-version", minor]
        if poetry_on_matrix_python:
            extra += ["--poetry-python", str(python_path(minor))]
        setups.append(start(argv(root, install_dir, state, f"{root.name}-{minor}", *extra)))
    done = [finish(s) for s in setups]
    assert [d.returncode for d in done] == [0] * 4, [d.stderr for d in done]
    return done


def run_job(root: Path, project: RealProject, minor: str, env: dict[str, str]) -> Job:
    """One matrix job after its setup step: `poetry install`, then the project's tests offline."""
    install = subprocess.run(
        ["poetry", "install"], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    # -p no:cacheprovider: four pytest runs would share the checkout's .pytest_cache, which is
    # pytest's business, not Poetry's; everything else runs as their CI runs it.
    command = [*offline(), "poetry", "run", "pytest", "-p", "no:cacheprovider", project.tests]
    tests = subprocess.run(
        command,
        cwd=root,
        env={**env, **NO_NETWORK_ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    return Job(minor, install, tests)


def run_matrix(root: Path, project: RealProject, setups: list[Setup]) -> list[Job]:
    envs = [s.env() for s in setups]
    lock_project(root, envs[0])  # their repositories commit poetry.lock; their sdists have none
    with ThreadPoolExecutor(max_workers=len(envs)) as pool:
        futures = [
            pool.submit(run_job, root, project, minor, env)
            for minor, env in zip(PYTHONS, envs, strict=True)
        ]
        return [f.result() for f in futures]


def check(root: Path, jobs: list[Job]) -> None:
    report = "\n\n".join(f"--- {j.minor}\n{j.output[-3000:]}" for j in jobs)
    assert [j.install.returncode for j in jobs] == [0] * 4, report
    assert [j.tests.returncode for j in jobs] == [0] * 4, report
    assert [j.python() for j in jobs] == list(PYTHONS), report
    passed = [j.passed() for j in jobs]
    assert len(set(passed)) == 1, report  # every job ran the whole suite
    assert passed[0] > 0, report
    assert sum(j.output.count(OUTDATED) for j in jobs) == 0, report
    assert not (root / ".poetry").exists(), "no plugin may land in the shared checkout"
    for job in jobs:
        print(f"{root.name} {job.minor}: {job.summary()}")


def test_uciparse_matrix_with_one_shared_poetry(shared_install_dir: Path, tmp_path: Path) -> None:
    """The action's default: every job uses the host's one Poetry install."""
    project = UCIPARSE
    root = checkout(project, tmp_path)
    setups = matrix_setups(
        root, shared_install_dir, tmp_path / "state", poetry_on_matrix_python=False
    )
    assert len({s.outputs["poetry-venv"] for s in setups}) == 1

    check(root, run_matrix(root, project, setups))


def test_apologies_matrix_with_poetry_on_each_matrix_python(
    shared_install_dir: Path, tmp_path: Path
) -> None:
    """As their CI installs Poetry (pronovic/setup-poetry: pipx on the matrix Python): Poetry
    runs on four interpreters, the case where jobs rewrite a shared `.poetry/plugins`."""
    project = APOLOGIES
    root = checkout(project, tmp_path)
    setups = matrix_setups(
        root, shared_install_dir, tmp_path / "state", poetry_on_matrix_python=True
    )
    assert len({s.outputs["poetry-venv"] for s in setups}) == 4

    check(root, run_matrix(root, project, setups))


def poetry_install(root: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["poetry", "install"], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    return done.stdout + done.stderr


def test_apologies_control_without_the_moved_plugin_cache(
    shared_install_dir: Path, tmp_path: Path
) -> None:
    """Control: the same four jobs without POETRY_PROJECT_PLUGIN_CACHE share the checkout's
    `.poetry/plugins` and rebuild it under each other. One round at once, then one job after
    another (any order of four interpreters makes at least three rebuilds)."""
    project = APOLOGIES
    root = checkout(project, tmp_path)
    setups = matrix_setups(
        root, shared_install_dir, tmp_path / "state", poetry_on_matrix_python=True
    )
    envs = [
        without_the_moved_cache(s.env(), s.outputs["poetry-path"], tmp_path / f"plain-{i}")
        for i, s in enumerate(setups)
    ]
    lock_project(root, envs[0])

    with ThreadPoolExecutor(max_workers=len(envs)) as pool:
        outputs = list(pool.map(lambda env: poetry_install(root, env), envs))
    outputs += [poetry_install(root, env) for env in envs]

    rebuilds = sum(output.count(OUTDATED) for output in outputs)
    print(f"{project.name} control: {rebuilds} plugin-cache rebuilds in 8 installs")
    assert (root / ".poetry" / "plugins").is_dir()
    assert rebuilds >= 3, "\n".join(outputs)
