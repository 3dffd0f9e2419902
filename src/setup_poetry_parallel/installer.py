"""Running uv or pip: Poetry's venv, the install into it, and the check that it loads.

Every failure goes through installer_errors.py, which turns the tool's output into one line
that names the index, the package or the plugin.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from setup_poetry_parallel import process
from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.installer_errors import installer_error
from setup_poetry_parallel.key import InstallSpec
from setup_poetry_parallel.paths import VenvPaths
from setup_poetry_parallel.settings import Index

# Loads every Poetry plugin entry point, as Poetry would at start-up, and reports what is there
# plus, for the cheap health check, one module file and the metadata of every distribution.
# Runs on Poetry's interpreter (3.9+), hence no newer syntax.
VERIFY = r"""
import json, sys
from importlib import metadata
eps = metadata.entry_points()
found, files = [], []
for group in ("poetry.plugin", "poetry.application.plugin"):
    for ep in (eps.select(group=group) if hasattr(eps, "select") else eps.get(group, [])):
        ep.load()
        found.append(ep.name)
        files.append(sys.modules[ep.module].__file__)
import poetry.__version__ as v
files.append(v.__file__)
for dist in metadata.distributions():
    own = [p for p in (dist.files or []) if ".." not in p.parts]
    modules = [p for p in own if p.suffix == ".py"]
    if modules:
        files.append(str(dist.locate_file(min(modules, key=lambda p: (len(p.parts), str(p))))))
    files.extend(str(dist.locate_file(p)) for p in own if p.name == "METADATA")
print(json.dumps({"poetry": v.__version__, "entry_points": found, "files": sorted(set(files)),
                  "sys_version": sys.version}))
"""


class Installer:
    """uv or pip, run with the index and limits from settings on top of the job's env."""

    def __init__(self, spec: InstallSpec, index: Index, env: Mapping[str, str]) -> None:
        self.spec, self.index = spec, index
        extra = index.uv_env if spec.installer == "uv" else index.pip_env
        self.env = {**env, **extra}

    def create_venv(self, venv: VenvPaths) -> None:
        if self.spec.installer == "uv":
            argv = [_uv(), "venv", "--quiet", "--no-project", "--python", self.spec.python]
            self._run([*argv, str(venv.root)], venv, "creating Poetry's venv")
        else:
            self._run(
                [self.spec.python, "-m", "venv", str(venv.root)], venv, "creating Poetry's venv"
            )

    def install(self, venv: VenvPaths, requirements: Sequence[str]) -> None:
        if self.spec.installer == "uv":
            # Compiled once here, or every Poetry start compiles ~1,400 modules again where jobs
            # cannot write to the install (or run with PYTHONDONTWRITEBYTECODE): 0.6 s -> 2 s.
            argv = [_uv(), "pip", "install", "--compile-bytecode", "--python", str(venv.python)]
        else:
            argv = [str(venv.python), "-m", "pip", "install", "--disable-pip-version-check"]
        self._run([*argv, *requirements], venv, "installing Poetry and plugins")

    def verify(self, venv: VenvPaths) -> dict[str, Any]:
        """Load every plugin as Poetry would; what is there, for the manifest."""
        found: dict[str, Any] = json.loads(
            process.run(
                [venv.python, "-c", VERIFY], env=self.env, what="checking the Poetry install"
            )
        )
        if found["poetry"] != self.spec.poetry_version:
            raise SetupError(
                f"the install has Poetry {found['poetry']}, not {self.spec.poetry_version}:"
                " check the plugins' requirements on Poetry"
            )
        return found

    def _run(self, argv: Sequence[str], venv: VenvPaths, what: str) -> None:
        try:
            process.run(argv, env=self.env, cwd=Path(venv.root).parent.parent, what=what)
        except SetupError as exc:
            raise installer_error(exc, self.spec, venv, self.index.url) from None


def _uv() -> str:
    from uv import find_uv_bin

    return find_uv_bin()
