"""What to install and under which key: the project's plugins, the exact Poetry release and the
interpreter that runs Poetry. Installs nothing: the cache step (`--plan`) needs only this.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from setup_poetry_parallel import interpreters
from setup_poetry_parallel.errors import InputError, SetupError
from setup_poetry_parallel.index import sources, versions
from setup_poetry_parallel.index.simple_index import canonical
from setup_poetry_parallel.path_errors import preparing
from setup_poetry_parallel.poetry_venv import plugin_wheel, poetry_deps, poetry_request
from setup_poetry_parallel.poetry_venv.key import InstallSpec, install_key, merge_requirements
from setup_poetry_parallel.poetry_venv.plugins import (
    ProjectPlugins,
    named_sources,
    read_project_plugins,
    to_requirements,
)
from setup_poetry_parallel.settings import Host, Index, Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoetryPython:
    path: str
    version: str
    markers: Mapping[str, str]


@dataclass(frozen=True)
class Plan:
    spec: InstallSpec
    key: str
    project: ProjectPlugins

    @property
    def lock_digest(self) -> str:
        """sha256 of the project's poetry.lock (its downloads' cache key); "no-lock" without."""
        import hashlib

        if self.project.pyproject is None:
            return "no-lock"
        try:
            data = (self.project.pyproject.parent / "poetry.lock").read_bytes()
        except OSError:
            return "no-lock"
        return hashlib.sha256(data).hexdigest()[:32]

    def locate(self, exc: SetupError) -> SetupError:
        """An error about one of the project's plugins points at its requires-plugins line."""
        name = self.project.name_of(exc.plugin) if exc.plugin else None
        if name is not None and exc.file is None:
            exc.file, exc.line = self.project.pyproject, self.project.line_of(name)
        return exc


def make(settings: Settings) -> Plan:
    with preparing("working-directory", settings.working_directory):
        project = read_project_plugins(settings.working_directory)
        _check_stale_plugin_cache(settings.working_directory, settings.project_plugins)
    poetry_version = _poetry_version(
        settings.poetry_version, project, settings.index, settings.working_directory
    )
    project_requirements = _project_requirements(
        project,
        poetry_version,
        root=settings.working_directory,
        cache_dir=settings.install_dir / "requirements-cache",
        wanted=settings.project_plugins,
    )
    poetry_python = _poetry_python(settings.poetry_python, settings.host, settings.env)
    requirements = merge_requirements(project_requirements, settings.plugins)
    kept = applicable(requirements, poetry_python.markers)
    spec = InstallSpec(
        poetry_version=poetry_version,
        requirements=kept,
        python=poetry_python.path,
        python_version=poetry_python.version,
        installer=settings.installer,
        platform=f"{sys.platform}-{platform.machine()}",
        plugin_wheel=plugin_wheel.version(),
        dependencies=poetry_deps.choose(settings.poetry_dependencies, poetry_version),
        indexes=indexes(settings.index),
        sourced=_sourced(settings.index, settings.installer, project, kept),
    )
    return Plan(spec, install_key(spec), project)


def indexes(index: Index) -> tuple[str, ...]:
    """The index list, as the key and the manifest record it: names, priorities, public URLs."""
    named = [*index.search, *(s for s in index.project_sources if s.priority == "explicit")]
    return tuple(f"{s.uv_name} {s.priority} {s.url.public}" for s in named)


