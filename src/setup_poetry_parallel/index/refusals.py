"""A refused login (HTTP 401/403), said as one: which index refused, and what to set.

An index that refuses the credentials answers every page with 401 or 403; read as "nothing
found", that became "no release satisfies ... relax the plugin constraint", which sends the
user the wrong way. The refused URL is matched to the source it belongs to (host and path
prefix) among the project's sources and the setup's index (settings.Index), so the
message names the variables that give that source its credentials.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence

from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.index.sources import Source
from setup_poetry_parallel.redaction import public
from setup_poetry_parallel.settings import INDEX_VARIABLES, Index


def which(url: str, sources: Sequence[Source]) -> Source | None:
    """The source `url` belongs to: the longest URL of the same origin that prefixes it (the
    first of equal ones: a project's source before the setup's index with the same URL)."""
    wanted = _parts(url)
    found = [s for s in sources if s.url.secret and _within(wanted, _parts(s.url.public))]
    return max(found, key=lambda s: len(_parts(s.url.public)[2]), default=None)


def message(url: str, code: int, index: Index | None = None) -> str:
    """`the index refused the credentials for <source or host>: set ...`; `index` gives the
    project's sources and the setup's index to match `url` against."""
    host = urllib.parse.urlsplit(public(url)).netloc
    project = index.project_sources if index else ()
    source = which(url, [*project, index.source] if index else [])
    if source is not None and source in project:
        name = f"source {source.name!r} ({host})"
        what = f"{source.variables} (or a `machine {_hostname(url)}` entry in ~/.netrc)"
    else:
        name = host
        what = (
            f"user and password in the URL of {', '.join(INDEX_VARIABLES)}"
            f" (https://USER:PASSWORD@{host}/...), or a `machine {_hostname(url)}` entry in"
            " ~/.netrc ($NETRC)"
        )
    sent = source.credentials_from if source is not None else ""
    given = f"credentials from {sent}" if sent else "no credentials"
    return f"the index refused the credentials for {name} (HTTP {code}, {given} sent): set {what}"


def refused(url: str, code: int, index: Index | None = None) -> SetupError:
    return SetupError(message(url, code, index))


def _parts(url: str) -> tuple[str, str, str]:
    parts = urllib.parse.urlsplit(public(url))
    return parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/") + "/"


def _within(url: tuple[str, str, str], base: tuple[str, str, str]) -> bool:
    return url[:2] == base[:2] and url[2].startswith(base[2])


def _hostname(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or ""
