"""Our Poetry plugin: a valid wheel with no dependencies, importable on Python 3.9 and up."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from setup_poetry_parallel import plugin_wheel
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


@pytest.mark.parametrize("minor", ["3.9", "3.10", "3.11", "3.12", "3.13"])
def test_plugin_imports_and_is_inert_without_poetry(tmp_path: Path, minor: str) -> None:
    wheel = plugin_wheel.write(tmp_path)
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        f"import {plugin_wheel.MODULE} as m;"
        "assert m.relocate('') is False; assert m.relocate('/x') is False;"
        "m.ProjectPluginCachePlugin().activate(None); print('ok')"
    )
    done = subprocess.run(
        [python_path(minor), "-c", script, str(wheel)], capture_output=True, text=True, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr
