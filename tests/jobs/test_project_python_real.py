"""`python-version` on every Poetry 2.x line: the project env gets the requested Python without
`poetry env use` (project_env.py), when that Python is neither the one Poetry runs on nor the
caller's `python`, so that neither could pass for it. Then, on 2.5.1: the control (the same job
without our `python` link gets the caller's Python: the checks can fail), the job whose `python`
already is the requested one (left alone) and the fallbacks to `poetry env use`.

One build per line in the session's install dir, one package cache (conftest.py); a project
without plugins, so the builds are small.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.engine_cli import Setup, argv, finish, start
from tests.projects import make_project, python_path

pytestmark = pytest.mark.real

POETRY_ON, WANT, CALLER = "3.11", "3.12", "3.10"  # Poetry's Python, requested, caller's python
VERSION = "import sys; print('%d.%d' % sys.version_info[:2])"
# 2.0.1 passes the interpreter as virtualenv's `--try-first-with`: its table keeps virtualenv
# below 20.33, which ignores it (lock_poetry.KNOWN_BREAKAGES, python-poetry/poetry#10490).
LINES = ("2.0.1", "2.1.4", "2.2.1", "2.3.4", "2.4.3", "2.5.1")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("python-version") / "project", plugins="")


def caller_env(tmp_path: Path, python: str = CALLER, **extra: str) -> dict[str, str]:
    """The job before the setup: `python` is `python` (a version we do not ask for) first."""
    caller = tmp_path / "caller-bin"
    caller.mkdir(parents=True)
    (caller / "python").symlink_to(python_path(python))
    return {**os.environ, "PATH": f"{caller}{os.pathsep}{os.environ['PATH']}", **extra}


def setup(
    version: str,
    project: Path,
    install_dir: Path,
    state: Path,
    env: dict[str, str],
    want: str = WANT,
) -> Setup:
    command = argv(project, install_dir, state, "job", "--python-version", want)
    command[command.index("--poetry-version") + 1] = version
    command += ["--poetry-python", str(python_path(POETRY_ON))]
    done = finish(start(command, env))
    assert done.returncode == 0, done.stderr
    return done


def run(command: list[str], project: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def project_python(project: Path, env: dict[str, str]) -> tuple[str, str]:
    """(`poetry run python`'s version, the version of `poetry env info --executable`)."""
    ran = run(["poetry", "run", "python", "-c", VERSION], project, env)
    executable = run(["poetry", "env", "info", "--executable"], project, env)
    assert Path(executable).is_relative_to(env["POETRY_VIRTUALENVS_PATH"]), executable
    return ran, run([executable, "-c", VERSION], project, env)


@pytest.mark.parametrize("version", LINES)
def test_the_project_env_has_the_requested_python(
    version: str, project: Path, shared_install_dir: Path, tmp_path: Path
) -> None:
    before = caller_env(tmp_path)
    done = setup(version, project, shared_install_dir, tmp_path / "state", before)
    assert "poetry env use" not in done.stderr, done.stderr
    env = done.env(before)
    # Later steps' python is the requested one, as setup-python would make it; pip with it.
    job_pythons = Path(done.result["path"][1])
    assert shutil.which("python", path=env["PATH"]) == str(job_pythons / "python")
    assert run(["python", "-c", VERSION], project, env) == WANT
    assert run(["pip", "--version"], project, env).endswith(f"(python {WANT})")
    assert project_python(project, env) == (WANT, WANT)


def test_control_without_the_link_the_env_gets_the_callers_python(
    project: Path, shared_install_dir: Path, tmp_path: Path
) -> None:
    """What the test above guards: the same job without our `python` link, the caller's first."""
    before = caller_env(tmp_path)
    done = setup("2.5.1", project, shared_install_dir, tmp_path / "state", before)
    env = done.env(before)
    (Path(done.result["path"][1]) / "python").unlink()
    assert project_python(project, env) == (CALLER, CALLER)


def test_a_job_whose_python_is_the_requested_one_is_left_alone(
    project: Path, shared_install_dir: Path, tmp_path: Path
) -> None:
    """The matrix case: actions/setup-python put the same version first. No link, no env use."""
    before = caller_env(tmp_path, python=WANT)
    done = setup("2.5.1", project, shared_install_dir, tmp_path / "state", before)
    assert "poetry env use" not in done.stderr, done.stderr
    env = done.env(before)
    assert shutil.which("python", path=env["PATH"]) == str(tmp_path / "caller-bin" / "python")
    assert not (Path(done.result["path"][1]) / "pip").exists()
    assert project_python(project, env) == (WANT, WANT)


def test_use_poetry_python_falls_back_to_env_use(
    project: Path, shared_install_dir: Path, tmp_path: Path
) -> None:
    """With Poetry's own Python preferred, the PATH cannot decide: `poetry env use` pins it,
    and the job's `python` stays the caller's."""
    before = caller_env(tmp_path, POETRY_VIRTUALENVS_USE_POETRY_PYTHON="true")
    done = setup("2.5.1", project, shared_install_dir, tmp_path / "state", before)
    assert "poetry env use, since virtualenvs.use-poetry-python" in done.stderr, done.stderr
    env = done.env(before)
    assert shutil.which("python", path=env["PATH"]) == str(tmp_path / "caller-bin" / "python")
    assert project_python(project, env) == (WANT, WANT)


def test_a_reused_job_pinned_to_another_minor_falls_back_to_env_use(
    project: Path, shared_install_dir: Path, tmp_path: Path
) -> None:
    """A job id run before (self-hosted) whose envs.toml pins 3.13: the pin would beat the
    PATH, so `poetry env use` moves it."""
    pinned = caller_env(tmp_path / "first", POETRY_VIRTUALENVS_USE_POETRY_PYTHON="true")
    setup("2.5.1", project, shared_install_dir, tmp_path / "state", pinned, want="3.13")
    assert "3.13" in (tmp_path / "state" / "job" / "virtualenvs" / "envs.toml").read_text()
    before = caller_env(tmp_path)
    done = setup("2.5.1", project, shared_install_dir, tmp_path / "state", before)
    assert "poetry env use, since envs.toml pins Python 3.13" in done.stderr, done.stderr
    assert project_python(project, done.env(before)) == (WANT, WANT)
