"""Running uv or pip: Poetry's venv, the install into it, and the check that it loads.

Poetry's own dependencies are held to the set poetry_deps.py chose, as constraints, so that
the project's plugins resolve together with them in the same run:

- locked, uv: the table file is the constraints file. uv checks the sha256 of every file of a
  package the constraints name (`--verify-hashes`) and lets the plugins' other dependencies
  through unhashed: one resolution, Poetry's whole set verified.
- locked, pip: pip checks hashes only when every requirement has one (a hashed constraint
  turns that on for the plugins too), so it installs the table first with `--require-hashes`,
  then the plugins with the table's pins (no hashes) as constraints, which keep that set.
- release-date: uv resolves Poetry alone for this interpreter as of the release's upload
  time; those pins are the constraints (written into the build, for the record).
- latest: no constraints.

Every failure goes through installer_errors.py, which turns the tool's output into one line
that names the index, the package or the plugin.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from setup_poetry_parallel import background, process
from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.index import release_files
from setup_poetry_parallel.paths import VenvPaths
from setup_poetry_parallel.poetry_venv import bytecode, poetry_deps
from setup_poetry_parallel.poetry_venv.installer_errors import installer_error
from setup_poetry_parallel.poetry_venv.key import InstallSpec
from setup_poetry_parallel.settings import UV_INDEX_VARIABLES, Index

log = logging.getLogger(__name__)

# Loads every Poetry plugin entry point, as Poetry would at start-up, and reports what is there
# plus, for the cheap health check, one module file and the metadata of every distribution.
# Runs on Poetry's interpreter (3.9+), hence no newer syntax. It writes the bytecode of what it
# loads even where the job cannot (PYTHONDONTWRITEBYTECODE): the plugins' is on no list.
VERIFY = r"""
import json, sys
sys.dont_write_bytecode = False
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


# Compiles Poetry's own package (poetry and poetry.core: about 200 of the ~600 modules every
# Poetry start imports) on the core the check above leaves idle: the job's first `poetry` then
# starts 0.3 s sooner, for 0.07 s more here. Runs on Poetry's interpreter (3.9+).
COMPILE_POETRY = r"""
import compileall, importlib.util
spec = importlib.util.find_spec("poetry")
for where in (spec.submodule_search_locations or []) if spec else []:
    compileall.compile_dir(where, quiet=2)
"""


class Installer:
    """uv or pip, run with the index and limits from settings on top of the job's env."""

    def __init__(self, spec: InstallSpec, index: Index, env: Mapping[str, str]) -> None:
        self.spec, self.index = spec, index
        extra = index.uv_env if spec.installer == "uv" else index.pip_env
        # The job's own index variables are replaced, never merged: uv would search an extra
        # index before the project's sources (settings.uv_indexes).
        kept = {k: v for k, v in env.items() if k not in UV_INDEX_VARIABLES}
        self.env = {**kept, **extra}

    def create_venv(self, venv: VenvPaths) -> None:
        if self.spec.installer == "uv":
            argv = [process.uv(), "venv", "--quiet", "--no-project", "--python", self.spec.python]
            self._run([*argv, str(venv.root)], venv, "creating Poetry's venv")
        else:
            self._run(
                [self.spec.python, "-m", "venv", str(venv.root)], venv, "creating Poetry's venv"
            )

    def install(self, venv: VenvPaths, requirements: Sequence[str]) -> None:
        constraints = self._constraints(venv)
        if self.spec.installer == "uv":
            argv = [process.uv(), "pip", "install", *constraints]
            argv += ["--python", str(venv.python)]
            if sourced := self._sourced():
                argv += ["-r", str(self._sourced_project(venv, sourced))]
                pinned = {requirement for requirement, _ in sourced}
                requirements = [r for r in requirements if r not in pinned]
        else:
            argv = [str(venv.python), "-m", "pip", "install", "--disable-pip-version-check"]
            if lock := self._lock():
                text = poetry_deps.poetry_first(lock.read_text(encoding="utf-8"))
                hashed = _write(venv, "spp-poetry-lock.txt", text)
                self._run([*argv, "--require-hashes", "-r", str(hashed)], venv, "installing Poetry")
            argv += constraints
        self._run([*argv, *requirements], venv, "installing Poetry and plugins")

    def _sourced(self) -> list[tuple[str, str]]:
        """(requirement, index) for everything taken from one index by name: the plugins that
        name a source, and, where the project's primary sources replace PyPI, Poetry and its
        locked table from the setup's index (sources.search_order)."""
        if not self.index.pins_poetry:
            return list(self.spec.sourced)
        setup = self.index.source.uv_name
        own = [f"poetry=={self.spec.poetry_version}"]
        if lock := self._lock():
            table = poetry_deps.pins(lock.read_text(encoding="utf-8")).splitlines()
            own += [line for line in table if not line.startswith("poetry==")]
        return [*((r, setup) for r in own), *self.spec.sourced]

    def _sourced_project(self, venv: VenvPaths, sourced: Sequence[tuple[str, str]]) -> Path:
        """The plugins that name a source, as a pyproject.toml whose `tool.uv.sources` pins each
        to its index: `uv pip install -r` honours them, and `explicit` keeps those indexes to
        the names pinned there, as Poetry does. URLs without credentials: uv finds those in
        `UV_INDEX_<NAME>_*` (settings.uv_indexes)."""
        names = dict.fromkeys(name for _, name in sourced)
        everywhere = (*self.index.search, *self.index.project_sources, self.index.source)
        urls = {s.uv_name: s.url.public for s in everywhere if s.url.public}
        lines = ["[project]", 'name = "spp-sourced-plugins"', 'version = "0"', "dependencies = ["]
        lines += [f"  {json.dumps(requirement)}," for requirement, _ in sourced]
        lines += ["]", "", "[tool.uv.sources]"]
        # One entry per name (the table may pin one name twice, under exclusive markers).
        for project, name in {_project_name(r): name for r, name in sourced}.items():
            lines.append(f"{json.dumps(project)} = {{ index = {json.dumps(name)} }}")
        for name in names:
            lines += ["", "[[tool.uv.index]]", f"name = {json.dumps(name)}"]
            lines += [f"url = {json.dumps(urls[name])}", "explicit = true"]
        directory = Path(venv.root) / "spp-sources"
        directory.mkdir(exist_ok=True)
        return _write_in(directory, "pyproject.toml", "\n".join(lines) + "\n")

    def _compilers(self, venv: VenvPaths) -> list[list[str]]:
        """What compiles bytecode beside the check. uv leaves it to the first Poetry start that
        imports each module (as a bare `uv pip install` does): Poetry imports about 600 of its
        ~1,400 modules at all, and compiling them all here cost the setup 1.1 s against 0.6 s
        for those it imports (the build gives every package dir its `__pycache__`:
        dir_checks.close_to_others). Poetry's own package is compiled here meanwhile. A job
        that cannot write bytecode (PYTHONDONTWRITEBYTECODE, set in many container images)
        would compile in memory on every start (0.5 s -> 1.2 s): what Poetry's usual commands
        import is compiled here then (bytecode.py; all of it, `--compile-bytecode`, made cold
        setup + first start 1.5x the bare uv pair). pip compiles everything as it installs."""
        if self.spec.installer != "uv":
            return []
        if self.env.get("PYTHONDONTWRITEBYTECODE"):
            return bytecode.compile_argvs(str(venv.python))
        return [[str(venv.python), "-c", COMPILE_POETRY]]

    def _lock(self) -> Path | None:
        if poetry_deps.kind(self.spec.dependencies) != "locked":
            return None
        if lock := poetry_deps.lock_path(self.spec.poetry_version):
            return lock
        # The plan found it a moment ago: the action's own files changed under it.
        raise SetupError(
            f"the locked table for Poetry {self.spec.poetry_version} is gone from"
            f" {poetry_deps.LOCKS}: reinstall setup-poetry-parallel"
        )

    def _constraints(self, venv: VenvPaths) -> list[str]:
        """Arguments that hold Poetry's dependencies to the chosen set (see the docstring)."""
        if lock := self._lock():
            if self.spec.installer == "uv":
                return ["--verify-hashes", "--constraint", str(lock)]
            pins = poetry_deps.pins(lock.read_text(encoding="utf-8"))
            return ["--constraint", str(_write(venv, "spp-poetry-pins.txt", pins))]
        if poetry_deps.kind(self.spec.dependencies) == "release-date":
            pinned = self._as_of_release(venv)
            return ["--constraint", str(pinned)] if pinned else []
        return []

    def _as_of_release(self, venv: VenvPaths) -> Path | None:
        """Poetry resolved alone, for this interpreter, as the index had it at the release."""
        version = self.spec.poetry_version
        uploaded = release_files.read("poetry", version, self.index).uploaded
        if uploaded is None:
            log.warning(
                "the index %s gives no upload time for Poetry %s: installing its newest"
                " dependencies instead",
                self.index.url,
                version,
            )
            return None
        # A minute later: the release's own files, uploaded one after the other, are all in.
        when = (uploaded + datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        log.info("Poetry %s's dependencies as of %s (its release)", version, when)
        request = _write(venv, "spp-poetry.in", f"poetry=={version}\n")
        pinned = Path(venv.root) / "spp-poetry-pins.txt"
        argv = [process.uv(), "pip", "compile", "--quiet", "--no-header", "--no-annotate"]
        argv += ["--python", str(venv.python), "--exclude-newer", when]
        # uv even for installer: pip, so with uv's view of the index (it ignores PIP_INDEX_URL).
        env = {**self.env, **self.index.uv_env}
        self._run(
            [*argv, str(request), "-o", str(pinned)], venv, "resolving Poetry's dependencies", env
        )
        return pinned

    def verify(self, venv: VenvPaths) -> dict[str, Any]:
        """Load every plugin as Poetry would; what is there, for the manifest."""
        with contextlib.ExitStack() as compiling:
            for argv in self._compilers(venv):
                compiling.enter_context(background.Task(self._compile, argv))
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

    def _compile(self, argv: Sequence[str]) -> None:
        """Best effort: a module that does not compile fails at its import, as it would."""
        try:
            process.run(argv, env=self.env, what="compiling Poetry")
        except SetupError as exc:
            log.debug("%s", exc)

    def _run(
        self, argv: Sequence[str], venv: VenvPaths, what: str, env: Mapping[str, str] | None = None
    ) -> None:
        try:
            process.run(
                argv,
                env=self.env if env is None else env,
                cwd=Path(venv.root).parent.parent,
                what=what,
            )
        except SetupError as exc:
            raise installer_error(
                exc, self.spec, venv, str(self.index.url), sources=self.index
            ) from None


def _write(venv: VenvPaths, name: str, text: str) -> Path:
    return _write_in(Path(venv.root), name, text)


def _write_in(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def _project_name(requirement: str) -> str:
    from packaging.requirements import Requirement

    return Requirement(requirement).name
