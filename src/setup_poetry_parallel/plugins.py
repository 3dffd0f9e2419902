"""The project's `[tool.poetry.requires-plugins]`, turned into PEP 508 requirements.

Poetry's constraint language (`^1.2`, `~1.2`, `1.*`, tables with extras/markers/python,
lists of constraints, path and git sources) is converted by poetry-core, the same code
Poetry itself uses, so that uv or pip install exactly what Poetry would have.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from setup_poetry_parallel.errors import InputError


@dataclass(frozen=True)
class ProjectPlugins:
    pyproject: Path | None
    table: dict[str, Any]  # the raw requires-plugins table, {} when absent

    def line_of(self, name: str) -> int | None:
        return _line_of(self.pyproject, name) if self.pyproject else None


def read_project_plugins(working_directory: Path) -> ProjectPlugins:
    pyproject = working_directory / "pyproject.toml"
    if not pyproject.is_file():
        return ProjectPlugins(None, {})
    try:
        document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        line = _decode_error_line(str(exc))
        where = f"{pyproject}:{line}" if line else str(pyproject)
        raise InputError(
            f"{where} is not valid TOML ({exc}): fix the file", file=pyproject, line=line
        ) from None
    tool = document.get("tool", {})
    poetry = tool.get("poetry", {}) if isinstance(tool, dict) else {}
    table = poetry.get("requires-plugins", {}) if isinstance(poetry, dict) else {}
    if not isinstance(table, dict):
        line = _line_of(pyproject, "requires-plugins")
        raise InputError(
            "[tool.poetry.requires-plugins] must be a table of plugin = constraint:"
            f" fix {pyproject.name}",
            file=pyproject,
            line=line,
        )
    return ProjectPlugins(pyproject, table)


def to_requirements(plugins: ProjectPlugins, root: Path) -> list[str]:
    """PEP 508 strings for every constraint of every plugin, in the table's order."""
    if not plugins.table:
        return []
    from poetry.core.factory import Factory  # 0.17 s to import: only when there are plugins

    requirements: list[str] = []
    for name, constraints in plugins.table.items():
        for constraint in constraints if isinstance(constraints, list) else [constraints]:
            if not isinstance(constraint, str | dict):
                raise _bad_plugin(plugins, name, f"{constraint!r} is not a constraint")
            try:
                dependency = Factory.create_dependency(name, constraint, root_dir=root)
                requirements.append(dependency.to_pep_508())
            except Exception as exc:  # poetry-core raises ValueError and its own types
                raise _bad_plugin(plugins, name, str(exc)) from None
    return requirements


def _bad_plugin(plugins: ProjectPlugins, name: str, why: str) -> InputError:
    return InputError(
        f"[tool.poetry.requires-plugins] {name}: {why}; use a Poetry constraint such as"
        ' ">=1.0,<2.0" or a table with version/extras/markers',
        file=plugins.pyproject,
        line=plugins.line_of(name),
    )


def describe(requirements: Sequence[str]) -> str:
    return ", ".join(requirements) if requirements else "none"


def _decode_error_line(message: str) -> int | None:
    found = re.search(r"at line (\d+)", message)
    return int(found.group(1)) if found else None


def _line_of(pyproject: Path, key: str) -> int | None:
    """The 1-based line that mentions `key` inside requires-plugins, for annotations."""
    lines = pyproject.read_text(encoding="utf-8").splitlines()
    section = None
    for number, text in enumerate(lines, 1):
        stripped = text.strip()
        if stripped.startswith("["):
            section = stripped
            if key == "requires-plugins" and "requires-plugins" in stripped:
                return number
            continue
        if re.match(rf"^[\"']?{re.escape(key)}[\"']?\s*=", stripped) and (
            key == "requires-plugins" or (section and "requires-plugins" in section)
        ):
            return number
    return None