def _sourced(
    index: Index, installer: str, project: ProjectPlugins, requirements: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    """The plugins that name a source, with that source's uv name; refused where the project
    declares no such source (Poetry refuses it too) or the installer cannot pin a source."""
    wanted = named_sources(project)
    if not wanted:
        return ()
    declared = {s.name.lower(): s for s in index.project_sources if s.url.secret}
    declared[sources.PYPI] = index.source  # `source = "pypi"`: the setup's index
    pinned = []
    for requirement in requirements:
        name = project.name_of(requirement)
        source_name = wanted.get(canonical(name)) if name else None
        if name is None or source_name is None:
            continue
        if source_name not in declared:
            raise project.error(
                name,
                f" names the source {source_name!r}, which no [[tool.poetry.source]] declares:"
                " declare it, or remove `source`",
            )
        if installer == "pip":
            raise InputError(
                f"installer pip cannot take {name} from the source {source_name!r} alone:"
                " use installer uv, the default",
                input="installer",
            )
        pinned.append((requirement, declared[source_name].uv_name))
    return tuple(pinned)


def _check_stale_plugin_cache(working_directory: Path, project_plugins: bool) -> None:
    """`<project>/.poetry/plugins` goes on Poetry's sys.path before any plugin can move it, and
    its `.pth` files run then: from an untrusted checkout that is code execution."""
    stale = working_directory / ".poetry" / "plugins"
    if not stale.exists():
        return
    if not project_plugins:
        raise InputError(
            f"{stale} exists and Poetry loads it before any plugin: delete it (it is never"
            " committed); project-plugins: false cannot be honoured while it is there",
            input="project-plugins",
        )
    log.warning(
        "%s is left from a run without this setup and Poetry still puts it on sys.path:"
        " delete it once",
        stale,
    )


def _poetry_version(
    requested: str, project: ProjectPlugins, index: Index, working_directory: Path
) -> str:
    """The input, else what the project asks for; see poetry_request.py for the precedence."""
    wanted = project.requires_poetry
    line = project.line_of("requires-poetry") if wanted is not None else None
    if wanted is not None:
        poetry_request.check_constraint(wanted, project.pyproject, line)
    if requested:
        version = _resolve(requested, index)
        if wanted is not None and not poetry_request.allows(wanted, version):
            raise InputError(
                f"poetry-version {version} is outside the project's requires-poetry"
                f" {wanted!r}: pin a release it allows, or leave poetry-version empty",
                input="poetry-version",
                file=project.pyproject,
                line=line,
            )
        return version
    if wanted is not None:
        releases = versions.fetch_releases(index)
        newest = poetry_request.newest_allowed(wanted, releases)
        if newest is None:
            raise InputError(
                f"no Poetry release on the index {index.url} satisfies requires-poetry"
                f" {wanted!r}: fix the constraint, or set poetry-version",
                input="poetry-version",
                file=project.pyproject,
                line=line,
            )
        log.info("poetry-version: %s, the newest release within requires-poetry %r", newest, wanted)
        return newest
    if locked := poetry_request.lock_version(working_directory):
        log.info("poetry-version: %s, the release that wrote poetry.lock", locked)
        return locked
    raise InputError(
        "poetry-version is required: pin an exact release such as 2.5.1, or declare"
        " [tool.poetry] requires-poetry in pyproject.toml",
        input="poetry-version",
    )


def _resolve(requested: str, index: Index) -> str:
    if versions.is_exact(requested):
        return requested
    resolved = versions.resolve(requested, index)
    log.info("poetry-version %s resolved to %s", requested, resolved)
    return resolved


def _project_requirements(
    project: ProjectPlugins, poetry_version: str, *, root: Path, cache_dir: Path, wanted: bool
) -> list[str]:
    """The project's plugins as requirements; [] with a warning when `wanted` is false
    (project-plugins: false)."""
    if not project.table:
        return []
    if versions.major(poetry_version) < 2:
        raise InputError(
            f"poetry-version {poetry_version} ignores [tool.poetry.requires-plugins] (Poetry 2.0+"
            " reads it): pin Poetry 2.x, or list the plugins in the plugins input",
            input="poetry-version",
            file=project.pyproject,
            line=project.line_of("requires-plugins"),
        )
    requirements = to_requirements(project, root, cache_dir=cache_dir)
    if not wanted:
        log.warning(
            "project-plugins is false: not installing %s from %s",
            ", ".join(requirements),
            project.pyproject,
        )
        return []
    log.info("plugins from %s: %s", project.pyproject, ", ".join(requirements))
    return requirements


def _poetry_python(requested: str | None, host: Host, env: Mapping[str, str]) -> PoetryPython:
    if not requested:
        # The engine's own interpreter: the same for every job on the host, so they share.
        from packaging.markers import default_environment

        return PoetryPython(
            str(Path(sys.executable).resolve()),
            platform.python_version(),
            {k: str(v) for k, v in default_environment().items()},
        )
    if os.sep in requested or "/" in requested:
        found = interpreters.probe([requested], env)
        if isinstance(found, interpreters.Refused):
            raise InputError(
                f"poetry-python {requested!r} is not a working Python interpreter"
                f" ({found.reason}): give a path to one, or a version such as 3.12",
                input="poetry-python",
                details=found.output,
            )
    else:
        found = interpreters.find(requested, host, env, input_name="poetry-python")
    return PoetryPython(str(found.path.resolve()), found.version, found.markers)


def applicable(requirements: tuple[str, ...], markers: Mapping[str, str]) -> tuple[str, ...]:
    """Keep the requirements whose markers hold for Poetry's interpreter, as Poetry would."""
    from packaging.requirements import Requirement

    kept = []
    for text in requirements:
        marker = Requirement(text).marker if ";" in text else None  # parsing costs: skip most
        if marker is None or marker.evaluate({**markers, "extra": ""}):
            kept.append(text)
        else:
            log.info("skipping %s: its markers do not hold for Poetry's Python", text)
    return tuple(kept)
