"""The real index behind the tests' loopback indexes (PyPI: the only outside host reached here).

`Upstream` fetches each (URL, Accept) once per instance, so that a bed shared by many cases
asks the network once; `through` points a project page's file links at the proxy itself,
remembering where each file really is, so that downloads pass through the proxy too.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from typing import Final

UPSTREAM: Final = "https://pypi.org/simple"
JSON: Final = "application/vnd.pypi.simple.v1+json"


class Upstream:
    """Fetches each upstream URL once per instance (a test must not depend on the network twice)."""

    def __init__(self) -> None:
        self._bodies: dict[tuple[str, str], tuple[int, str, bytes]] = {}
        self._lock = threading.Lock()

    def get(self, url: str, accept: str = "") -> tuple[int, str, bytes]:
        """(status, content type, body); an upstream error is its status and an empty body."""
        with self._lock:
            if (url, accept) in self._bodies:
                return self._bodies[url, accept]
        request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                found = (response.status, response.headers.get_content_type(), response.read())
        except urllib.error.HTTPError as error:
            found = (error.code, "text/plain", b"")
        with self._lock:
            self._bodies[url, accept] = found
        return found

    def page(self, project: str, accept: str) -> tuple[int, str, bytes]:
        """The project's simple page, JSON (PEP 691) when `accept` asks for it, else HTML."""
        return self.get(f"{UPSTREAM}/{project}/", JSON if JSON in accept else "text/html")


def through(body: bytes, kind: str, originals: dict[str, str], base: str) -> bytes:
    """Point every file of a project page (PEP 691 JSON or PEP 503 HTML) at `base`/files/."""
    if "json" in kind:
        document = json.loads(body)
        for entry in document.get("files", []):
            originals[entry["filename"]] = entry["url"]
            entry["url"] = f"{base}/files/{entry['filename']}"
        return json.dumps(document).encode()

    def local(match: re.Match[str]) -> str:
        url, fragment = match.group(1).partition("#")[::2]
        filename = url.rsplit("/", 1)[-1]
        originals[filename] = url
        return f'href="{base}/files/{filename}{"#" + fragment if fragment else ""}"'

    return re.sub(r'href="([^"]+)"', local, body.decode()).encode()
