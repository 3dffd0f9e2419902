"""How the job's project env gets the Python of `python-version` without starting Poetry.

Poetry 2 creates a project env on the first command that needs one, with the first `python`
on PATH (`Python.get_preferred_python`: `shutil.which("python")`, 2.0 to 2.5), named for its
minor, unless `virtualenvs.use-poetry-python` is set (Poetry's own Python then), `envs.toml`
pins the project to a minor (what `poetry env use` writes) or a virtualenv is active. So where
none of those holds, the job's `python` decides, and `poetry env use` (a Poetry start, about
1.5 s) is not needed:

- the job's `python` already is the requested interpreter, the same file once links are
  resolved (actions/setup-python of the same version, the matrix case): nothing to do; the
  job's `python` and `pip` are left alone. Nothing is started to tell: anything else
  (a pyenv shim, another copy of the same release) gets the link, which runs the same release;
- otherwise a `python` link to it in the job's `pythons` dir (first on PATH after `bin`): later
  steps' `python` is the requested one, as actions/setup-python would make it;
- where the PATH cannot decide (`choose` says why), `poetry env use`, as before.

`choose` is pure; `facts` reads the files and the environment it needs; job.py acts.
"""

from __future__ import annotations

import enum
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from setup_poetry_parallel.interpreters import Interpreter


class Route(enum.Enum):
    KEEP = "keep"  # the job's `python` is the requested interpreter: nothing to do
    LINK = "link"  # a `python` link in the job's `pythons` dir
    ENV_USE = "env-use"  # `poetry env use`: starts Poetry


@dataclass(frozen=True)
class Facts:
    requested: Interpreter
    path_python: Path | None  # the first `python` on the job's PATH, before any link
    windows: bool
    use_poetry_python: bool  # virtualenvs.use-poetry-python, or a config file we cannot read
    create: bool  # virtualenvs.create
    active_env: str | None  # VIRTUAL_ENV, or a conda env that is not `base`
    pinned_minors: frozenset[str]  # minors in the job's envs.toml ("?": unreadable)
    allowed: bool | None  # the project's Python constraint allows it (None: cannot tell)


@dataclass(frozen=True)
class Choice:
    route: Route
    why: str


def choose(facts: Facts) -> Choice:
    """The route for the project env's Python. Pure."""
    if why := _why_env_use(facts):
        return Choice(Route.ENV_USE, why)
    found = facts.path_python
    if found and os.path.realpath(found) == os.path.realpath(facts.requested.path):
        return Choice(Route.KEEP, f"the job's python is {found}")
    return Choice(Route.LINK, f"the job's python was {found}" if found else "no python on PATH")


def _why_env_use(facts: Facts) -> str | None:
    """Why the job's PATH cannot decide the env's Python; None when it can."""
    pinned = sorted(facts.pinned_minors - {facts.requested.minor})
    reasons = [
        (facts.windows, "Windows: no links"),
        (facts.use_poetry_python, "virtualenvs.use-poetry-python is set (or unreadable)"),
        (not facts.create, "virtualenvs.create is false"),
        (bool(facts.active_env), f"a virtualenv is active ({facts.active_env})"),
        (bool(pinned), f"envs.toml pins Python {', '.join(pinned)}"),
        (facts.allowed is False, "the project's Python constraint does not allow it"),
        (facts.allowed is None, "the project's Python constraint cannot be read"),
    ]
    return next((why for holds, why in reasons if holds), None)


def facts(
    *,
    requested: Interpreter,
    path_python: Path | None,
    windows: bool,
    env_choice: Mapping[str, str],
    project: Path,
    config_dir: Path,
    virtualenvs: Path,
) -> Facts:
    """What `choose` needs, from the variables of Settings.env_choice and the job's files."""
    env = env_choice
    settings = [_env_setting(env, name) for name in ("use-poetry-python", "create")]
    files: list[dict[str, Any] | None] = [
        _read_toml(project / "poetry.toml"),  # beats the config dir's, as in Poetry
        _read_toml(config_dir / "config.toml"),
    ]
    unreadable = any(f is None for f in files)
    for n, name in enumerate(("use-poetry-python", "create")):
        for table in files:
            if settings[n] is None and table:
                value = table.get("virtualenvs", {}).get(name)
                settings[n] = value if isinstance(value, bool) else _boolean(value)
    use_poetry_python, create = settings
    conda = env.get("CONDA_PREFIX") if env.get("CONDA_DEFAULT_ENV") != "base" else None
    return Facts(
        requested=requested,
        path_python=path_python,
        windows=windows,
        use_poetry_python=unreadable or bool(use_poetry_python),
        create=create is not False,
        active_env=env.get("VIRTUAL_ENV") or conda or None,
        pinned_minors=pinned_minors(virtualenvs / "envs.toml"),
        allowed=allowed(project / "pyproject.toml", requested.version),
    )


def _env_setting(env: Mapping[str, str], name: str) -> bool | None:
    return _boolean(env.get("POETRY_VIRTUALENVS_" + name.upper().replace("-", "_")))


def _boolean(value: object) -> bool | None:
    """As Poetry reads a boolean setting: "true" and "1" are true; None: not set."""
    if value is None:
        return None
    return str(value).lower() in ("true", "1")


def _read_toml(path: Path) -> dict[str, Any] | None:
    """{} when there is no file; None when it cannot be read (Poetry will say why)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None


def pinned_minors(envs_toml: Path) -> frozenset[str]:
    """The minors `poetry env use` pinned in this job's envs.toml (a job id run before)."""
    envs = _read_toml(envs_toml)
    if envs is None:
        return frozenset({"?"})
    return frozenset(
        str(entry.get("minor", "?")) if isinstance(entry, dict) else "?" for entry in envs.values()
    )


def allowed(pyproject: Path, version: str) -> bool | None:
    """Whether the project's Python constraints allow `version`; None when they cannot be
    read. Poetry would take another Python for a version they do not allow: `poetry env use`
    fails instead, and says so."""
    from poetry.core.constraints.version import Version, parse_constraint

    data = _read_toml(pyproject)
    if data is None:
        return None
    try:
        constraints = [
            data.get("project", {}).get("requires-python"),
            data.get("tool", {}).get("poetry", {}).get("dependencies", {}).get("python"),
        ]
        return all(
            parse_constraint(c).allows(Version.parse(version)) for c in constraints if c is not None
        )
    except (ValueError, TypeError, AttributeError):
        return None
