"""dir_checks.close_to_others: one rule for closing a tree to others, the engine's (the
bootstrap, engine_deps.py) and Poetry's builds in the shared install (trust.py) alike."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from setup_poetry_parallel.disk import dir_checks, trust
from setup_poetry_parallel.startup import engine_deps
from setup_poetry_parallel.store import install
from tests.test_neighbours import _umask

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX modes")


def _tree(root: Path, outside: Path) -> None:
    """What an install under umask 0 leaves: everything writable by everyone."""
    with _umask(0):
        (root / "pkg" / "sub").mkdir(parents=True, mode=0o777)
        (root / "pkg" / "__init__.py").write_text("")
        (root / "pkg" / "sub" / "mod.py").write_text("")
        (root / "data.txt").write_text("")
        outside.write_text("")
        (root / "link").symlink_to(outside)
        root.chmod(0o777)


def _writable_by_others(root: Path) -> list[str]:
    found = [] if not root.stat().st_mode & 0o022 else ["."]
    for path in root.rglob("*"):
        if not path.is_symlink() and path.lstat().st_mode & 0o022:
            found.append(str(path.relative_to(root)))
    return found


def test_a_tree_made_under_umask_0_is_closed_and_gets_its_bytecode_dirs(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside.txt"
    _tree(root, outside)
    assert _writable_by_others(root), "control: umask 0 left it open to everyone"
    dir_checks.close_to_others(root)
    assert _writable_by_others(root) == []
    for package in (root / "pkg", root / "pkg" / "sub"):
        assert stat.S_IMODE((package / "__pycache__").stat().st_mode) == 0o755
    assert not (root / "__pycache__").exists(), "no modules there"
    assert stat.S_IMODE(outside.stat().st_mode) == 0o666, "a link's target is not ours to change"


def test_the_engine_and_the_shared_install_use_the_same_rule() -> None:
    """One home: the bootstrap and the install both call dir_checks.close_to_others."""
    for module in (engine_deps, install):
        source = Path(module.__file__ or "").read_text(encoding="utf-8")
        assert "dir_checks.close_to_others" in source, module.__name__
    assert not hasattr(engine_deps, "close_to_others")
    assert not hasattr(trust, "restrict_permissions")
