"""requires-plugins in every form Poetry accepts, converted as Poetry itself would."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from setup_poetry_parallel.errors import InputError
from setup_poetry_parallel.poetry_venv.plugins import read_project_plugins, to_requirements


def convert(tmp_path: Path, table: str) -> list[str]:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.poetry]\nname = 'x'\n\n[tool.poetry.requires-plugins]\n" + textwrap.dedent(table)
    )
    return to_requirements(read_project_plugins(tmp_path), tmp_path)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('a = "^1.2"', ["a (>=1.2,<2.0)"]),
        ('a = "~1.2"', ["a (>=1.2,<1.3)"]),
        ('a = "1.*"', ["a (==1.*)"]),
        ('a = "*"', ["a"]),
        ('a = "1.2.3"', ["a (==1.2.3)"]),
        ('a = ">=1,<2"', ["a (>=1,<2)"]),
        ('a = { version = "^1", extras = ["plugin"] }', ["a[plugin] (>=1,<2)"]),
        (
            'a = { version = "^1", markers = "sys_platform == \'linux\'" }',
            ['a (>=1,<2) ; sys_platform == "linux"'],
        ),
        ('a = { version = "^1", python = ">=3.10" }', ['a (>=1,<2) ; python_version >= "3.10"']),
        (
            'a = [{ version = "^1", python = "<3.11" }, { version = "^2", python = ">=3.11" }]',
            ['a (>=1,<2) ; python_version < "3.11"', 'a (>=2,<3) ; python_version >= "3.11"'],
        ),
        (
            'a = { git = "https://example.org/a.git", rev = "v1" }',
            ["a @ git+https://example.org/a.git@v1"],
        ),
        ('a = "^1"\nb = "^2"', ["a (>=1,<2)", "b (>=2,<3)"]),
    ],
)
def test_every_form_poetry_accepts(tmp_path: Path, table: str, expected: list[str]) -> None:
    assert convert(tmp_path, table) == expected


def test_path_source_is_relative_to_the_project(tmp_path: Path) -> None:
    (tmp_path / "plug").mkdir()
    project = tmp_path / "project"
    project.mkdir()
    assert convert(project, 'a = { path = "../plug" }') == [f"a @ {(tmp_path / 'plug').as_uri()}"]


def test_no_pyproject_means_no_plugins(tmp_path: Path) -> None:
    plugins = read_project_plugins(tmp_path)
    assert (plugins.pyproject, plugins.table) == (None, {})
    assert to_requirements(plugins, tmp_path) == []


def test_no_requires_plugins_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.poetry]\nname = 'x'\n")
    assert to_requirements(read_project_plugins(tmp_path), tmp_path) == []


def test_unparseable_toml_points_at_the_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.poetry]\nname = 'x'\nbroken = \n")
    with pytest.raises(InputError) as caught:
        read_project_plugins(tmp_path)
    assert caught.value.line == 3
    assert "pyproject.toml:3" in caught.value.message


def test_requires_plugins_of_the_wrong_type(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.poetry]\nrequires-plugins = ["a"]\n')
    with pytest.raises(InputError) as caught:
        read_project_plugins(tmp_path)
    assert caught.value.line == 2
    assert "must be a table" in caught.value.message


def test_a_bad_constraint_names_the_plugin_and_its_line(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        convert(tmp_path, 'good = "^1"\nbad = 42\n')
    assert "bad" in caught.value.message
    assert caught.value.line == 6
