"""The project's `[tool.poetry.requires-plugins]`, turned into PEP 508 requirements.

Poetry's constraint language (`^1.2`, `~1.2`, `1.*`, tables with extras/markers/python,
lists of constraints, path and git sources) is converted by poetry-core, the same code
Poetry itself uses, so that uv or pip install exactly what Poetry would have.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from setup_poetry_parallel.disk import atomic, dir_checks, nofollow
from setup_poetry_parallel.errors import InputError
from setup_poetry_parallel.index.simple_index import canonical

# Table keys whose conversion depends only on the text and poetry-core's version. Path, git and
# url sources read the disk or name a place: such tables are always converted afresh.
_PURE_KEYS: Final = frozenset(
    {"version", "extras", "markers", "python", "platform", "allow-prereleases", "optional"}
)


_PROJECT_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class ProjectPlugins:
    pyproject: Path | None
    table: dict[str, Any]  # the raw requires-plugins table, {} when absent
    requires_poetry: str | None = None  # [tool.poetry] requires-poetry, as written

    def line_of(self, name: str) -> int | None:
        return _line_of(self.pyproject, name) if self.pyproject else None

    def error(self, name: str, message: str) -> InputError:
        """An error about plugin `name` (`message` follows its name), annotated on its
        requires-plugins line."""
        return InputError(
            f"[tool.poetry.requires-plugins] {name}{message}",
            file=self.pyproject,
            plugin=name,
            line=self.line_of(name),
        )

    def name_of(self, requirement: str) -> str | None:
        """The table key a converted requirement came from (its project name, canonical)."""
        found = _PROJECT_NAME.match(requirement)
        wanted = canonical(found.group(0)) if found else None
        return next((key for key in self.table if canonical(key) == wanted), None)


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
    requires_poetry = poetry.get("requires-poetry") if isinstance(poetry, dict) else None
    if requires_poetry is not None and not isinstance(requires_poetry, str):
        raise InputError(
            f'[tool.poetry] requires-poetry must be a version constraint such as ">=2.0,<3.0":'
            f" fix {pyproject.name}",
            file=pyproject,
            line=_line_of(pyproject, "requires-poetry"),
        )
    return ProjectPlugins(pyproject, table, requires_poetry)


def to_requirements(
    plugins: ProjectPlugins, root: Path, *, cache_dir: Path | None = None
) -> list[str]:
    """PEP 508 strings for every constraint of every plugin, in the table's order.

    With `cache_dir`, a table of plain constraints is converted once per poetry-core version
    and read back afterwards: importing poetry-core is most of a warm setup's time.
    """
    if not plugins.table:
        return []
    cached = _cache_file(plugins.table, cache_dir)
    if cached is not None and (hit := _read_cached(cached)) is not None:
        return hit
    requirements = _convert(plugins, root)
    if cached is not None:
        _write_cached(cached, requirements)
    return requirements


def named_sources(plugins: ProjectPlugins) -> dict[str, str]:
    """Plugin (canonical name) -> the source it names (`source = "internal"`), lower-cased as
    Poetry compares it. PEP 508 has no place for a source: it travels beside the requirement."""
    named: dict[str, str] = {}
    for name, constraints in plugins.table.items():
        wanted = {
            str(c["source"]).lower()
            for c in (constraints if isinstance(constraints, list) else [constraints])
            if isinstance(c, dict) and c.get("source")
        }
        if len(wanted) > 1:
            raise plugins.error(
                name, f" names several sources ({', '.join(sorted(wanted))}): name one"
            )
        if wanted:
            named[canonical(name)] = wanted.pop()
    return named


def _convert(plugins: ProjectPlugins, root: Path) -> list[str]:
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


def _is_pure(table: dict[str, Any]) -> bool:
    for constraints in table.values():
        for constraint in constraints if isinstance(constraints, list) else [constraints]:
            if isinstance(constraint, dict) and not set(constraint) <= _PURE_KEYS:
                return False
            if not isinstance(constraint, str | dict):
                return False
    return True


def _cache_file(table: dict[str, Any], cache_dir: Path | None) -> Path | None:
    if cache_dir is None or not _is_pure(table):
        return None
    import poetry.core  # the package alone is cheap; its version is part of the key

    try:
        payload = json.dumps(
            {"table": table, "poetry-core": poetry.core.__version__, "format": 1}, sort_keys=True
        )
    except (TypeError, ValueError):  # a TOML value JSON cannot hold: not worth caching
        return None
    return cache_dir / f"{hashlib.sha256(payload.encode()).hexdigest()[:32]}.json"


def _read_cached(path: Path) -> list[str] | None:
    """The cached conversion, or None (then convert) when absent, not a list of strings, or
    written by another user: in a shared install dir that user would choose what is installed."""
    try:
        fd = os.open(path, nofollow.READ)
        with os.fdopen(fd, encoding="utf-8") as handle:
            if not dir_checks.trusted_owner(os.fstat(handle.fileno()).st_uid):
                return None
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    if isinstance(data, list) and data and all(isinstance(item, str) for item in data):
        return data
    return None


def _write_cached(path: Path, requirements: list[str]) -> None:
    """Best effort: a read-only dir is no error.

    Only into an existing parent (the install dir): `--plan` on a new host creates nothing.
    """
    with contextlib.suppress(OSError):
        path.parent.mkdir(exist_ok=True)
        atomic.replace(path, json.dumps(requirements))


def _bad_plugin(plugins: ProjectPlugins, name: str, why: str) -> InputError:
    return plugins.error(
        name,
        f": {why}; use a Poetry constraint such as"
        ' ">=1.0,<2.0" or a table with version/extras/markers',
    )


def _decode_error_line(message: str) -> int | None:
    found = re.search(r"at line (\d+)", message)
    return int(found.group(1)) if found else None


def _line_of(pyproject: Path, key: str) -> int | None:
    """The 1-based line that sets `key` (requires-plugins, requires-poetry, or a plugin inside
    requires-plugins), for annotations."""
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
            key in ("requires-plugins", "requires-poetry")
            or (section and "requires-plugins" in section)
        ):
            return number
    return None
