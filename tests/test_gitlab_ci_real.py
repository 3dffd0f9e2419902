"""examples/gitlab-ci/.gitlab-ci.yml, run under gitlab-ci-local on this host.

Without --shell-isolation every job runs in the checkout itself, as shell runners (or jobs
sharing a volume) do: four matrix jobs and a tox job on ONE project directory at once. The
example checks its own promises (a failed line fails its job); this test checks what only shows
across jobs: one Poetry build for all of them, nothing written into the shared project, the
dotenv report as GitLab reads it and a later job reading it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from uv import find_uv_bin

from tests.gitlab_ci_local import Pipeline, Unavailable, bin_dir, run
from tests.projects import POETRY_VERSION, PYTHONS
from tests.repo import FIXTURES, REPO
from tests.test_ci_examples import Example, problems

EXAMPLE = REPO / "examples" / "gitlab-ci" / ".gitlab-ci.yml"
JOBS = [*(f"python: [{v}]" for v in PYTHONS), "tox", "report"]
TAG = "v1.2.3"  # the sample's version, through poetry-dynamic-versioning
# The checkout the pipeline runs in: the CLI's sources (`pip install .`) and the sample project.
CLI_FILES = ("pyproject.toml", "src", "README.md", "LICENSE")


@pytest.fixture(scope="session")
def tools(isolated_home: Path) -> Path:
    try:
        return bin_dir(npm_cache=isolated_home / ".cache" / "npm")
    except Unavailable as why:
        pytest.skip(str(why))


def checkout(root: Path) -> Path:
    """A new git repository, as GitLab checks it out: the CLI, the example, the sample in demo/."""
    root.mkdir(parents=True)
    for name in CLI_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, root / name)
    shutil.copytree(FIXTURES / "act" / "project", root / "demo")
    shutil.copy(EXAMPLE, root / ".gitlab-ci.yml")
    git = ["git", "-c", "user.name=gitlab test", "-c", "user.email=gitlab@example.invalid"]
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["commit", "-qm", "fixture"],
        ["tag", TAG],
        # gitlab-ci-local derives CI_PROJECT_* from it; never fetched.
        ["remote", "add", "origin", "https://gitlab.example.invalid/group/demo.git"],
    ):
        subprocess.run([*git, *args], cwd=root, check=True, capture_output=True)
    return root


def pipeline_env(environ: Mapping[str, str], scratch: Path) -> dict[str, str]:
    """The session's environment as a fresh shell runner's: its package caches (UV_CACHE_DIR,
    PIP_CACHE_DIR, POETRY_CACHE_DIR) pass on, this venv's `bin` (our own CLI) does not, and
    the setup's default install and state dirs (under XDG_CACHE_HOME) start empty."""
    venv_bin = str(Path(sys.executable).parent)
    env = {
        name: value
        for name, value in environ.items()
        if name != "VIRTUAL_ENV" and not name.startswith(("PYTEST_", "CI_", "GITLAB_"))
    }
    # The runner's uv (the example's prerequisite): this venv's, alone in a dir of its own.
    uv_bin = scratch / "uv-bin"
    uv_bin.mkdir(parents=True)
    (uv_bin / "uv").symlink_to(find_uv_bin())
    env["PATH"] = os.pathsep.join(
        [
            str(uv_bin),
            *(p for p in environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin),
        ]
    )
    env["XDG_CACHE_HOME"] = str(scratch / "cache")
    env["TMPDIR"] = str(scratch / "tmp")  # the jobs' `mktemp -d` (their CLI venvs)
    (scratch / "tmp").mkdir(parents=True)
    return env


def test_example_uses_the_cli_safely() -> None:
    """The rules of the other CI examples (tests/test_ci_examples.py): `-- CMD` or a format
    written to a file, never eval. GitLab pastes nothing into `script`, so no template syntax
    is banned; its header says that it runs here, not NOT RUN HERE."""
    example = Example("gitlab-ci/.gitlab-ci.yml", ".gitlab-ci.yml", None, ())
    found = problems(example, EXAMPLE.read_text())
    assert [p for p in found if "NOT RUN HERE" not in p] == []


