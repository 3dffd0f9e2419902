"""Shared fixtures. Nothing here writes outside pytest's temporary directories.

HOME, XDG dirs and the package caches of uv, pip and Poetry point into one session
directory, so the real installs of a run share one download cache and the real home
is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.projects import POETRY_VERSION, make_project, pyenv_root

REAL_PYENV = pyenv_root()


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One rule for the `real` marker: every test in a `*_real.py` file has it, so a quick loop
    (`-m "not real"`) never runs one by a forgotten mark. Real tests elsewhere are listed with
    their reason in test_structure.py."""
    for item in items:
        if item.path.name.endswith("_real.py"):
            item.add_marker(pytest.mark.real)


@pytest.fixture(scope="session", autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    caches = home / ".cache"
    saved = dict(os.environ)
    os.environ.update(
        {
            "HOME": str(home),
            "XDG_CACHE_HOME": str(caches),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "UV_CACHE_DIR": str(caches / "uv"),
            "PIP_CACHE_DIR": str(caches / "pip"),
            "POETRY_CACHE_DIR": str(caches / "pypoetry"),
            "PYENV_ROOT": REAL_PYENV,
            "UV_PYTHON_DOWNLOADS": "never",
        }
    )
    for name in (
        "GITHUB_ACTIONS",
        "GITHUB_ENV",
        "GITHUB_PATH",
        "GITHUB_OUTPUT",
        "RUNNER_TEMP",
        "RUNNER_TOOL_CACHE",
        "GITHUB_STEP_SUMMARY",
        "VIRTUAL_ENV",
    ):
        os.environ.pop(name, None)
    yield home
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def shared_install_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One install dir for the real tests of a session: Poetry is built there once."""
    return tmp_path_factory.mktemp("install")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def have_git() -> bool:
    return (
        shutil.which("git") is not None
        and subprocess.run(["git", "--version"], check=False).returncode == 0
    )


__all__ = ["POETRY_VERSION"]
