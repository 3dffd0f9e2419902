"""nofollow.py: the one home of the flags every open in a shared directory uses.

Each flag set is tried on a link planted where the file would be; the control opens the same
link with the same flags less O_NOFOLLOW and shows what a planted link does (it reaches, or
creates, the file it points at)."""

from __future__ import annotations

import ast
import errno
import os
from pathlib import Path

import pytest

from setup_poetry_parallel.disk import nofollow
from tests.repo import SRC

posix = pytest.mark.skipif(os.name != "posix", reason="O_NOFOLLOW is POSIX (0 on Windows)")


def _planted(tmp_path: Path, *, target_exists: bool) -> tuple[Path, Path]:
    """A link at `name` in a shared dir, to `elsewhere` (another user's file, say)."""
    elsewhere = tmp_path / "elsewhere"
    if target_exists:
        elsewhere.write_text("someone else's")
    name = tmp_path / "shared" / "name"
    name.parent.mkdir()
    name.symlink_to(elsewhere)
    return name, elsewhere


@posix
def test_read_does_not_follow_a_planted_link(tmp_path: Path) -> None:
    name, _ = _planted(tmp_path, target_exists=True)
    with pytest.raises(OSError, match="symbolic links") as raised:
        os.open(name, nofollow.READ)
    assert raised.value.errno == errno.ELOOP
    # Control: the same open that follows links reads the file the link points at.
    fd = os.open(name, nofollow.READ & ~os.O_NOFOLLOW)
    try:
        assert os.read(fd, 100) == b"someone else's"
    finally:
        os.close(fd)


@posix
def test_lock_does_not_create_what_a_planted_link_names(tmp_path: Path) -> None:
    name, elsewhere = _planted(tmp_path, target_exists=False)
    with pytest.raises(OSError, match="symbolic links") as raised:
        os.open(name, nofollow.LOCK, 0o644)
    assert raised.value.errno == errno.ELOOP
    assert not elsewhere.exists()
    # Control: without O_NOFOLLOW the lock file is created where the link points.
    os.close(os.open(name, nofollow.LOCK & ~os.O_NOFOLLOW, 0o644))
    assert elsewhere.exists()


@posix
def test_new_never_opens_an_existing_name(tmp_path: Path) -> None:
    name, elsewhere = _planted(tmp_path, target_exists=False)
    with pytest.raises(FileExistsError):
        os.open(name, nofollow.NEW, 0o644)
    assert not elsewhere.exists()
    fresh = tmp_path / "shared" / "fresh"
    os.close(os.open(fresh, nofollow.NEW, 0o600))
    assert fresh.is_file()
    with pytest.raises(FileExistsError):
        os.open(fresh, nofollow.NEW, 0o600)


def hand_made(tree: ast.AST) -> list[int]:
    """Lines that name O_NOFOLLOW or O_CLOEXEC in code (os.O_X, getattr(os, "O_X", 0))."""
    flags = {"O_NOFOLLOW", "O_CLOEXEC"}
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if (isinstance(node, ast.Attribute) and node.attr in flags)
        or (isinstance(node, ast.Constant) and node.value in flags)
    )


def test_no_other_module_combines_the_flags_by_hand() -> None:
    """One home: a module that opens without following takes its flags from nofollow.py."""
    found = {
        str(path.relative_to(SRC)): lines
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "nofollow.py"
        and (lines := hand_made(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert found == {}
    planted = (
        'import os\n"""O_NOFOLLOW in prose"""\nf = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)'
    )
    assert hand_made(ast.parse(planted)) == [3, 3]
