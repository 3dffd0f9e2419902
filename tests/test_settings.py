"""Inputs are validated before anything happens; defaults come from the runner's variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from setup_poetry_parallel.errors import InputError
from setup_poetry_parallel.jobs.job_ids import default_job_id
from setup_poetry_parallel.settings import (
    RawInputs,
    inputs_from_env,
    validate,
)


def raw(**changes: str | tuple[str, ...]) -> RawInputs:
    return RawInputs(**{"poetry_version": "2.5.1", **changes})  # type: ignore[arg-type]


def test_defaults_off_a_runner(tmp_path: Path) -> None:
    settings = validate(raw(), {"XDG_CACHE_HOME": str(tmp_path)})
    assert settings.install_dir == tmp_path / "setup-poetry-parallel"
    assert settings.installer == "uv"
    assert settings.output_format == "sh"
    assert settings.lock_timeout == 900
    assert settings.project_plugins is True


def test_defaults_on_a_runner(tmp_path: Path) -> None:
    environ = {
        "GITHUB_ACTIONS": "true",
        "RUNNER_TOOL_CACHE": str(tmp_path / "tc"),
        "RUNNER_TEMP": str(tmp_path / "temp"),
        "GITHUB_RUN_ID": "42",
        "GITHUB_JOB": "test",
    }
    settings = validate(raw(), environ)
    assert settings.install_dir == tmp_path / "tc" / "setup-poetry-parallel"
    assert settings.state_dir == tmp_path / "temp" / "setup-poetry-parallel"
    assert settings.output_format == "github"
    assert settings.job_id.startswith("42-1-test-")


def test_job_ids_differ_per_matrix_entry_and_attempt() -> None:
    base = {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "7", "GITHUB_JOB": "t", "RUNNER_TEMP": "/r"}
    ids = {
        default_job_id({**base, "SPP_JOB_INDEX": index, "GITHUB_RUN_ATTEMPT": attempt})
        for index in ("0", "1", "2")
        for attempt in ("1", "2")
    }
    assert len(ids) == 6
    assert default_job_id(base) == default_job_id(dict(base))  # stable within a job


def test_action_inputs_come_from_env() -> None:
    inputs = inputs_from_env(
        {
            "INPUT_POETRY_VERSION": " 2.5.1 ",
            "INPUT_PYTHON_VERSION": "3.12",
            "INPUT_PYTHON_VERSIONS": "3.10\n3.11 3.13",
            "INPUT_PLUGINS": "poetry-plugin-export>=1.8\n\n  a ; python_version < '3.12'\n",
        }
    )
    assert inputs.poetry_version == "2.5.1"
    assert inputs.python_versions == ("3.12", "3.10", "3.11", "3.13")
    assert inputs.plugins == ("poetry-plugin-export>=1.8", "a ; python_version < '3.12'")


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"poetry_version": "2.x"}, "poetry-version '2.x'"),
        ({"poetry_version": "v2.5.1"}, "poetry-version 'v2.5.1'"),
        ({"installer": "conda"}, "installer 'conda'"),
        ({"lock_timeout": "soon"}, "lock-timeout 'soon'"),
        ({"lock_timeout": "-1"}, "lock-timeout '-1'"),
        ({"lock_timeout": "0"}, "lock-timeout '0'"),
        ({"lock_timeout": "inf"}, "lock-timeout 'inf'"),
        ({"python_versions": ("three",)}, "python-version 'three'"),
        ({"plugins": ("not a requirement!",)}, "plugins: 'not a requirement!'"),
        ({"working_directory": "/does/not/exist"}, "working-directory '/does/not/exist'"),
        ({"job_id": "../escape"}, "job-id '../escape'"),
        ({"project_plugins": "maybe"}, "project-plugins 'maybe'"),
        ({"output_format": "xml"}, "format 'xml'"),
        ({"install_dir": "a\nb"}, "install-dir"),
    ],
)
def test_bad_input_names_the_input(changes: dict[str, str], names: str) -> None:
    with pytest.raises(InputError) as caught:
        validate(raw(**changes), {})
    assert names in caught.value.message
    assert "\n" not in caught.value.message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("version", ["2.5.1", "2.5", "latest", "2.0.0b1", "1.8.5", "2.5.1.post1"])
def test_accepted_poetry_versions(version: str) -> None:
    assert validate(raw(poetry_version=version), {}).poetry_version == version


@pytest.mark.parametrize(
    ("env", "project_python"),
    [
        ({"INPUT_PYTHON_VERSION": "3.12", "INPUT_PYTHON_VERSIONS": "3.10 3.11"}, "3.12"),
        # tox: an env pinned by `poetry env use` would win over the tox env's VIRTUAL_ENV
        ({"INPUT_PYTHON_VERSIONS": "3.10\n3.11"}, None),
    ],
)
def test_only_python_version_picks_the_project_env(
    env: dict[str, str], project_python: str | None
) -> None:
    settings = validate(inputs_from_env({"INPUT_POETRY_VERSION": "2.5.1", **env}), {})
    assert settings.project_python == project_python


def test_cli_python_version_once_is_the_project_env() -> None:
    from setup_poetry_parallel.cli import parser, raw_inputs

    def project_python(*argv: str) -> str:
        return raw_inputs(
            parser().parse_args(["--poetry-version", "2.5.1", *argv]), {}
        ).project_python

    assert project_python("--python-version", "3.12") == "3.12"
    assert project_python("--python-version", "3.12", "--python-version", "3.13") == ""
