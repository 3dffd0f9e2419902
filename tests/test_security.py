"""Security: no world-writable install, no file redirected by a planted symlink, no install
dir another user could swap, and `project-plugins: false` refusing for real inside Poetry."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from setup_poetry_parallel.disk import locking, trust
from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.paths import install_paths
from setup_poetry_parallel.store import install
from tests.projects import make_project
from tests.scenario import without
from tests.store.test_faults import finish, outputs, setup_argv, start

pytestmark = pytest.mark.real


def test_installed_files_are_not_writable_by_others_even_under_umask_0(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    argv = setup_argv(project, tmp_path / "install", tmp_path / "state", "umask")
    # Jobs that write bytecode: the build then leaves it to them (installer._bytecode).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    # A careless runner: umask 0 (set in a shell, not preexec_fn, which is unsafe with threads).
    proc = subprocess.Popen(
        ["sh", "-c", 'umask 000 && exec "$@"', "sh", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    venv = Path(outputs(finish(proc))["poetry-venv"])
    # Bytecode is written by the first Poetry start that imports a module (a job's, with its
    # own umask), not by the build: it must land in dirs the build made.
    started = subprocess.run(
        ["sh", "-c", 'umask 000 && exec "$@"', "sh", str(venv / "bin" / "poetry"), "--version"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Poetry (version" in started.stdout
    assert list(venv.glob("lib/python3*/site-packages/poetry/__pycache__/*.pyc"))
    writable = [
        str(p)
        for p in [venv, *venv.rglob("*")]
        if not p.is_symlink() and p.lstat().st_mode & (stat.S_IWOTH | stat.S_IWGRP)
    ]
    assert writable == []
    key = venv.parent.parent
    for shared in (key, key / "builds", key / "current.json", key / "install.lock"):
        assert not shared.lstat().st_mode & stat.S_IWOTH, shared


def test_a_symlinked_lock_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    lock = tmp_path / "install.lock"
    lock.symlink_to(victim)
    with pytest.raises(SetupError, match="symbolic link"), locking.hold(lock, timeout=1, what="t"):
        pass
    assert victim.read_text() == "precious"


def test_a_symlinked_holder_file_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    lock = tmp_path / "install.lock"
    locking.holder_file(lock).symlink_to(victim)
    with locking.hold(lock, timeout=1, what="t"):
        assert not locking.holder_file(lock).is_symlink()
    assert victim.read_text() == "precious"


def test_a_symlinked_fallback_lock_is_never_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    lock = tmp_path / "install.lock"
    locking.fallback_file(lock).symlink_to(victim)
    waiter = locking._Waiter(lock, 5, "t")
    with locking.exclusive(locking.fallback_file(lock), waiter, stale_after=0.5):
        assert not locking.fallback_file(lock).is_symlink()
    assert victim.read_text() == "precious"


def test_a_planted_current_json_link_is_not_followed(tmp_path: Path) -> None:
    """Someone links current.json at a forged manifest naming their own "build"."""
    paths = install_paths(tmp_path / "install", "poetry-x")
    forged_build = Path(paths.build("20990101T000000-1-abcdef").root)
    (forged_build / "bin").mkdir(parents=True)
    for name in ("python", "poetry"):
        (forged_build / "bin" / name).write_text("#!/bin/sh\necho pwned\n")
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({"build": "20990101T000000-1-abcdef", "files": []}))
    Path(paths.current).symlink_to(forged)
    assert install.find_ready(paths) is None


def test_an_install_dir_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to chown to another user")
    paths = install_paths(tmp_path / "install", "poetry-x")
    Path(paths.root).mkdir(parents=True)
    os.chown(paths.root, 12345, 12345)
    with pytest.raises(SetupError, match="belongs to uid 12345"):
        install.make_dirs(paths)
    Path(paths.current).write_text(json.dumps({"build": "20990101T000000-1-abcdef"}))
    os.chown(paths.current, 12345, 12345)
    assert trust.read_json(Path(paths.current)) is None


def test_a_world_writable_install_key_dir_is_refused(tmp_path: Path) -> None:
    paths = install_paths(tmp_path / "install", "poetry-x")
    Path(paths.root).mkdir(parents=True)
    os.chmod(paths.root, 0o777)
    with pytest.raises(SetupError, match="writable by everyone"):
        install.make_dirs(paths)


def _poetry_install(env: dict[str, str], project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["poetry", "install", "--no-root", "-vv"],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_project_plugins_false_really_refuses(tmp_path: Path) -> None:
    """With project-plugins false, a real `poetry install` installs none of requires-plugins.

    The control run, same install and env minus our variable, shows what Poetry would
    otherwise do: install the plugin into the job's project plugin cache.
    """
    project = make_project(tmp_path / "project")
    result = finish(
        start(
            setup_argv(
                project,
                tmp_path / "install",
                tmp_path / "state",
                "untrusted",
                "--project-plugins",
                "false",
            )
        )
    )
    assert json.loads(outputs(result)["plugins"]) == []
    env = {**os.environ, **result["env"]}  # type: ignore[dict-item]
    env["PATH"] = os.pathsep.join([*result["path"], env["PATH"]])  # type: ignore[list-item]
    assert env["SPP_REFUSE_PROJECT_PLUGINS"] == "1"
    cache = Path(env["POETRY_PROJECT_PLUGIN_CACHE"])

    refused = _poetry_install(env, project)
    assert refused.returncode == 0, refused.stdout + refused.stderr
    assert "project-plugins is false: not installing" in refused.stdout + refused.stderr
    installed = [p.name for p in cache.rglob("*.dist-info")] if cache.exists() else []
    assert installed == [], f"project plugins were installed: {installed}"
    assert not (project / ".poetry").exists()

    control = {**env, "POETRY_PROJECT_PLUGIN_CACHE": str(tmp_path / "control-cache")}
    poetry = outputs(result)["poetry-path"]
    control = without("SPP_REFUSE_PROJECT_PLUGINS", control, poetry, tmp_path / "plain")
    allowed = _poetry_install(control, project)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    names = {p.name.split("-")[0] for p in (tmp_path / "control-cache").rglob("*.dist-info")}
    assert "poetry_dynamic_versioning" in names, "the control must show what was refused"


def test_the_plugin_refusal_imports_on_python_3_9_syntax() -> None:
    """The plugin runs in Poetry's venv (3.9+): compile it for 3.9's grammar."""
    import ast

    from setup_poetry_parallel.poetry_venv import plugin_wheel

    ast.parse(plugin_wheel.source(), feature_version=(3, 9))
    assert sys.version_info >= (3, 11)
