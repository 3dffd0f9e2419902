"""The README's "Install" for the CLI, done for real from this checkout: the release's wheel
with pip, and the git URL at a release tag with pip and with `uv tool install`, each into a
fresh venv (or tool dir) under the test's temporary directory, then `setup-poetry-parallel
--version`. The git URL is `git+file://` of a repository made from the files a fresh checkout
of this working tree holds, tagged as a release would be: the same code path as
`git+https://github.com/...@vX.Y.Z` (pip and uv clone, check out the tag, build with the
project's backend from the index), without the network to GitHub.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.repo import REPO as ROOT
from tests.test_release import checkout_copy, venv_tool

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
TAG = f"v{VERSION}"


def run(*argv: str | Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, check=False, env=env
    )
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}{done.stderr}"
    return done.stdout.strip()


@pytest.fixture(scope="module")
def release_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository of this working tree (tracked and new files), tagged vX.Y.Z."""
    repo = checkout_copy(tmp_path_factory.mktemp("repo"))
    git = ("git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid")
    run(*git, "init", "-q")
    run(*git, "add", "-A")
    run(*git, "commit", "-qm", "release")
    run(*git, "tag", "-a", TAG, "-m", TAG)
    return repo


def fresh_venv(where: Path) -> Path:
    """A venv with pip, as a user's `python -m venv` gives."""
    run(sys.executable, "-m", "venv", where)
    return where / "bin"


def test_pip_installs_the_release_wheel(release_repo: Path, tmp_path: Path) -> None:
    uv = venv_tool("uv")
    assert uv, "uv is not installed in this venv (pip install -e '.[test]')"
    run(uv, "build", "--quiet", "--wheel", "--out-dir", tmp_path / "dist", release_repo)
    wheel = tmp_path / "dist" / f"setup_poetry_parallel-{VERSION}-py3-none-any.whl"
    assert wheel.is_file(), sorted(p.name for p in (tmp_path / "dist").iterdir())
    bin_dir = fresh_venv(tmp_path / "venv")
    run(bin_dir / "pip", "install", "--quiet", "--disable-pip-version-check", wheel)
    assert run(bin_dir / "setup-poetry-parallel", "--version") == f"setup-poetry-parallel {VERSION}"


def test_pip_installs_the_git_url_at_the_release_tag(release_repo: Path, tmp_path: Path) -> None:
    bin_dir = fresh_venv(tmp_path / "venv")
    url = f"git+{release_repo.as_uri()}@{TAG}"
    run(bin_dir / "pip", "install", "--quiet", "--disable-pip-version-check", url)
    assert run(bin_dir / "setup-poetry-parallel", "--version") == f"setup-poetry-parallel {VERSION}"


def test_uv_tool_installs_the_git_url_at_the_release_tag(
    release_repo: Path, tmp_path: Path
) -> None:
    uv = venv_tool("uv")
    assert uv
    env = {
        **os.environ,
        "UV_TOOL_DIR": str(tmp_path / "tools"),
        "UV_TOOL_BIN_DIR": str(tmp_path / "bin"),
    }
    url = f"git+{release_repo.as_uri()}@{TAG}"
    run(uv, "tool", "install", "--quiet", "--python", sys.executable, url, env=env)
    version = run(tmp_path / "bin" / "setup-poetry-parallel", "--version", env=env)
    assert version == f"setup-poetry-parallel {VERSION}"
