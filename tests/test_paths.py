"""Every directory derived in one place, per platform."""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath

import pytest

from setup_poetry_parallel.paths import install_paths, job_paths


@pytest.mark.parametrize(
    ("windows", "root", "bin_dir", "poetry", "shim"),
    [
        (False, PurePosixPath("/tc"), "bin", "poetry", "poetry"),
        (True, PureWindowsPath("C:/tc"), "Scripts", "poetry.exe", "poetry.exe"),
    ],
)
def test_paths_per_platform(
    windows: bool, root: PurePosixPath, bin_dir: str, poetry: str, shim: str
) -> None:
    install = install_paths(root, "k", windows=windows)
    venv = install.build("b1")
    assert venv.poetry == root / "k" / "builds" / "b1" / bin_dir / poetry
    assert install.current == root / "k" / "current.json"
    assert install.lock == root / "k" / "install.lock"
    job = job_paths(root / "state", "job-1", windows=windows)
    assert job.poetry_shim == root / "state" / "job-1" / "bin" / shim


def test_job_dirs_are_distinct_and_inside_the_job_dir() -> None:
    job = job_paths(PurePosixPath("/s"), "j")
    dirs = (*job.created_dirs(), job.plugin_cache)
    assert len(set(dirs)) == len(dirs)
    assert all(d.parent == job.root for d in dirs)


def test_two_jobs_share_nothing() -> None:
    a = set(job_paths(PurePosixPath("/s"), "a").created_dirs())
    b = set(job_paths(PurePosixPath("/s"), "b").created_dirs())
    assert not a & b
