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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from setup_poetry_parallel import job_ids
from setup_poetry_parallel.errors import InputError
from setup_poetry_parallel.path_errors import dangling
from setup_poetry_parallel.redaction import SafeUrl, remember_environment

Installer = Literal["uv", "pip"]
PoetryDependencies = Literal["locked", "latest"]
OutputFormat = Literal["github", "sh", "dotenv", "json"]

FORMATS: Final = ("github", "sh", "dotenv", "json")
RUNNER_FILES: Final = ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")
DEFAULT_INDEX: Final = "https://pypi.org/simple"
INDEX_VARIABLES: Final = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL")  # uv's order
HTTP_TIMEOUT: Final = 30.0  # uv's default UV_HTTP_TIMEOUT
HTTP_RETRIES: Final = 3  # uv's default UV_HTTP_RETRIES
INSTALLERS: Final = ("auto", "uv", "pip")
POETRY_DEPENDENCIES: Final = ("locked", "latest")  # poetry_deps.py: the table, or afresh
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
    download_cache: str = ""  # a directory; "" beside the installs; "false" turns it off
    output_format: str = ""
    poetry_dependencies: str = "locked"


@dataclass(frozen=True)
class Index:
    """The package index every request of the setup goes to, and how patiently."""

    url: SafeUrl  # prints without its credentials; `.secret` only for requests and tools
    timeout: float
    retries: int
    # Added to the installer's environment so that uv and pip read the same index and limits.
    uv_env: Mapping[str, str] = field(default_factory=dict)
    pip_env: Mapping[str, str] = field(default_factory=dict)


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
    installer: Installer
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
        files={name: environ[name] for name in RUNNER_FILES if environ.get(name)},
    )


def read_index(environ: Mapping[str, str]) -> Index:
    """The index uv would use (its own variables first, then pip's), with uv's limits."""
    variable = next((n for n in INDEX_VARIABLES if environ.get(n, "").strip()), None)
    url = environ[variable].strip().rstrip("/") if variable else DEFAULT_INDEX
    try:
        timeout = float(environ.get("UV_HTTP_TIMEOUT", "") or HTTP_TIMEOUT)
    except ValueError:
        timeout = HTTP_TIMEOUT
    try:
        retries = max(0, int(environ.get("UV_HTTP_RETRIES", "") or HTTP_RETRIES))
    except ValueError:
        retries = HTTP_RETRIES
    timeout = timeout if timeout > 0 else HTTP_TIMEOUT
    uv_env = {"UV_DEFAULT_INDEX": url} if variable == "PIP_INDEX_URL" else {}  # uv ignores pip's
    pip_env = {
        **({"PIP_INDEX_URL": url} if variable not in (None, "PIP_INDEX_URL") else {}),
        "PIP_TIMEOUT": environ.get("PIP_TIMEOUT") or f"{timeout:g}",
        "PIP_RETRIES": environ.get("PIP_RETRIES") or str(retries),
    }
    return Index(SafeUrl(url), timeout, retries, uv_env, pip_env)


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
    install_dir = _dir_input(raw.install_dir, "install-dir") or default_install_dir(environ)
    return Settings(
        poetry_version=_poetry_version(raw.poetry_version),
        python_versions=_python_versions(raw.python_versions),
        project_python=_python_versions([raw.project_python])[0] if raw.project_python else None,
        plugins=_plugins(raw.plugins),
        working_directory=_working_directory(raw.working_directory),
        install_dir=install_dir,
        state_dir=_dir_input(raw.state_dir, "state-dir") or default_state_dir(environ),
        job_id=_job_id(raw.job_id) if raw.job_id else job_ids.default_job_id(environ),
        poetry_python=raw.poetry_python or None,
        installer=_installer(raw.installer),
        lock_timeout=_lock_timeout(raw.lock_timeout),
        project_plugins=_boolean(raw.project_plugins, "project-plugins"),
        download_cache=_download_cache(raw.download_cache, install_dir),
        download_cache_input=("download-cache", Path(raw.download_cache))
        if raw.download_cache
        else ("install-dir", install_dir),
        output_format=_output_format(raw.output_format, on_runner=runner.active),
        runner=runner,
        index=read_index(environ),
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


def _installer(text: str) -> Installer:
    if text not in INSTALLERS:
        raise InputError(f"installer {text!r} is unknown: use auto, uv or pip", input="installer")
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


def default_install_dir(environ: Mapping[str, str]) -> Path:
    """Shared by every job that can see it: the runner's tool cache, else the user's cache."""
    if tool_cache := environ.get("RUNNER_TOOL_CACHE"):
        return Path(tool_cache) / "setup-poetry-parallel"
    if xdg := environ.get("XDG_CACHE_HOME"):
        return Path(xdg) / "setup-poetry-parallel"
    if local := environ.get("LOCALAPPDATA"):
        return Path(local) / "setup-poetry-parallel" / "Cache"
    return Path.home() / ".cache" / "setup-poetry-parallel"


def default_state_dir(environ: Mapping[str, str]) -> Path:
    """Per-job state, this user's only: the runner's temp dir (per job, emptied after it), else
    beside the user's cache. Never a predictable name in the shared temp dir: another user
    could make it first and replace the job's `bin/poetry`. Not $XDG_RUNTIME_DIR either: a
    small tmpfs that CI services often lack, and the job's project envs live here.
    job.make_dirs makes it 0700 and refuses it unless it is this user's and private."""
    if runner_temp := environ.get("RUNNER_TEMP"):
        return Path(runner_temp) / "setup-poetry-parallel"
    if xdg := environ.get("XDG_CACHE_HOME"):
        return Path(xdg) / "setup-poetry-parallel-state"
    if local := environ.get("LOCALAPPDATA"):
        return Path(local) / "setup-poetry-parallel" / "State"
    return Path.home() / ".cache" / "setup-poetry-parallel-state"
