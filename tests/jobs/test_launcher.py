"""The job's `poetry` launcher (jobs/launcher.py), run by a real /bin/sh in an emptied
environment: it sets the job's variables where the caller has not, keeps the caller's, quotes
any path, passes the arguments through and execs the target. The real Poetry and tox runs are
in test_launcher_real.py."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from setup_poetry_parallel.jobs import job, launcher
from setup_poetry_parallel.paths import VenvPaths
from setup_poetry_parallel.settings import RawInputs, validate
from setup_poetry_parallel.store.install import Install
from setup_poetry_parallel.store.manifest import Manifest

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the launcher is POSIX sh")

# What the target prints: its arguments, then the variables it got, NUL-separated.
TARGET = '#!/bin/sh\nfor a in "$@"; do printf "arg=%s\\0" "$a"; done\nexec env -0\n'
AWKWARD = '/state/it\'s a "job" $HOME `id` \\n\nnext line'


def make(tmp_path: Path, env: dict[str, str], name: str = "target") -> Path:
    target = tmp_path / name
    target.write_text(TARGET)
    target.chmod(0o755)
    shim = tmp_path / "bin" / "poetry"
    shim.parent.mkdir(exist_ok=True)
    launcher.write(shim, launcher.text(target, env))
    return shim


def run(shim: Path, *args: str, **env: str) -> tuple[list[str], dict[str, str]]:
    done = subprocess.run(
        ["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", *(f"{k}={v}" for k, v in env.items()),
         str(shim), *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    items = done.stdout.split("\0")[:-1]
    argv = [item[4:] for item in items if item.startswith("arg=")]
    got = dict(item.split("=", 1) for item in items if not item.startswith("arg="))
    return argv, got


def test_the_job_variables_are_set_where_the_caller_has_none(tmp_path: Path) -> None:
    shim = make(tmp_path, {"POETRY_CACHE_DIR": AWKWARD, "POETRY_NO_INTERACTION": "1"})
    argv, env = run(shim, "install", "with space", "it's", "")
    assert argv == ["install", "with space", "it's", ""]
    assert env["POETRY_CACHE_DIR"] == AWKWARD  # quotes, $, backquotes, newline: verbatim
    assert env["POETRY_NO_INTERACTION"] == "1"
    assert "TOX_WORK_DIR" not in env  # nothing the job did not export


def test_the_callers_value_wins_and_an_empty_one_counts_as_unset(tmp_path: Path) -> None:
    shim = make(tmp_path, {"POETRY_CACHE_DIR": "/job/cache", "EMPTY_ONE": "/job/x"})
    _, env = run(shim, POETRY_CACHE_DIR="/mine", EMPTY_ONE="")
    assert env["POETRY_CACHE_DIR"] == "/mine"
    assert env["EMPTY_ONE"] == "/job/x"  # an empty dir would be the working directory


def test_it_execs_a_target_whose_path_needs_quoting(tmp_path: Path) -> None:
    odd = tmp_path / "it's a dir"
    odd.mkdir()
    shim = make(odd, {"POETRY_NO_INTERACTION": "1"}, name="poetry $x")
    argv, _ = run(shim, "--version")
    assert argv == ["--version"]


def test_written_whole_and_0755_whatever_the_umask_over_an_old_link(tmp_path: Path) -> None:
    shim = tmp_path / "poetry"
    shim.symlink_to("/bin/true")  # the old job dir's `bin/poetry`
    old = os.umask(0o077)
    try:
        launcher.write(shim, launcher.text(Path("/venv/bin/poetry"), {"A": "1"}))
    finally:
        os.umask(old)
    assert not shim.is_symlink()
    assert stat.S_IMODE(shim.stat().st_mode) == 0o755
    assert shim.read_text().endswith("exec '/venv/bin/poetry' \"$@\"\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["poetry"]  # no scratch left


def test_a_name_sh_cannot_take_is_refused() -> None:
    with pytest.raises(ValueError, match="not a variable name"):
        launcher.text(Path("/p"), {"A-B": "1"})


def finished_job(tmp_path: Path, **environ: str) -> tuple[Path, dict[str, str]]:
    """job.finish with a stand-in for the shared Poetry (a script printing what it got)."""
    venv = VenvPaths(tmp_path / "venv", windows=False)
    Path(venv.bin).mkdir(parents=True)
    Path(venv.poetry).write_text(TARGET)
    Path(venv.poetry).chmod(0o755)
    raw = RawInputs(
        poetry_version="2.5.1",
        working_directory=str(tmp_path),
        install_dir=str(tmp_path / "install"),
        state_dir=str(tmp_path / "state dir's"),
        job_id="j1",
        download_cache="false",
    )
    settings = validate(raw, {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **environ})
    manifest = Manifest("b", "2.5.1", (), (), (), "3.12.1", "/p", "uv", 0.0)
    done = job.finish(settings, job.make_dirs(settings), {}, Install(venv, manifest, False), [])
    shim = Path(done.paths.poetry_shim)
    assert not shim.is_symlink()
    assert stat.S_IMODE(shim.lstat().st_mode) == 0o755
    return shim, done.env


def test_the_launcher_of_a_job_sets_what_the_job_exports(tmp_path: Path) -> None:
    shim, exported = finished_job(tmp_path)
    assert exported["TOX_WORK_DIR"] == str(tmp_path / "state dir's" / "j1" / "tox")
    argv, got = run(shim, "install")
    assert argv == ["install"]
    assert {name: got.get(name) for name in exported} == exported


def test_a_tox_work_dir_of_the_users_stays_theirs(tmp_path: Path) -> None:
    shim, exported = finished_job(tmp_path, TOX_WORK_DIR="/mine")
    assert "TOX_WORK_DIR" not in exported
    assert "TOX_WORK_DIR" not in run(shim)[1]
