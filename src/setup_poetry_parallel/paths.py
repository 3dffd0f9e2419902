"""Every directory the engine uses, derived in one place. Nothing here touches the disk."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import PurePath


def _windows() -> bool:
    return os.name == "nt"


@dataclass(frozen=True)
class VenvPaths:
    root: PurePath
    windows: bool

    @property
    def bin(self) -> PurePath:
        return self.root / ("Scripts" if self.windows else "bin")

    @property
    def python(self) -> PurePath:
        return self.bin / ("python.exe" if self.windows else "python")

    @property
    def poetry(self) -> PurePath:
        return self.bin / ("poetry.exe" if self.windows else "poetry")


@dataclass(frozen=True)
class InstallPaths:
    """`install-dir/<key>/`: shared by every job that asks for the same install.

    Builds never happen in place: each goes to `builds/<id>` and `current.json` is switched
    to it last, so a job reading the old build is never pulled out from under.
    """

    root: PurePath
    windows: bool

    @property
    def lock(self) -> PurePath:
        return self.root / "install.lock"

    @property
    def current(self) -> PurePath:
        return self.root / "current.json"

    @property
    def builds(self) -> PurePath:
        return self.root / "builds"

    def build(self, build_id: str) -> VenvPaths:
        return VenvPaths(self.builds / build_id, self.windows)


def install_paths(install_dir: PurePath, key: str, *, windows: bool | None = None) -> InstallPaths:
    return InstallPaths(install_dir / key, _windows() if windows is None else windows)


@dataclass(frozen=True)
class JobPaths:
    """`state-dir/<job-id>/`: this job's own Poetry dirs, never shared."""

    root: PurePath
    windows: bool

    @property
    def cache(self) -> PurePath:
        return self.root / "cache"

    @property
    def config(self) -> PurePath:
        return self.root / "config"

    @property
    def data(self) -> PurePath:
        return self.root / "data"

    @property
    def virtualenvs(self) -> PurePath:
        return self.root / "virtualenvs"

    @property
    def plugin_cache(self) -> PurePath:
        return self.root / "project-plugins"

    @property
    def tox_work_dir(self) -> PurePath:
        """TOX_WORK_DIR: two jobs running tox on one directory must not share its `.tox/`.
        Made by tox."""
        return self.root / "tox"

    @property
    def bin(self) -> PurePath:
        """Holds only `poetry`: Poetry's venv bin/ would shadow the job's python and pip."""
        return self.root / "bin"

    @property
    def pythons(self) -> PurePath:
        """`python3.X` links for tools (tox) that look interpreters up on PATH."""
        return self.root / "pythons"

    @property
    def poetry_shim(self) -> PurePath:
        return self.bin / ("poetry.exe" if self.windows else "poetry")

    def created_dirs(self) -> tuple[PurePath, ...]:
        """The dirs the engine creates. Not the plugin cache: Poetry takes an existing one
        without its config.toml for an outdated cache and "rebuilds" it, so it is created
        only with that file in it (plugin_cache.py), or by Poetry."""
        return (self.cache, self.config, self.data, self.virtualenvs, self.bin, self.pythons)


def job_paths(state_dir: PurePath, job_id: str, *, windows: bool | None = None) -> JobPaths:
    return JobPaths(state_dir / job_id, _windows() if windows is None else windows)
