"""A corrupt archive in the host's shared download cache heals (#18): our Poetry plugin sets
it aside and Poetry fetches it again, with one warning naming the cache, where Poetry alone
fails every later `poetry install` on the host until someone deletes the file by hand.

Checked on the suite's Poetry (tests/projects.py POETRY_VERSION); the internals it relies on
(Executor._download_link -> _populate_hashes_dict -> _validate_archive_hash, and
ArtifactCache.get_cached_archive_for_link(link, strict=True)) read the same in the sources of
2.0.0, 2.1.4, 2.2.1, 2.3.4, 2.4.1 and 2.5.1."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from setup_poetry_parallel.poetry_plugin import spp_poetry_races
from setup_poetry_parallel.store import downloads
from tests.engine_cli import setup
from tests.projects import PYTHONS, make_project, python_path

pytestmark = [pytest.mark.real, pytest.mark.network]


def _poetry(env: dict[str, str], project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["poetry", *args], cwd=project, env=env, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip


def test_a_corrupt_archive_in_the_shared_cache_is_fetched_again(
    shared_install_dir: Path, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "project", plugins="", dependencies='"six==1.16.0"')
    cache = tmp_path / "downloads"
    done = setup(
        project, shared_install_dir, tmp_path / "state", "heal", "--download-cache", str(cache)
    )
    assert done.returncode == 0, done.stderr
    env = done.env()
    env["PATH"] = f"{python_path(PYTHONS[1]).parent}:{env['PATH']}"  # as in test_downloads_real
    for command in (["lock"], ["install", "--no-root"]):
        assert _poetry(env, project, *command).returncode == 0
    (archive,) = downloads.artifacts(cache).rglob("six-1.16.0-*.whl")
    archive.write_bytes(b"not the wheel the lock file names")  # a bad write, a bad mirror
    assert _poetry(env, project, "env", "remove", "--all").returncode == 0

    # Control: Poetry's own behaviour fails on the bad file, and keeps failing.
    control = _poetry({**env, "SPP_PROTECT_CORRUPT_ARCHIVES": "0"}, project, "install", "--no-root")
    assert control.returncode != 0
    assert "Hash for six" in control.stdout + control.stderr
    assert archive.read_bytes() == b"not the wheel the lock file names"
    assert _poetry(env, project, "env", "remove", "--all").returncode == 0

    healed = _poetry(env, project, "install", "--no-root")
    output = healed.stdout + healed.stderr
    assert healed.returncode == 0, output
    warnings = [line for line in output.splitlines() if "failed its hash check" in line]
    assert len(warnings) == 1, output
    assert str(downloads.artifacts(cache)) in warnings[0]
    assert archive.read_bytes() != b"not the wheel the lock file names"
    (aside,) = archive.parent.glob(f".{archive.name}{spp_poetry_races.SET_ASIDE}*")
    assert aside.read_bytes() == b"not the wheel the lock file names"
    ran = _poetry(env, project, "run", "python", "-c", "import six; print(six.__version__)")
    assert ran.stdout.strip() == "1.16.0"
