"""Which Poetry release to install: `X.Y.Z` as given, `X.Y` and `latest` resolved once.

The index is read through the simple API (PEP 691 JSON, or the PEP 503 HTML page that
every index serves), unlike PyPI's per-version JSON API. Only a cold install asks the index
anything. The index, its timeout and retries come from settings (uv's own variables), so one
setting governs every request the setup makes.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from typing import Any, Final

from packaging.utils import parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from setup_poetry_parallel.errors import InputError, SetupError
from setup_poetry_parallel.index import refusals
from setup_poetry_parallel.redaction import SafeUrl, redact
from setup_poetry_parallel.settings import Index

log = logging.getLogger(__name__)

ACCEPT: Final = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
BACKOFF: Final = 0.5  # seconds before the first retry, doubling after

_EXACT = re.compile(r"^\d+\.\d+\.\d+")


def is_exact(spec: str) -> bool:
    return bool(_EXACT.match(spec))


def major(version: str) -> int:
    return Version(version).major


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
                        f"poetry-version {spec} was yanked from the index: pin another release",
                        input="poetry-version",
                    )
                return spec
        raise InputError(
            f"poetry-version {spec} does not exist on the index: pin a released version"
            f" (newest: {_newest(releases)})",
            input="poetry-version",
        )
    candidates = [r.version for r in releases if not r.yanked and not r.version.is_prerelease]
    if spec != "latest":
        want = tuple(int(part) for part in spec.split("."))
        candidates = [v for v in candidates if v.release[:2] == want]
    if not candidates:
        raise InputError(
            f"poetry-version {spec} matches no release: pin one such as {_newest(releases)}",
            input="poetry-version",
        )
    return str(max(candidates))


def _newest(releases: list[Release]) -> str:
    finals = [r.version for r in releases if not r.yanked and not r.version.is_prerelease]
    return str(max(finals)) if finals else "none"


def releases_from_json(document: dict[str, Any], project: str = "poetry") -> list[Release]:
    """Group a PEP 691 project page's files by version; a version is yanked if all its files are."""
    yanked: dict[Version, bool] = {}
    for entry in document.get("files", []):
        version = file_version(str(entry.get("filename", "")), project)
        if version is None:
            continue
        is_yanked = bool(entry.get("yanked"))
        yanked[version] = yanked.get(version, True) and is_yanked
    return [Release(v, y) for v, y in sorted(yanked.items())]


def file_version(filename: str, project: str) -> Version | None:
    """The version of `project` a wheel's or sdist's file name holds; None for another's."""
    try:
        if filename.endswith(".whl"):
            name, version, *_ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (ValueError, InvalidVersion):
        return None
    return version if name == project else None


def releases_from_html(text: str, project: str = "poetry") -> list[Release]:
    from setup_poetry_parallel.index.simple_index import anchors  # rare: most indexes answer JSON

    files = [{"filename": a.text, "yanked": a.yanked} for a in anchors(text)]
    return releases_from_json({"files": files}, project)


def fetch_releases(
    index: Index, project: str = "poetry", *, retries: int | None = None
) -> list[Release]:
    """The project's releases, with retries and backoff on connection errors, stalls and 5xx.

    Raises InputError when the index answers that the project does not exist (404), a refusal
    that names the source and its variables on 401/403 (refusals.py), and a one-line
    SetupError naming the index and the project when it cannot be read at all.
    """
    attempts = index.retries if retries is None else retries
    try:
        return list(_fetch(index.url, project, index.timeout, attempts))
    except _Refused as exc:
        raise refusals.refused(exc.url, exc.code, index) from None


class _Refused(Exception):
    """401/403 inside the cached fetch, which knows only the URL: named by the caller."""

    def __init__(self, url: str, code: int) -> None:
        super().__init__(code)
        self.url, self.code = url, code


@functools.cache
def _fetch(index: SafeUrl, project: str, timeout: float, retries: int) -> tuple[Release, ...]:
    # Cached: a cold `X.Y` setup resolves the version, then checks the release it picked.
    import requests  # only a cold install needs the network

    page = index.join(project, "")
    url, shown = page.secret, str(page)
    attempts = retries + 1
    with requests.Session() as session:
        for attempt in range(1, attempts + 1):
            try:
                response = session.get(url, headers={"Accept": ACCEPT}, timeout=timeout)
                if response.status_code in (401, 403):  # a refused login, not a missing release
                    raise _Refused(url, response.status_code)
                if response.status_code == 404:
                    raise InputError(
                        f"{project} does not exist on the index {index}: check the index"
                        " URL (UV_DEFAULT_INDEX, UV_INDEX_URL or PIP_INDEX_URL)"
                    )
                response.raise_for_status()
                return tuple(_parse(response, project))
            except (requests.RequestException, ValueError) as exc:
                problem = _problem(exc)
                if attempt == attempts or not _retryable(exc):
                    raise SetupError(
                        f"could not read the releases of {project} from the index {index}"
                        f" ({problem}, {attempt} attempt{'s' if attempt > 1 else ''}):"
                        " check the index (UV_DEFAULT_INDEX) or retry later",
                        details=redact(f"{shown}: {exc}"),
                    ) from None
                wait = BACKOFF * 2 ** (attempt - 1)
                log.warning("%s: %s; retrying in %.1f s", shown, problem, wait)
                _sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def _parse(response: Any, project: str) -> list[Release]:
    if "json" in response.headers.get("Content-Type", ""):
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("the project page is not a JSON object")
        return releases_from_json(document, project)
    return releases_from_html(response.text, project)


def _problem(exc: Exception) -> str:
    """A few words for the error line; the full exception goes to the details."""
    import requests

    text = str(exc)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    checks: list[tuple[bool, str]] = [
        (isinstance(exc, requests.Timeout), "timed out"),
        ("refused" in text.lower(), "connection refused"),
        (
            isinstance(exc, requests.exceptions.ChunkedEncodingError)
            or "IncompleteRead" in text
            or "ProtocolError" in text,
            "the answer was cut off",
        ),
        (isinstance(exc, requests.ConnectionError), "connection failed"),
        (isinstance(exc, ValueError), "the answer was not a valid project page (cut off?)"),
    ]
    return next((words for hit, words in checks if hit), type(exc).__name__)


def _retryable(exc: Exception) -> bool:
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return exc.response.status_code in (408, 429) or exc.response.status_code >= 500
    return True  # connection errors, stalls and cut-off answers are worth another try


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


def resolve(spec: str, index: Index) -> str:
    return choose(spec, fetch_releases(index))


def check_release(version: str, index: Index) -> None:
    """Cold path only: an exact `poetry-version` that is missing or yanked is an input error.

    When the index cannot be read here, the check is skipped: the installer, which reads
    the same index, then fails with its own clear error (or succeeds where we could not).
    """
    try:
        releases = fetch_releases(index, retries=min(index.retries, 1))
    except InputError:
        raise
    except SetupError as exc:
        log.debug("skipping the release check: %s", exc)
        return
    choose(version, releases)