def test_example_lints(tools: Path, tmp_path: Path) -> None:
    """gitlab-ci-local validates the file against GitLab's schema and expands the matrix."""
    repo = checkout(tmp_path / "repo")
    listed = run(tools, repo, pipeline_env(os.environ, tmp_path), "--list", timeout=120)
    assert listed.returncode == 0, listed.output
    assert "json schema validated" in listed.output
    names = [line.split("  ")[0] for line in listed.lines()]
    assert all(job in names for job in JOBS), listed.output


def test_pipeline(tools: Path, tmp_path: Path) -> None:
    repo = checkout(tmp_path / "repo")
    env = pipeline_env(os.environ, tmp_path)
    result = run(tools, repo, env)
    (tmp_path / "pipeline.log").write_text(result.output)  # kept by pytest for a failed run
    print(f"gitlab-ci-local: exit {result.returncode} in {result.seconds:.1f} s")
    assert_passed(result)

    # Each matrix job's project env is its Python; tox ran all four in one job.
    version = TAG.removeprefix("v")
    reports = result.printed("sample ")
    assert {job: reports.get(job) for job in JOBS[:4]} == {
        f"python: [{v}]": [f"{version} on Python {v}"] for v in PYTHONS
    }, reports
    tox_envs = result.printed("TOX-ENV sample ").get("tox", [])
    assert sorted(tox_envs) == [f"{version} on Python {v}" for v in PYTHONS], tox_envs

    # One shared directory: every setup read the one project, in the checkout itself.
    setups = result.printed("plugins from ")  # `<pyproject.toml>: <requirements>`
    assert set(setups) == set(JOBS) - {"report"}, setups
    projects = {line.split(": ")[0] for lines in setups.values() for line in lines}
    assert projects == {str(repo / "demo" / "pyproject.toml")}, projects
    # One Poetry build for the five jobs (and the tox job's later setups): one published
    # build, in the one install dir every job defaulted to.
    assert result.output.count("published build") == 1, result.output
    builds = list(Path(env["XDG_CACHE_HOME"]).glob("setup-poetry-parallel/poetry-*/builds/*"))
    assert len(builds) == 1, builds
    # Nothing written into the shared project: no plugin cache, pyproject.toml as committed.
    assert not (repo / "demo" / ".poetry").exists()
    assert not (repo / "demo" / ".tox").exists()  # tox worked in the job's TOX_WORK_DIR
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout == ""

    assert_dotenv_report(repo / ".gitlab-ci-local" / "artifacts" / "tox")
    assert result.printed("Poetry ")["report"][0].startswith(f"{POETRY_VERSION},")


def assert_passed(result: Pipeline) -> None:
    tail = result.output[-6000:]
    assert result.returncode == 0, tail
    assert sorted(result.passed()) == sorted(JOBS), tail
    assert not result.failed(), tail


def assert_dotenv_report(artifacts: Path) -> None:
    """As GitLab reads a dotenv report: `NAME=value` per line, the value taken literally (no
    quotes to strip), at most 20 variables; no PATH (it would replace the later job's).

    Checked in the file: gitlab-ci-local strips quotes that GitLab keeps (measured: `A="1"`
    reaches its later job as `1`), so the report job alone would not catch them."""
    (report,) = artifacts.glob("**/dotenv/setup.env")
    lines = report.read_text().splitlines()
    values = dict(line.split("=", 1) for line in lines)
    assert len(values) == len(lines) <= 20
    assert "PATH" not in values
    assert values["POETRY_RELEASE"] == POETRY_VERSION
    assert values["POETRY_NO_INTERACTION"] == "1"
    assert not [v for v in values.values() if v.startswith(('"', "'"))], values
