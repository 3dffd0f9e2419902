"""When a release was uploaded and which Python it needs, from the index's PEP 691 JSON page.

PyPI gives every file an `upload-time` (PEP 700) and `requires-python`. An index that serves
only the PEP 503 HTML page, or JSON without upload times, gives None: callers say so and
choose what to do.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from packaging.version import Version

from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.index import refusals
from setup_poetry_parallel.index.versions import file_version
from setup_poetry_parallel.redaction import redact
from setup_poetry_parallel.settings import Index

JSON: str = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class ReleaseFiles:
    uploaded: datetime.datetime | None  # the last of its files; None if the index did not say
    requires_python: str | None


def read(project: str, version: str, index: Index) -> ReleaseFiles:
    """The release's files as the index lists them; a SetupError naming the index if unreadable."""
    import requests

    page = index.url.join(project, "")
    try:
        response = requests.get(page.secret, headers={"Accept": JSON}, timeout=index.timeout)
        if response.status_code in (401, 403):  # a refused login, not a missing release
            raise refusals.refused(page.secret, response.status_code, index)
        response.raise_for_status()
        document = response.json() if "json" in response.headers.get("Content-Type", "") else {}
    except (requests.RequestException, ValueError) as exc:
        raise SetupError(
            f"could not read the files of {project} {version} from the index {index.url}"
            f" ({type(exc).__name__}): check the index, or retry later",
            details=redact(f"{page}: {exc}"),
        ) from None
    return of_version(document, project, Version(version))


def of_version(document: dict[str, Any], project: str, version: Version) -> ReleaseFiles:
    """Pure: the upload time and requires-python of `version`'s files in a PEP 691 page."""
    files = [
        f
        for f in document.get("files", [])
        if file_version(str(f.get("filename", "")), project) == version
    ]
    times = [_time(f.get("upload-time")) for f in files]
    requires = next((str(f["requires-python"]) for f in files if f.get("requires-python")), None)
    known = [t for t in times if t is not None]
    return ReleaseFiles(max(known) if known and len(known) == len(times) else None, requires)


def _time(text: object) -> datetime.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
