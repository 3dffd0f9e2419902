"""`cache: true`: the key that action.yml's plan step computes (`--plan`) before the install.

actions/cache itself cannot be downloaded on this machine; under act, tests/test_act.py runs
action.yml's cache steps with a stand-in for it (save, then restore on a clean install dir).
What is checked here, with the real CLI on real inputs: the key changes with everything that
makes two installs different, stays put for everything else, and the plan step gets every
input that the key depends on, with the same values as the setup step.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from setup_poetry_parallel.cli import main
from tests.act_runner import ROOT

BASE = ("--poetry-version", "2.5.1")


@pytest.fixture
def plan(project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    def run(*argv: str, working_directory: Path = project) -> dict[str, str]:
        args = ["--plan", "--format", "json", "--working-directory", str(working_directory)]
        assert (
            main(
                [*BASE, *args, "--install-dir", str(tmp_path / "install"), *argv], dict(os.environ)
            )
            == 0
        )
        return json.loads(capsys.readouterr().out)["outputs"]

    return run


def test_plan_names_the_os_and_the_install_path(plan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    outputs = plan()
    prefix = f"setup-poetry-parallel-{sys.platform}-{platform.machine()}-poetry-2.5.1-py"
    assert outputs["cache-key"].startswith(prefix)
    key = outputs["cache-key"].removeprefix(
        f"setup-poetry-parallel-{sys.platform}-{platform.machine()}-"
    )
    assert outputs["install-path"] == str(tmp_path / "install" / key)
    assert not (tmp_path / "install").exists()  # --plan installs nothing


@pytest.mark.parametrize(
    "argv",
    [
        ("--poetry-version", "2.5.0"),
        ("--plugin", "poetry-plugin-export>=1.8"),
        ("--installer", "pip"),
        ("--poetry-python", "3.12"),
        ("--project-plugins", "false"),
        ("--poetry-dependencies", "latest"),
    ],
)
def test_key_changes_with_what_is_installed(plan, argv: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    assert plan(*argv)["cache-key"] != plan()["cache-key"]


@pytest.mark.parametrize(
    "argv",
    [
        (),
        ("--installer", "auto"),  # auto is uv
        ("--python-version", "3.12"),  # the project's Python, not Poetry's
        ("--job-id", "another-job"),
        ("--state-dir", "/elsewhere"),
        ("--lock-timeout", "5"),
        ("--poetry-dependencies", "locked"),  # the default
    ],
)
def test_key_is_stable_otherwise(plan, argv: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    assert plan(*argv)["cache-key"] == plan()["cache-key"]


def test_plugin_order_and_project_location_do_not_matter(
    plan, project: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    a, b = "poetry-plugin-export>=1.8", "poetry-plugin-up>=0.9"
    assert plan("--plugin", a, "--plugin", b) == plan("--plugin", b, "--plugin", a)
    copy = shutil.copytree(project, tmp_path / "elsewhere")
    assert plan(working_directory=copy)["cache-key"] == plan()["cache-key"]


def test_plan_step_gets_every_input_the_key_depends_on() -> None:
    steps = {
        s.get("id"): s for s in yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]
    }
    plan_env, setup_env = steps["plan"]["env"], steps["setup"]["env"]
    key_inputs = {
        "INPUT_POETRY_VERSION",
        "INPUT_PLUGINS",
        "INPUT_WORKING_DIRECTORY",  # where requires-plugins is read
        "INPUT_INSTALL_DIR",  # where the cached path is
        "INPUT_POETRY_PYTHON",
        "INPUT_INSTALLER",
        "INPUT_PROJECT_PLUGINS",
        "INPUT_POETRY_DEPENDENCIES",  # the table's digest is in the key
    }
    assert key_inputs <= set(plan_env)
    assert {name: setup_env[name] for name in plan_env} == plan_env
    # The cache steps save and restore exactly what the plan names, under its key.
    for step in (
        steps["restore"],
        next(s for s in steps.values() if "cache/save@" in s.get("uses", "")),
    ):
        assert step["with"] == {
            "path": "${{ steps.plan.outputs.install-path }}",
            "key": "${{ steps.plan.outputs.cache-key }}",
        }
