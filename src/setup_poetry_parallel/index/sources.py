"""Where the project's plugins come from: its `[[tool.poetry.source]]`, in Poetry's order, with the
credentials Poetry would send to each.

Poetry 2 (factory.py, repository_pool.py) searches the primary sources in the order written,
then PyPI (only when no primary source is declared, or PyPI is declared as a source), then the
supplemental sources, and only when nothing earlier has the package; an `explicit` source only
for a dependency that names it (`source = "internal"`). A public index must never supply a name
the project gets from its own: that is dependency confusion, and the plugins run inside every
Poetry process of the host.

The setup's own index (uv's and pip's variables, settings.read_index) stands where PyPI stands:
a mirror of PyPI is PyPI to the user who set it. Credentials are Poetry's
(`POETRY_HTTP_BASIC_<NAME>_USERNAME/PASSWORD`), uv's (`UV_INDEX_<NAME>_USERNAME/PASSWORD`), the
URL's userinfo, or `~/.netrc` (`NETRC`), which Poetry reads through requests and uv by itself.

Standard library only: the bootstrap reads the setup's index before the engine's dependencies
exist.
"""

from __future__ import annotations

import re
import tomllib
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, Literal

from setup_poetry_parallel.redaction import SafeUrl

Priority = Literal["primary", "supplemental", "explicit"]
PRIORITIES: Final = ("primary", "supplemental", "explicit")
PYPI: Final = "pypi"  # Poetry's name for PyPI, as a source or implicitly
# A source at PyPI's own simple API is PyPI, whatever its name (projects declare one where
# Poetry's implicit JSON source is out of reach): the setup's index stands there too.
PYPI_URLS: Final = ("https://pypi.org/simple", "https://pypi.python.org/simple")


class SourceError(ValueError):
    """A `[[tool.poetry.source]]` entry Poetry would refuse too; settings names the input."""


@dataclass(frozen=True)
class Source:
    name: str  # as the project writes it; Poetry compares it lower-cased
    url: SafeUrl  # with the credentials it is sent with, if any
    priority: Priority
    # Where the credentials came from, for a refusal's message: "" when there are none.
    credentials_from: str = ""

    @property
    def uv_name(self) -> str:
        """uv allows letters, digits, '-', '_' and '.' in an index name."""
        return re.sub(r"[^A-Za-z0-9._-]", "-", self.name.lower())

    @property
    def variables(self) -> str:
        """What a user sets to give this source credentials (Poetry's own names)."""
        stem = f"POETRY_HTTP_BASIC_{poetry_variable(self.name)}"
        return f"{stem}_USERNAME and {stem}_PASSWORD"


def poetry_variable(name: str) -> str:
    """`http-basic.<name>` as Poetry's config reads it from the environment (config.py)."""
    return name.upper().replace("-", "_")


def uv_variable(name: str) -> str:
    """`UV_INDEX_<NAME>_USERNAME`: uv upper-cases the index name, other characters become `_`."""
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


def read_project(working_directory: Path, environ: Mapping[str, str]) -> tuple[Source, ...]:
    """The project's sources, or () without a readable pyproject.toml (plan.py reports that)."""
    try:
        with open(working_directory / "pyproject.toml", "rb") as handle:
            document = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return ()
    tool = document.get("tool")
    poetry = tool.get("poetry") if isinstance(tool, dict) else None
    table = poetry.get("source", []) if isinstance(poetry, dict) else []
    return parse(table, environ)


def parse(table: object, environ: Mapping[str, str]) -> tuple[Source, ...]:
    """Pure: `[[tool.poetry.source]]` entries with their credentials; SourceError for what Poetry
    itself would refuse (no name, no URL, an unknown or removed priority)."""
    if not isinstance(table, list):
        raise SourceError("[[tool.poetry.source]] must be an array of tables")
    found: list[Source] = []
    for entry in table:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise SourceError("every [[tool.poetry.source]] needs a name")
        name = entry["name"]
        priority = str(entry.get("priority", "primary")).lower()
        if priority not in PRIORITIES:
            raise SourceError(
                f"[[tool.poetry.source]] {name}: priority {priority!r} is not one of Poetry 2's"
                " (primary, supplemental, explicit)"
            )
        url = entry.get("url")
        if name.lower() == PYPI:
            url = None  # PyPI: the setup's index serves it (see the module docstring)
        elif not isinstance(url, str) or not url.startswith(("http://", "https://", "file:")):
            raise SourceError(f"[[tool.poetry.source]] {name}: a source needs an http(s) url")
        found.append(_with_credentials(name, url, priority, environ))  # type: ignore[arg-type]  # checked above
    return tuple(found)


