"""Old job dirs off a runner (jobs/old_jobs.py): real dirs, real mtimes, real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from setup_poetry_parallel.jobs import old_jobs

DAY = 86400.0


@pytest.fixture
def state(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    state.chmod(0o700)
    return state


def job_dir(state: Path, name: str, *, days: float) -> Path:
    """A job dir as a setup leaves it, everything in it last changed `days` ago."""
    root = state / name
    for sub in ("bin", "cache", "config", "virtualenvs"):
        (root / sub).mkdir(parents=True)
    (root / "config" / "config.toml").write_text("")
    age(root, days)
    return root


def age(root: Path, days: float) -> None:
    then = time.time() - days * DAY
    for path in [*sorted(root.rglob("*"), reverse=True), root]:
        os.utime(path, (then, then), follow_symlinks=False)


def clean(state: Path, keep: str = "current") -> list[str]:
    return sorted(old_jobs.clean(state, keep=keep))


def test_an_old_job_dir_goes_and_a_fresh_one_stays(state: Path) -> None:
    job_dir(state, "local-old", days=8)
    job_dir(state, "local-fresh", days=1)  # the control: same layout, younger
    assert clean(state) == ["local-old"]
    assert sorted(os.listdir(state)) == ["local-fresh"]


def test_a_dir_with_a_recent_entry_stays(state: Path) -> None:
    """`poetry install` last week made a venv under virtualenvs/: the job is in use."""
    root = job_dir(state, "local-busy", days=30)
    (root / "virtualenvs" / "project-py3.12").mkdir()
    now = time.time()
    os.utime(root / "virtualenvs", (now, now))
    assert clean(state) == []
    assert root.is_dir()


def test_the_current_job_stays_and_is_touched(state: Path) -> None:
    root = job_dir(state, "current", days=30)
    assert clean(state, keep="current") == []
    assert time.time() - root.stat().st_mtime < 60  # fresh for the next setup's cleaning


def test_links_are_never_followed(state: Path, tmp_path: Path) -> None:
    """A link named as a job, and a link inside an old job dir, both to dirs elsewhere: the
    targets and what is in them stay."""
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "keep").mkdir(parents=True)
    (elsewhere / "keep" / "data").write_text("mine")
    age(elsewhere, 30)
    (state / "local-link").symlink_to(elsewhere / "keep")
    root = job_dir(state, "local-old", days=30)
    (root / "cache" / "out").symlink_to(elsewhere)
    age(root, 30)
    assert clean(state) == ["local-old"]
    assert (elsewhere / "keep" / "data").read_text() == "mine"
    assert (state / "local-link").is_symlink()


def test_names_that_are_not_job_ids_stay(state: Path) -> None:
    for name in (".hidden", "notes.txt"):
        (state / name).mkdir()
        age(state / name, 30)
    assert clean(state) == []
    assert sorted(os.listdir(state)) == [".hidden", "notes.txt"]


def test_a_state_dir_others_can_write_is_not_cleaned(state: Path) -> None:
    job_dir(state, "local-old", days=30)
    state.chmod(0o770)
    assert clean(state) == []
    assert (state / "local-old").is_dir()
    state.chmod(0o700)  # the control: the same dir, private
    assert clean(state) == ["local-old"]


def test_a_state_dir_that_is_a_link_is_not_cleaned(state: Path, tmp_path: Path) -> None:
    job_dir(state, "local-old", days=30)
    link = tmp_path / "link"
    link.symlink_to(state)
    assert clean(link) == []
    assert (state / "local-old").is_dir()


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("uses", ["environment", "working directory"])
def test_a_dir_a_running_process_uses_stays_until_it_ends(state: Path, uses: str) -> None:
    root = job_dir(state, "local-running", days=30)
    env = {**os.environ, "POETRY_CACHE_DIR": str(root / "cache")}
    if uses == "working directory":
        env = dict(os.environ)
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        env=env,
        cwd=root / "bin" if uses == "working directory" else None,
    )
    try:
        age(root, 30)
        assert clean(state) == []
        assert root.is_dir()
    finally:
        process.communicate(b"")
    assert clean(state) == ["local-running"]  # the control: the same dir once it has ended


def test_a_removal_that_did_not_finish_is_finished(state: Path) -> None:
    job_dir(state, ".removing-local-old-1", days=2)
    assert clean(state) == []
    assert os.listdir(state) == []
