"""Which route gives the project env its Python (project_env.py): fast, no program started.

`choose` on each case, then `facts` on the files and variables a job has: poetry.toml, the
job's config.toml, envs.toml, the project's Python constraint.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from setup_poetry_parallel.interpreters import Interpreter
from setup_poetry_parallel.jobs.project_env import Facts, Route, choose, facts

WANT = Interpreter(Path("/opt/py/3.12.1/bin/python3.12"), "3.12.1")
OTHER = Path("/usr/bin/python3.10")

BASE = Facts(
    requested=WANT,
    path_python=OTHER,
    windows=False,
    use_poetry_python=False,
    create=True,
    active_env=None,
    pinned_minors=frozenset(),
    allowed=True,
)


@pytest.mark.parametrize(
    ("change", "route", "why"),
    [
        ({}, Route.LINK, "was /usr/bin/python3.10"),
        ({"path_python": None}, Route.LINK, "no python on PATH"),
        ({"path_python": WANT.path}, Route.KEEP, "/opt/py/3.12.1/bin/python3.12"),
        ({"pinned_minors": frozenset({"3.12"})}, Route.LINK, "was /usr/bin/python3.10"),
        ({"windows": True, "path_python": WANT.path}, Route.ENV_USE, "Windows"),
        ({"use_poetry_python": True}, Route.ENV_USE, "use-poetry-python"),
        ({"create": False}, Route.ENV_USE, "virtualenvs.create is false"),
        ({"active_env": "/v"}, Route.ENV_USE, "a virtualenv is active (/v)"),
        ({"pinned_minors": frozenset({"3.12", "3.11"})}, Route.ENV_USE, "pins Python 3.11"),
        ({"pinned_minors": frozenset({"?"})}, Route.ENV_USE, "pins Python ?"),
        ({"allowed": False}, Route.ENV_USE, "does not allow"),
        ({"allowed": None}, Route.ENV_USE, "cannot be read"),
    ],
)
def test_choose(change: dict[str, object], route: Route, why: str) -> None:
    chosen = choose(dataclasses.replace(BASE, **change))  # type: ignore[arg-type]
    assert (chosen.route, why in chosen.why) == (route, True), chosen


def test_the_same_interpreter_through_links_is_kept(tmp_path: Path) -> None:
    """setup-python's `python` -> `python3.12`: one interpreter, left alone. Another file
    (a pyenv shim, a copy), even of the same release, gets the link: nothing is started to
    tell them apart, and the link runs the requested one."""
    (tmp_path / "python3.12").touch()
    (tmp_path / "python").symlink_to("python3.12")
    (tmp_path / "copy").touch()
    requested = dataclasses.replace(WANT, path=tmp_path / "python3.12")
    kept = dataclasses.replace(BASE, requested=requested, path_python=tmp_path / "python")
    assert choose(kept).route is Route.KEEP
    copy = dataclasses.replace(kept, path_python=tmp_path / "copy")
    assert choose(copy).route is Route.LINK


def job_facts(tmp_path: Path, env: dict[str, str] | None = None) -> Facts:
    return facts(
        requested=WANT,
        path_python=OTHER,
        windows=False,
        env_choice=env or {},
        project=tmp_path / "project",
        config_dir=tmp_path / "config",
        virtualenvs=tmp_path / "virtualenvs",
    )


@pytest.fixture
def job(tmp_path: Path) -> Path:
    for name in ("project", "config", "virtualenvs"):
        (tmp_path / name).mkdir()
    (tmp_path / "project" / "pyproject.toml").write_text(
        '[project]\nname = "p"\nrequires-python = ">=3.10"\n'
    )
    return tmp_path


def test_a_plain_job_links(job: Path) -> None:
    assert choose(job_facts(job)).route is Route.LINK


@pytest.mark.parametrize(
    ("env", "use_poetry_python"),
    [
        ({"POETRY_VIRTUALENVS_USE_POETRY_PYTHON": "true"}, True),
        ({"POETRY_VIRTUALENVS_USE_POETRY_PYTHON": "1"}, True),
        ({"POETRY_VIRTUALENVS_USE_POETRY_PYTHON": "false"}, False),
        ({}, False),
    ],
)
def test_use_poetry_python_from_the_environment(
    job: Path, env: dict[str, str], use_poetry_python: bool
) -> None:
    assert job_facts(job, env).use_poetry_python is use_poetry_python


@pytest.mark.parametrize("where", ["project/poetry.toml", "config/config.toml"])
def test_use_poetry_python_from_poetry_toml_or_the_jobs_config(job: Path, where: str) -> None:
    (job / where).write_text("[virtualenvs]\nuse-poetry-python = true\n")
    assert choose(job_facts(job)).route is Route.ENV_USE
    # The environment beats the files, as in Poetry.
    env = {"POETRY_VIRTUALENVS_USE_POETRY_PYTHON": "false"}
    assert choose(job_facts(job, env)).route is Route.LINK


def test_poetry_toml_beats_the_jobs_config(job: Path) -> None:
    (job / "config" / "config.toml").write_text("[virtualenvs]\nuse-poetry-python = true\n")
    (job / "project" / "poetry.toml").write_text("[virtualenvs]\nuse-poetry-python = false\n")
    assert choose(job_facts(job)).route is Route.LINK


def test_an_unreadable_poetry_toml_leaves_it_to_poetry(job: Path) -> None:
    (job / "project" / "poetry.toml").write_text("[virtualenvs\n")
    assert choose(job_facts(job)).route is Route.ENV_USE


def test_create_false_and_active_envs(job: Path) -> None:
    assert job_facts(job, {"POETRY_VIRTUALENVS_CREATE": "false"}).create is False
    assert job_facts(job, {"VIRTUAL_ENV": "/v"}).active_env == "/v"
    assert job_facts(job, {"CONDA_PREFIX": "/c", "CONDA_DEFAULT_ENV": "base"}).active_env is None
    assert job_facts(job, {"CONDA_PREFIX": "/c", "CONDA_DEFAULT_ENV": "x"}).active_env == "/c"


def test_envs_toml_pins(job: Path) -> None:
    envs = job / "virtualenvs" / "envs.toml"
    envs.write_text('[p-AbCdEf12]\nminor = "3.11"\npatch = "3.11.7"\n')
    assert job_facts(job).pinned_minors == {"3.11"}
    assert choose(job_facts(job)).route is Route.ENV_USE
    envs.write_text('[p-AbCdEf12]\nminor = "3.12"\npatch = "3.12.1"\n')
    assert choose(job_facts(job)).route is Route.LINK


@pytest.mark.parametrize(
    ("pyproject", "allowed"),
    [
        ('[project]\nrequires-python = ">=3.10"\n', True),
        ('[project]\nrequires-python = ">=3.10,<3.12"\n', False),
        ('[tool.poetry.dependencies]\npython = "^3.11"\n', True),
        ('[tool.poetry.dependencies]\npython = "~3.11"\n', False),
        (
            '[project]\nrequires-python = ">=3.10"\n[tool.poetry.dependencies]\npython = "<3.12"\n',
            False,
        ),
        ('[project]\nname = "p"\n', True),
        ('[project]\nrequires-python = "not a constraint"\n', None),
        ("[project\n", None),
    ],
)
def test_the_projects_constraint(job: Path, pyproject: str, allowed: bool | None) -> None:
    (job / "project" / "pyproject.toml").write_text(pyproject)
    assert job_facts(job).allowed is allowed
