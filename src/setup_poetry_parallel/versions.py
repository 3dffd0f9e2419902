"""Which Poetry release to install: `X.Y.Z` as given, `X.Y` and `latest` resolved once.

The index is read through the simple API (PEP 691 JSON), which every index serves,
unlike PyPI's per-version JSON API. Only a cold install asks the index anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from packaging.utils import parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from setup_poetry_parallel.errors import InputError, SetupError

DEFAULT_INDEX: Final = "https://pypi.org/simple"
ACCEPT: Final = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
CONNECT_TIMEOUT: Final = 10.0
READ_TIMEOUT: Final = 30.0
RETRIES: Final = 4

_EXACT = re.compile(r"^\d+\.\d+\.\d+")


def is_exact(spec: str) -> bool:
    return bool(_EXACT.match(spec))


def major(version: str) -> int:
    return Version(version).major


def index_url(environ: Mapping[str, str]) -> str:
    """The index uv would use: its own variables first, then pip's."""
    for name in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        if value := environ.get(name, "").strip():
            return value.rstrip("/")
    return DEFAULT_INDEX


@dataclass(frozen=True)
class Release:
    version: Version
    yanked: bool


def choose(spec: str, releases: list[Release]) -> str:
    """Pure: the release `spec` names, or an InputError that says what exists."""
    if is_exact(spec):
        wanted = Version(spec)
        for release in releases:
            if release.version == wanted:
                if release.yanked:
                    raise InputError(
                        f"poetry-version {spec} was yanked from the index: pin another release"
                    )
                return spec
        raise InputError(
            f"poetry-version {spec} does not exist on the index: pin a released version"
            f" (newest: {_newest(releases)})"
        )
    candidates = [r.version for r in releases if not r.yanked and not r.version.is_prerelease]
    if spec != "latest":
        want = tuple(int(part) for part in spec.split("."))
        candidates = [v for v in candidates if v.release[:2] == want]
    if not candidates:
        raise InputError(
            f"poetry-version {spec} matches no release: pin one such as {_newest(releases)}"
        )
    return str(max(candidates))


def _newest(releases: list[Release]) -> str:
    finals = [r.version for r in releases if not r.yanked and not r.version.is_prerelease]
    return str(max(finals)) if finals else "none"


def releases_from_json(document: dict[str, Any], project: str = "poetry") -> list[Release]:
    """Group a PEP 691 project page's files by version; a version is yanked if all its files are."""
    yanked: dict[Version, bool] = {}
    for entry in document.get("files", []):
        version = _file_version(str(entry.get("filename", "")), project)
        if version is None:
            continue
        is_yanked = bool(entry.get("yanked"))
        yanked[version] = yanked.get(version, True) and is_yanked
    return [Release(v, y) for v, y in sorted(yanked.items())]


def _file_version(filename: str, project: str) -> Version | None:
    try:
        if filename.endswith(".whl"):
            name, version, *_ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (ValueError, InvalidVersion):
        return None
    return version if name == project else None


def fetch_releases(index: str, project: str = "poetry") -> list[Release]:
    """The project's releases, with retries and backoff on connection errors and 5xx."""
    import requests  # only a cold install needs the network
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(total=RETRIES, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504))
    url = f"{index}/{project}/"
    with requests.Session() as session:
        session.mount("http://", HTTPAdapter(max_retries=retry))
        session.mount("https://", HTTPAdapter(max_retries=retry))
        try:
            response = session.get(
                url, headers={"Accept": ACCEPT}, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)
            )
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise SetupError(
                f"could not read the releases of {project} from the index {index}:"
                f" {type(exc).__name__}; check the index or pin poetry-version exactly",
                details=str(exc),
            ) from None
    return releases_from_json(document, project)


def resolve(spec: str, environ: Mapping[str, str]) -> str:
    index = index_url(environ)
    return choose(spec, fetch_releases(index))
