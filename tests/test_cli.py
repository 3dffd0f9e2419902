"""The CLI contract: exit codes, one-line errors, annotations and groups on a runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from setup_poetry_parallel.cli import main


def runner_env(tmp_path: Path) -> dict[str, str]:
    files = {
        name: tmp_path / name.lower() for name in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT")
    }
    for path in files.values():
        path.write_text("")
    return {
        "GITHUB_ACTIONS": "true",
        "RUNNER_TEMP": str(tmp_path / "temp"),
        "RUNNER_TOOL_CACHE": str(tmp_path / "tool-cache"),
        **{name: str(path) for name, path in files.items()},
    }


def test_plan_prints_the_cache_key_without_installing(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["--poetry-version", "2.5.1", "--working-directory", str(project), "--install-dir",
         str(tmp_path / "i"), "--plan", "--format", "json"],
        {},
    )  # fmt: skip
    assert code == 0
    outputs = json.loads(capsys.readouterr().out)["outputs"]
    assert outputs["cache-key"].startswith("setup-poetry-parallel-")
    assert Path(outputs["install-path"]).parent == tmp_path / "i"
    assert not Path(outputs["install-path"]).exists()


def test_on_a_runner_warnings_become_annotations_inside_a_group(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = runner_env(tmp_path)
    argv = ["--inputs-from-env", "--plan"]
    env.update({"INPUT_POETRY_VERSION": "2.5.1", "INPUT_WORKING_DIRECTORY": str(project),
                "INPUT_PROJECT_PLUGINS": "false"})  # fmt: skip
    assert main(argv, env) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "::group::setup-poetry-parallel"
    assert out[-1] == "::endgroup::"
    assert any(
        line.startswith("::warning title=setup-poetry-parallel::project-plugins is false")
        for line in out
    )
    assert "cache-key<<" in Path(env["GITHUB_OUTPUT"]).read_text()


def test_an_input_error_is_one_line_an_annotation_at_the_file_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.poetry]\nname = 'x'\n= broken\n")
    env = runner_env(tmp_path)
    env.update({"INPUT_POETRY_VERSION": "2.5.1", "INPUT_WORKING_DIRECTORY": str(tmp_path)})
    assert main(["--inputs-from-env"], env) == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    assert "Traceback" not in captured.err
    annotation = next(line for line in captured.out.splitlines() if line.startswith("::error "))
    assert f"file={tmp_path / 'pyproject.toml'},line=3" in annotation
    for name in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT"):
        assert Path(env[name]).read_text() == ""


def test_a_committed_project_plugin_cache_is_refused_when_project_plugins_are(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `.pth` file in `<project>/.poetry/plugins` runs before any plugin could stop it."""
    (project / ".poetry" / "plugins").mkdir(parents=True)
    (project / ".poetry" / "plugins" / "evil.pth").write_text("import os\n")
    base = ["--poetry-version", "2.5.1", "--working-directory", str(project), "--plan"]
    assert main([*base, "--project-plugins", "false", "--format", "json"], {}) == 2
    assert "delete it" in capsys.readouterr().err
    assert main([*base, "--format", "json"], {}) == 0
    assert "is left from a run without this setup" in capsys.readouterr().err
