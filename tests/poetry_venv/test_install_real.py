"""Real installs: the engine installs Poetry 2.5.1 with poetry-dynamic-versioning, for real."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.engine_cli import setup

pytestmark = pytest.mark.real


def poetry(env: dict[str, str], *args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["poetry", *args], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_engine_installs_poetry_and_the_project_plugins(
    project: Path, shared_install_dir: Path, tmp_path: Path
) -> None:
    first = setup(
        project, shared_install_dir, tmp_path / "state", "job-a", "--python-version", "3.12"
    )
    assert first.returncode == 0, first.stderr
    outputs = first.outputs
    assert outputs["poetry-version"] == "2.5.1"
    assert json.loads(outputs["plugins"]) == ["poetry-dynamic-versioning[plugin] (>=1.0.0,<2.0.0)"]
    env = first.env()
    assert poetry(env, "--version", cwd=project).strip() == "Poetry (version 2.5.1)"
    plugins = poetry(env, "self", "show", "plugins", cwd=project)
    assert "poetry-dynamic-versioning" in plugins
    assert "setup-poetry-parallel-plugin-cache" in plugins
    # The job's shim, not Poetry's venv bin/, is on PATH: python and pip stay the job's.
    bin_dir = Path(first.result["path"][0])
    assert sorted(p.name for p in bin_dir.iterdir()) == ["poetry"]

    config = Path(env["POETRY_PROJECT_PLUGIN_CACHE"]) / "config.toml"
    seeded = config.stat().st_mtime_ns, config.read_text()
    installed = poetry(env, "install", cwd=project)
    # Poetry found the cache the engine seeded fresh: it neither rebuilt nor rewrote it.
    assert "plugin cache" not in installed
    assert (config.stat().st_mtime_ns, config.read_text()) == seeded
    version = poetry(
        env, "run", "python", "-c", "import sys; print(sys.version_info[:2])", cwd=project
    )
    assert version.strip() == "(3, 12)"
    assert not (project / ".poetry").exists(), "the shared project must get no plugin cache"
    assert (Path(env["POETRY_PROJECT_PLUGIN_CACHE"]) / "config.toml").is_file()

    again = setup(project, shared_install_dir, tmp_path / "state", "job-b")
    assert again.returncode == 0, again.stderr
    assert (outputs["reused"], again.outputs["reused"]) in {("false", "true"), ("true", "true")}
    assert again.outputs["poetry-path"] == outputs["poetry-path"]
    assert again.outputs["job-dir"] != outputs["job-dir"]


def test_pip_installer_builds_the_same_poetry(project: Path, tmp_path: Path) -> None:
    """The fallback installer, end to end (slower: pip resolves without uv's cache)."""
    done = setup(project, tmp_path / "install", tmp_path / "state", "pip-job", "--installer", "pip")
    assert done.returncode == 0, done.stderr
    assert done.outputs["reused"] == "false"
    assert "-pip-" in done.outputs["cache-key"]
    assert poetry(done.env(), "--version", cwd=project).strip() == "Poetry (version 2.5.1)"
