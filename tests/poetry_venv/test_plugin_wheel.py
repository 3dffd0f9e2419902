"""Our Poetry plugin: a valid wheel with no dependencies, importable on Python 3.9 and up."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from setup_poetry_parallel.poetry_venv import plugin_wheel
from tests.projects import python_path


def test_wheel_is_deterministic_and_dependency_free(tmp_path: Path) -> None:
    first = plugin_wheel.write(tmp_path / "a").read_bytes()
    second = plugin_wheel.write(tmp_path / "b").read_bytes()
    assert first == second
    with zipfile.ZipFile(tmp_path / "a" / plugin_wheel.filename()) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
        entry_points = archive.read(
            next(n for n in names if n.endswith("entry_points.txt"))
        ).decode()
    assert "Requires-Dist" not in metadata  # nothing of the engine's lands in Poetry's venv
    assert "[poetry.application.plugin]" in entry_points
    assert f"{plugin_wheel.MODULE}.py" in names
    # Every module of poetry_plugin/ ships, as a top-level module beside the entry point.
    assert {"spp_project_plugin_cache.py", "spp_poetry_races.py"} <= set(names)


def test_version_hashes_every_plugin_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """A change to any module of the plugin is a new version, so a new install key."""
    before = plugin_wheel.version()
    sources = plugin_wheel.sources()
    changed = {**sources, "spp_poetry_races.py": sources["spp_poetry_races.py"] + b"\n"}
    monkeypatch.setattr(plugin_wheel, "sources", lambda: changed)
    assert plugin_wheel.version() != before


@pytest.mark.parametrize("minor", ["3.9", "3.10", "3.11", "3.12", "3.13"])
def test_plugin_imports_and_is_inert_without_poetry(tmp_path: Path, minor: str) -> None:
    wheel = plugin_wheel.write(tmp_path)
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        f"import {plugin_wheel.MODULE} as m;"
        "assert m.relocate('') is False; assert m.relocate('/x') is False;"
        "m.ProjectPluginCachePlugin().activate(None);"
        "import spp_poetry_races as r; w = [];"
        "assert set(r.protect({}, w.append).values()) == {'inert'}, w; assert w == [];"
        "print('ok')"
    )
    done = subprocess.run(
        [python_path(minor), "-c", script, str(wheel)], capture_output=True, text=True, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr
