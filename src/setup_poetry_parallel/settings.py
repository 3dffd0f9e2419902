"""Every input, read once and validated before anything is installed or written.

Inputs come from CLI flags, or, in the composite action, from `INPUT_*` variables that
action.yml maps in `env:` (composite actions get no `INPUT_*` variables by themselves).
This is the only module that reads the environment (tests/test_structure.py checks it): the
index and its timeouts, where interpreters live, the runner's files, all land here. Below it,
code gets this object; `Settings.env` is only handed on to the programs the engine starts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Literal

from setup_poetry_parallel.errors import InputError
from setup_poetry_parallel.index import sources
from setup_poetry_parallel.jobs import job_ids
from setup_poetry_parallel.outputs import runner_files
from setup_poetry_parallel.path_errors import dangling
from setup_poetry_parallel.redaction import SafeUrl, remember_environment
from setup_poetry_parallel.startup import defaults

InstallerName = Literal["uv", "pip"]  # installer.Installer runs the one named
PoetryDependencies = Literal["locked", "latest"]  # poetry_deps.py: the table, or afresh
OutputFormat = Literal["github", "sh", "dotenv", "json"]

FORMATS: Final = ("github", "sh", "dotenv", "json")
DEFAULT_INDEX: Final = "https://pypi.org/simple"
INDEX_VARIABLES: Final = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL")  # uv's order
HTTP_TIMEOUT: Final = 30.0  # uv's default UV_HTTP_TIMEOUT
HTTP_RETRIES: Final = 3  # uv's default UV_HTTP_RETRIES
INSTALLERS: Final = ("auto", "uv", "pip")
DEFAULT_LOCK_TIMEOUT: Final = 900.0
TRUE_WORDS: Final = ("true", "True", "TRUE")
FALSE_WORDS: Final = ("false", "False", "FALSE")

_VERSION_SPEC = re.compile(r"^(latest|\d+\.\d+|\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?(?:\.post\d+)?)$")
_PYTHON_SPEC = re.compile(r"^(?:pypy)?3\.\d+(?:\.\d+)?t?$")
# Read by Poetry when it picks the project env's Python: see project_env.py.
ENV_CHOICE: Final = (
    "POETRY_VIRTUALENVS_USE_POETRY_PYTHON",
    "POETRY_VIRTUALENVS_CREATE",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
)


@dataclass(frozen=True)
class RawInputs:
    """Inputs as the user wrote them, before validation (all text, like action inputs)."""

    poetry_version: str = ""
    python_versions: tuple[str, ...] = ()
    project_python: str = ""  # the one of python_versions the project env gets (project_env.py)
    plugins: tuple[str, ...] = ()
    working_directory: str = "."
    install_dir: str = ""
    state_dir: str = ""
    job_id: str = ""
    poetry_python: str = ""
    installer: str = "auto"
    lock_timeout: str = ""
    project_plugins: str = "true"
    fast_install: str = "false"
    download_cache: str = ""  # a directory; "" beside the installs; "false" turns it off
    output_format: str = ""
    poetry_dependencies: str = "locked"


@dataclass(frozen=True)
class Index:
    """The package index every request of the setup goes to, and how patiently; with the
    project's own sources, which decide where its plugins come from (sources.py)."""

    url: SafeUrl  # prints without its credentials; `.secret` only for requests and tools
    timeout: float
    retries: int
    # Added to the installer's environment so that uv and pip read the same index and limits.
    uv_env: Mapping[str, str] = field(default_factory=dict)
    pip_env: Mapping[str, str] = field(default_factory=dict)
    # What the setup's index is called in messages and to uv: "pypi", the variable that set it,
    # or the project's first primary source (then PyPI is never asked: see read_index).
    name: str = sources.PYPI
    credentials_from: str = ""
    project_sources: tuple[sources.Source, ...] = ()

    @property
    def source(self) -> sources.Source:
        """The setup's index as a source: where PyPI stands in Poetry's order."""
        return sources.Source(self.name, self.url, "primary", self.credentials_from)

    @property
    def search(self) -> tuple[sources.Source, ...]:
        """The indexes of the install, in the order uv searches them (sources.search_order)."""
        return sources.search_order(self.project_sources, self.source)

    @property
    def pins_poetry(self) -> bool:
        """The setup's index is not searched (the project's primary sources replace PyPI), so
        Poetry and its locked dependencies are pinned to it by name (installer.py)."""
        return all(s.url.public != self.url.public for s in self.search)


@dataclass(frozen=True)
class Host:
    """Where interpreters are looked up (interpreters.py)."""

    path: str  # PATH
    tool_cache: Path | None  # RUNNER_TOOL_CACHE
    pyenv_root: Path


@dataclass(frozen=True)
class Runner:
    """The GitHub Actions runner, when the engine runs on one."""

    active: bool  # GITHUB_ACTIONS=true
    debug: bool  # RUNNER_DEBUG=1
    files: Mapping[str, str] = field(default_factory=dict)  # GITHUB_ENV, ... that are set


@dataclass(frozen=True)
class Pause:
    """TEST-ONLY (SPP_TEST_PAUSE_AT/_DIR): the build stops at `point`; see install.py."""

    point: str
    directory: Path


@dataclass(frozen=True)
class Settings:
    poetry_version: str  # "" when the project's own request decides
    python_versions: tuple[str, ...]
    # `python-version`: the project env's Python. Not set for `python-versions` alone: an env
    # pinned with `poetry env use` wins over an active virtualenv, so tox's envs would be ignored.
    project_python: str | None
    plugins: tuple[str, ...]
    working_directory: Path
    install_dir: Path
    state_dir: Path
    job_id: str
    poetry_python: str | None
    installer: InstallerName
    lock_timeout: float
    project_plugins: bool
    download_cache: Path | None  # Poetry's downloads shared by the host's jobs; None: per job
    output_format: OutputFormat
    runner: Runner
    index: Index
    host: Host
    pause: Pause | None = None
    # What a download-cache error names: the input the user set and its path (by default the
    # cache is under install-dir, so install-dir is what the user has to fix).
    download_cache_input: tuple[str, Path] | None = None
    poetry_dependencies: PoetryDependencies = "locked"
    # The job's `poetry install` hands Poetry's package operations to uv (spp_fast_install.py).
    fast_install: bool = False
    # POETRY_DYNAMIC_VERSIONING_COMMANDS_NO_IO as the user set it (None: unset): theirs wins.
    dynamic_versioning_no_io: str | None = None
    # The variables that decide which Python Poetry gives the project env (project_env.py).
    env_choice: Mapping[str, str] = field(default_factory=dict)
    # The environment handed to every program the engine starts; never read below here.
    env: Mapping[str, str] = field(default_factory=dict, repr=False)


def split_words(text: str) -> tuple[str, ...]:
    """`python-versions` may be one per line or space separated."""
    return tuple(text.split())


def split_lines(text: str) -> tuple[str, ...]:
    """`plugins` are one requirement per line (a requirement may contain spaces)."""
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def inputs_from_env(environ: Mapping[str, str]) -> RawInputs:
    """The composite action's inputs, which action.yml passes as INPUT_* variables."""

    def get(name: str, default: str = "") -> str:
        return environ.get(f"INPUT_{name}", default).strip()

    return RawInputs(
        poetry_version=get("POETRY_VERSION"),
        python_versions=split_words(get("PYTHON_VERSION")) + split_words(get("PYTHON_VERSIONS")),
        project_python=get("PYTHON_VERSION"),
        plugins=split_lines(environ.get("INPUT_PLUGINS", "")),
        working_directory=get("WORKING_DIRECTORY", ".") or ".",
        install_dir=get("INSTALL_DIR"),
        state_dir=get("STATE_DIR"),
        job_id=get("JOB_ID"),
        poetry_python=get("POETRY_PYTHON"),
        installer=get("INSTALLER", "auto") or "auto",
        lock_timeout=get("LOCK_TIMEOUT"),
        project_plugins=get("PROJECT_PLUGINS", "true") or "true",
        fast_install=get("FAST_INSTALL", "false") or "false",
        download_cache=get("DOWNLOAD_CACHE"),
        poetry_dependencies=get("POETRY_DEPENDENCIES", "locked") or "locked",
    )


def current_environment() -> Mapping[str, str]:
    """The process environment, read here and only here."""
    return os.environ


def read_runner(environ: Mapping[str, str]) -> Runner:
    """Never fails: the error handler needs it before any input is validated."""
    return Runner(
        active=environ.get("GITHUB_ACTIONS") == "true",
        debug=environ.get("RUNNER_DEBUG") == "1",
        files={name: environ[name] for name in runner_files.NAMES if environ.get(name)},
    )


def read_index(environ: Mapping[str, str], working_directory: Path | None = None) -> Index:
    """The index uv would use (its own variables first, then pip's), with uv's limits, and the
    project's sources. Without an index variable, a project whose primary source replaces PyPI
    gets Poetry from that source too: an air-gapped CI reaches only its internal index, and
    the locked table's hashes make the choice of index safe either way."""
    project = _project_sources(environ, working_directory)
    variable = next((n for n in INDEX_VARIABLES if environ.get(n, "").strip()), None)
    primary = next((s for s in project if s.priority == "primary" and s.url.secret), None)
    if variable:
        given = environ[variable].strip().rstrip("/")
        url, _ = sources.credentialed(given, environ)
        name, origin = variable.lower(), "its URL or ~/.netrc"
    elif primary is not None:
        name, url, origin = primary.name, primary.url, primary.credentials_from
    else:
        name, url, origin = sources.PYPI, SafeUrl(DEFAULT_INDEX), ""
    try:
        timeout = float(environ.get("UV_HTTP_TIMEOUT", "") or HTTP_TIMEOUT)
    except ValueError:
        timeout = HTTP_TIMEOUT
    try:
        retries = max(0, int(environ.get("UV_HTTP_RETRIES", "") or HTTP_RETRIES))
    except ValueError:
        retries = HTTP_RETRIES
    timeout = timeout if timeout > 0 else HTTP_TIMEOUT
    index = Index(url, timeout, retries, {}, {}, name, origin, project)
    pip_env = {
        "PIP_INDEX_URL": url.secret,
        "PIP_TIMEOUT": environ.get("PIP_TIMEOUT") or f"{timeout:g}",
        "PIP_RETRIES": environ.get("PIP_RETRIES") or str(retries),
    }
    pinned = [index.source] if index.pins_poetry else []
    uv_env = uv_indexes(index.search, index.project_sources, pinned)
    return replace(index, uv_env=uv_env, pip_env=pip_env)


def _project_sources(
    environ: Mapping[str, str], working_directory: Path | None
) -> tuple[sources.Source, ...]:
    if working_directory is None:
        return ()
    try:
        return sources.read_project(working_directory, environ)
    except sources.SourceError as exc:
        raise InputError(f"{exc}: fix pyproject.toml", input="working-directory") from None


# The installer's own index variables: replaced by the list below, never merged with it.
UV_INDEX_VARIABLES: Final = (
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_INDEX_STRATEGY",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
)


def uv_indexes(
    search: Sequence[sources.Source],
    project: Sequence[sources.Source],
    setup: Sequence[sources.Source] = (),
) -> dict[str, str]:
    """uv's variables for the search order: URLs without credentials (uv prints them, and
    argv is readable by every user of the host), credentials in `UV_INDEX_<NAME>_*`, which
    only this user's processes can read. `first-index`: a name is taken from the first index
    that lists it, never the best version across indexes (uv's default, against dependency
    confusion; Poetry merges its primary sources, a difference only when two of them carry
    the same name)."""
    named = [*search, *(s for s in project if s.priority == "explicit"), *setup]
    env = {
        "UV_INDEX_STRATEGY": "first-index",
        "UV_DEFAULT_INDEX": f"{search[-1].uv_name}={search[-1].url.public}",
    }
    if len(search) > 1:
        env["UV_INDEX"] = " ".join(f"{s.uv_name}={s.url.public}" for s in search[:-1])
    for source in named:
        if login := source.url.credentials:
            stem = f"UV_INDEX_{sources.uv_variable(source.uv_name)}"
            env[f"{stem}_USERNAME"], env[f"{stem}_PASSWORD"] = login
    return env


def read_host(environ: Mapping[str, str]) -> Host:
    home = Path(environ.get("HOME", "~")).expanduser()
    return Host(
        path=environ.get("PATH", ""),
        tool_cache=Path(environ["RUNNER_TOOL_CACHE"]) if environ.get("RUNNER_TOOL_CACHE") else None,
        pyenv_root=Path(environ.get("PYENV_ROOT") or home / ".pyenv"),
    )


def _pause(environ: Mapping[str, str]) -> Pause | None:
    point, directory = environ.get("SPP_TEST_PAUSE_AT"), environ.get("SPP_TEST_PAUSE_DIR")
    return Pause(point, Path(directory)) if point and directory else None


def validate(raw: RawInputs, environ: Mapping[str, str]) -> Settings:
    # Before anything can print: the passwords and index URLs of Poetry's, uv's and pip's
    # variables are masked wherever they appear, even in a tool's output (redaction.py).
    remember_environment(environ.items())
    runner = read_runner(environ)
    install_dir = _dir_input(raw.install_dir, "install-dir") or Path(defaults.install_dir(environ))
    working_directory = _working_directory(raw.working_directory)
    index = read_index(environ, working_directory)
    return Settings(
        poetry_version=_poetry_version(raw.poetry_version),
        python_versions=_python_versions(raw.python_versions),
        project_python=_python_versions([raw.project_python])[0] if raw.project_python else None,
        plugins=_plugins(raw.plugins),
        working_directory=working_directory,
        install_dir=install_dir,
        state_dir=_dir_input(raw.state_dir, "state-dir") or Path(defaults.state_dir(environ)),
        job_id=_job_id(raw.job_id) if raw.job_id else job_ids.default_job_id(environ),
        poetry_python=raw.poetry_python or None,
        installer=_installer(raw.installer, index),
        lock_timeout=_lock_timeout(raw.lock_timeout),
        project_plugins=_boolean(raw.project_plugins, "project-plugins"),
        fast_install=_boolean(raw.fast_install, "fast-install"),
        download_cache=_download_cache(raw.download_cache, install_dir),
        download_cache_input=("download-cache", Path(raw.download_cache))
        if raw.download_cache
        else ("install-dir", install_dir),
        output_format=_output_format(raw.output_format, on_runner=runner.active),
        runner=runner,
        index=index,
        host=read_host(environ),
        pause=_pause(environ),
        poetry_dependencies=_poetry_dependencies(raw.poetry_dependencies),
        dynamic_versioning_no_io=environ.get("POETRY_DYNAMIC_VERSIONING_COMMANDS_NO_IO"),
        env_choice={k: environ[k] for k in ENV_CHOICE if k in environ},
        env=dict(environ),
    )


def _poetry_version(text: str) -> str:
    if not text:
        return ""  # the project's requires-poetry or poetry.lock decides (plan.py)
    if not _VERSION_SPEC.match(text):
        raise InputError(
            f"poetry-version {text!r} is not a Poetry release: use an exact version such as"
            " 2.5.1 (or X.Y, or latest)",
            input="poetry-version",
        )
    return text


def _python_versions(values: Sequence[str]) -> tuple[str, ...]:
    for value in values:
        if not _PYTHON_SPEC.match(value):
            raise InputError(
                f"python-version {value!r} is not a Python version: use 3.X or 3.X.Y, e.g. 3.12",
                input="python-version",
            )
    return tuple(dict.fromkeys(values))  # the first one is the project env's Python


def _plugins(values: Sequence[str]) -> tuple[str, ...]:
    if not values:
        return ()
    from packaging.requirements import InvalidRequirement, Requirement

    for value in values:
        try:
            Requirement(value)
        except InvalidRequirement as exc:
            raise InputError(
                f"plugins: {value!r} is not a requirement ({str(exc).splitlines()[0]});"
                " write one per line,"
                " e.g. poetry-plugin-export>=1.8",
                input="plugins",
            ) from None
    return tuple(values)


def _working_directory(text: str) -> Path:
    path = Path(text).expanduser()
    if path.is_dir():
        return path.resolve()
    if dangling(path):
        problem = "is a dangling symbolic link"
    elif path.exists():
        problem = "is a file, not a directory"
    else:
        problem = "does not exist"
    raise InputError(
        f"working-directory {text!r} {problem}: point it at the folder that holds pyproject.toml",
        input="working-directory",
    )


def _dir_input(text: str, name: str) -> Path | None:
    if not text:
        return None
    if "\n" in text or "\r" in text or "\0" in text:
        raise InputError(f"{name} must be a single path without line breaks", input=name)
    path = Path(text).expanduser()
    if dangling(path):  # resolve() would follow it, and mkdir create whatever it names
        raise InputError(
            f"{name} {text!r} is a dangling symbolic link: fix or remove the link", input=name
        )
    return path.resolve()


def _download_cache(text: str, install_dir: Path) -> Path | None:
    if text in FALSE_WORDS:
        return None
    return _dir_input(text, "download-cache") or install_dir / "downloads"


def _job_id(text: str) -> str:
    if not job_ids.valid(text):
        raise InputError(
            f"job-id {text!r} must be a file name: letters, digits, '.', '_' and '-' only",
            input="job-id",
        )
    return text


def _installer(text: str, index: Index) -> InstallerName:
    if text not in INSTALLERS:
        raise InputError(f"installer {text!r} is unknown: use auto, uv or pip", input="installer")
    if text == "pip" and (len(index.search) > 1 or index.pins_poetry):
        # pip merges every index it is given and takes the best version: a public package
        # could then replace one the project gets from its own source.
        raise InputError(
            "installer pip cannot keep the project's sources apart (it takes the best version"
            f" across {', '.join(dict.fromkeys(s.name for s in (*index.search, index.source)))}):"
            " use installer uv, the default",
            input="installer",
        )
    return "pip" if text == "pip" else "uv"


def _poetry_dependencies(text: str) -> PoetryDependencies:
    if text == "latest":
        return "latest"
    if text == "locked" or not text:
        return "locked"
    raise InputError(
        f"poetry-dependencies {text!r} is unknown: use locked (the hash-checked table) or latest",
        input="poetry-dependencies",
    )


def _lock_timeout(text: str) -> float:
    if not text:
        return DEFAULT_LOCK_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise InputError(
            f"lock-timeout {text!r} must be a positive number of seconds, e.g. 600",
            input="lock-timeout",
        )
    return value


def _boolean(text: str, name: str) -> bool:
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise InputError(f"{name} {text!r} must be true or false", input=name)


def _output_format(text: str, *, on_runner: bool) -> OutputFormat:
    if not text:
        return "github" if on_runner else "sh"
    for name in FORMATS:
        if text == name:
            return name
    raise InputError(f"format {text!r} is unknown: use github, sh, dotenv or json", input="format")
