"""The requires-plugins conversion cache: same answers as poetry-core, never for path/git sources."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from setup_poetry_parallel.poetry_venv.plugins import read_project_plugins, to_requirements


def project(tmp_path: Path, table: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.poetry]\nname = 'x'\n\n[tool.poetry.requires-plugins]\n" + textwrap.dedent(table)
    )
    return tmp_path


def convert(root: Path, cache: Path) -> list[str]:
    return to_requirements(read_project_plugins(root), root, cache_dir=cache)


def test_plain_constraints_are_converted_once_then_read_back(tmp_path: Path) -> None:
    root = project(tmp_path / "p", 'a = { version = "^1", extras = ["plugin"] }\nb = "~2.1"')
    cache = tmp_path / "cache"
    first = convert(root, cache)
    assert first == ["a[plugin] (>=1,<2)", "b (>=2.1,<2.2)"]
    [entry] = cache.iterdir()
    assert json.loads(entry.read_text()) == first
    # A planted answer is what a hit returns: proof that the second call read the cache.
    entry.write_text(json.dumps(["planted"]))
    assert convert(root, cache) == ["planted"]


def test_a_changed_table_is_a_new_entry(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert convert(project(tmp_path / "p1", 'a = "^1"'), cache) == ["a (>=1,<2)"]
    assert convert(project(tmp_path / "p2", 'a = "^2"'), cache) == ["a (>=2,<3)"]
    assert len(list(cache.iterdir())) == 2


@pytest.mark.skipif(os.name == "nt" or os.getuid() != 0, reason="needs chown (root)")
def test_an_entry_written_by_another_user_is_not_trusted(tmp_path: Path) -> None:
    root = project(tmp_path / "p", 'a = "^1"')
    cache = tmp_path / "cache"
    convert(root, cache)
    [entry] = cache.iterdir()
    entry.write_text(json.dumps(["planted"]))
    os.chown(entry, 4242, 4242)
    assert convert(root, cache) == ["a (>=1,<2)"]


def test_damaged_entries_are_converted_again(tmp_path: Path) -> None:
    root = project(tmp_path / "p", 'a = "^1"')
    cache = tmp_path / "cache"
    convert(root, cache)
    [entry] = cache.iterdir()
    for damage in ("not json", "[]", "[1, 2]", '{"a": 1}'):
        entry.write_text(damage)
        assert convert(root, cache) == ["a (>=1,<2)"]


def test_path_sources_are_never_cached(tmp_path: Path) -> None:
    (tmp_path / "p" / "plugin").mkdir(parents=True)
    root = project(tmp_path / "p", 'plugin = { path = "plugin" }')
    cache = tmp_path / "cache"
    [requirement] = convert(root, cache)
    assert requirement.startswith("plugin @ file://")
    assert not cache.exists()


def test_an_unwritable_cache_dir_is_no_error(tmp_path: Path) -> None:
    root = project(tmp_path / "p", 'a = "^1"')
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert convert(root, blocker / "cache") == ["a (>=1,<2)"]


def test_nothing_is_created_where_the_install_dir_does_not_exist(tmp_path: Path) -> None:
    root = project(tmp_path / "p", 'a = "^1"')
    assert convert(root, tmp_path / "install" / "cache") == ["a (>=1,<2)"]
    assert not (tmp_path / "install").exists()