def _with_credentials(
    name: str, url: str | None, priority: Priority, environ: Mapping[str, str]
) -> Source:
    if url is None:
        return Source(name, SafeUrl(""), priority)
    stems = (f"POETRY_HTTP_BASIC_{poetry_variable(name)}", f"UV_INDEX_{uv_variable(name)}")
    found, origin = credentialed(url.rstrip("/"), environ, stems)
    return Source(name, found, priority, origin)


def credentialed(
    url: str, environ: Mapping[str, str], stems: Sequence[str] = ()
) -> tuple[SafeUrl, str]:
    """`url` with the credentials it is sent with, and where they came from ("" for none):
    its own userinfo, else the first `<stem>_USERNAME`/`_PASSWORD` pair set, else `~/.netrc`
    (which uv and requests read themselves; the bootstrap's urllib does not)."""
    if urllib.parse.urlsplit(url).username is not None:
        return SafeUrl(url), "its URL"
    for stem in stems:
        user = environ.get(f"{stem}_USERNAME", "")
        password = environ.get(f"{stem}_PASSWORD", "")
        if user or password:
            return embed(url, user, password), f"{stem}_*"
    if login := netrc_login(url, environ):
        return embed(url, *login), "netrc"
    return SafeUrl(url), ""


def embed(url: str, user: str, password: str) -> SafeUrl:
    """The URL with `user:password` as its userinfo, percent-encoded."""
    parts = urllib.parse.urlsplit(url)
    userinfo = urllib.parse.quote(user, safe="")
    if password:
        userinfo += ":" + urllib.parse.quote(password, safe="")
    return SafeUrl(urllib.parse.urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}")))


def netrc_login(url: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """`machine <host>` (else `default`) of `$NETRC` or `~/.netrc`, as requests and uv read it."""
    import netrc

    host = urllib.parse.urlsplit(url).hostname
    path = environ.get("NETRC") or str(Path(environ.get("HOME") or Path.home()) / ".netrc")
    if not host or not Path(path).is_file():
        return None
    try:
        found = netrc.netrc(path).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return None  # uv and requests skip an unreadable file too
    if found is None:
        return None
    login, _, password = found
    return (login or "", password or "")


def search_order(project: Sequence[Source], setup_index: Source) -> tuple[Source, ...]:
    """The indexes uv searches, first to last, for every name no source is named for: Poetry's
    order, with the setup's index where PyPI stands.

    PyPI stands where the project declares it (a primary or supplemental source named `pypi`,
    or at PyPI's URL), else
    first when no primary source is declared. With primary sources and no `pypi`, Poetry never
    asks PyPI, and neither does this list: the setup's index then serves only Poetry and its
    hash-locked dependencies, pinned to it by name (installer.py), so a plugin or a plugin's
    dependency that none of the project's sources has fails as it fails in Poetry, instead of
    coming from a public index.
    """
    usable = [s for s in project if s.priority != "explicit"]
    ordered = [s for s in usable if s.priority == "primary"]
    ordered += [s for s in usable if s.priority == "supplemental"]
    if pypi := next((s for s in ordered if is_pypi(s)), None):
        stand_in = replace(setup_index, priority=pypi.priority)
        return tuple(dict.fromkeys(stand_in if is_pypi(s) else s for s in ordered))
    if any(s.priority == "primary" for s in ordered):
        return tuple(ordered)
    return (setup_index, *ordered)


def is_pypi(source: Source) -> bool:
    return source.name.lower() == PYPI or source.url.public.rstrip("/") in PYPI_URLS
