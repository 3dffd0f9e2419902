"""Per-platform logic, run here for Linux, macOS and Windows runners.

Only Linux runs for real on this machine (and under act); macOS and Windows are exercised by
the self-test workflow on GitHub. What can be checked here is the logic that differs: where
the runner images keep their Pythons, what a venv's executables are called, the `py` launcher,
and the shim that puts `poetry` on PATH.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from setup_poetry_parallel import interpreters
from setup_poetry_parallel.jobs.job import _link
from setup_poetry_parallel.paths import install_paths, job_paths
from setup_poetry_parallel.settings import read_host

# How each runner image lays out actions/setup-python's tool cache (`<tool cache>/Python/...`).
TOOL_CACHE_PYTHON = {
    "linux": "Python/3.12.7/x64/bin/python",
    "macos": "Python/3.12.7/arm64/bin/python",
    "windows": "Python/3.12.7/x64/python.exe",
}
PLATFORMS = tuple(TOOL_CACHE_PYTHON)


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.parametrize("platform", PLATFORMS)
def test_venv_executables(platform: str) -> None:
    windows = platform == "windows"
    root = PureWindowsPath("C:/hostedtoolcache") if windows else PurePosixPath("/opt/tc")
    venv = install_paths(root, "key", windows=windows).build("b")
    job = job_paths(root / "state", "job", windows=windows)
    expected = (
        ("Scripts", "poetry.exe", "python.exe", "poetry.exe")
        if windows
        else ("bin", "poetry", "python", "poetry")
    )
    assert (venv.bin.name, venv.poetry.name, venv.python.name, job.poetry_shim.name) == expected
    # PATH gets the job's bin dir, which holds only the shim: never Poetry's venv bin/Scripts,
    # whose python and pip would shadow the job's own.
    assert job.poetry_shim.parent == job.bin != venv.bin


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_runner_tool_cache_python_is_a_candidate(platform: str, tmp_path: Path) -> None:
    tool_cache = tmp_path / "toolcache"
    python = executable(tool_cache / TOOL_CACHE_PYTHON[platform])
    executable(tool_cache / "Python/3.11.9/x64/bin/python")  # another minor: never a candidate
    environ = {
        "PATH": str(tmp_path / "empty"),
        "RUNNER_TOOL_CACHE": str(tool_cache),
        "HOME": str(tmp_path),
    }
    commands = list(
        interpreters.candidates("3.12", read_host(environ), windows=platform == "windows")
    )
    assert [str(python)] in commands
    assert not any("3.11.9" in part for command in commands for part in command)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_py_launcher_only_on_windows(platform: str, tmp_path: Path) -> None:
    launcher = executable(tmp_path / "bin" / "py")
    environ = {"PATH": str(launcher.parent), "HOME": str(tmp_path)}
    commands = list(
        interpreters.candidates("3.12", read_host(environ), windows=platform == "windows")
    )
    assert ([str(launcher), "-3.12"] in commands) == (platform == "windows")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_pyenv_pythons_are_candidates(platform: str, tmp_path: Path) -> None:
    python = executable(tmp_path / "pyenv" / "versions" / "3.12.1" / "bin" / "python")
    environ = {"PATH": "", "PYENV_ROOT": str(tmp_path / "pyenv"), "HOME": str(tmp_path)}
    assert [str(python)] in list(
        interpreters.candidates("3.12", read_host(environ), windows=platform == "windows")
    )


def test_path_pythons_come_first(tmp_path: Path) -> None:
    """actions/setup-python puts the job's Python first on PATH: it wins over the tool cache."""
    on_path = executable(tmp_path / "bin" / "python3.12")
    executable(tmp_path / "toolcache" / TOOL_CACHE_PYTHON["linux"])
    environ = {
        "PATH": str(on_path.parent),
        "RUNNER_TOOL_CACHE": str(tmp_path / "toolcache"),
        "HOME": str(tmp_path),
    }
    assert next(interpreters.candidates("3.12", read_host(environ), windows=False)) == [
        str(on_path)
    ]


def test_pyenv_shims_come_after_pyenvs_own_pythons(tmp_path: Path) -> None:
    """A shim starts pyenv first (about 0.1 s, and misses a version not selected): the
    interpreters under versions/ are asked first; a Python on PATH that is no shim still wins."""
    shim = executable(tmp_path / "pyenv" / "shims" / "python3.12")
    pyenv = executable(tmp_path / "pyenv" / "versions" / "3.12.1" / "bin" / "python")
    plain = executable(tmp_path / "bin" / "python3")
    environ = {
        "PATH": f"{shim.parent}:{plain.parent}",
        "PYENV_ROOT": str(tmp_path / "pyenv"),
        "HOME": str(tmp_path),
    }
    commands = list(interpreters.candidates("3.12", read_host(environ), windows=False))
    assert commands == [[str(plain)], [str(pyenv)], [str(shim)]]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_poetry_shim(platform: str, tmp_path: Path) -> None:
    """A symlink where the OS allows it; on Windows a copy of the launcher (symlinks need
    privileges there, and Git Bash runs only `.exe` files by their bare name)."""
    target = executable(tmp_path / "venv" / "poetry")
    windows = platform == "windows"
    shim = tmp_path / "bin" / ("poetry.exe" if windows else "poetry")
    shim.parent.mkdir()
    _link(shim, target, copy=windows)
    _link(shim, target, copy=windows)  # re-pointing an existing shim is atomic and idempotent
    if windows:
        assert not shim.is_symlink()
        assert shim.read_bytes() == target.read_bytes()
    else:
        assert shim.is_symlink()
        assert os.readlink(shim) == str(target)
    assert [p.name for p in shim.parent.iterdir()] == [shim.name]  # no temp file left behind
