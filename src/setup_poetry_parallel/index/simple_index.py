"""The simple repository API's rules that more than one module needs: a PEP 503 (HTML)
page's anchors, and the project name as such an index spells it.

Standard library only: the bootstrap's wheel fetch (fetch_wheels.py) uses it before anything
is installed, and the engine's release lookup (versions.py) when an index answers HTML.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import NamedTuple


def canonical(name: str) -> str:
    """PEP 503 normalisation (the name in an index's URL), without importing packaging."""
    return re.sub(r"[-_.]+", "-", name).lower()


class Anchor(NamedTuple):
    href: str
    text: str  # the file name
    yanked: bool  # PEP 592: `data-yanked` present


def anchors(page: str) -> list[Anchor]:
    """Each anchor of a PEP 503 page that has text, in page order."""
    parser = _Anchors()
    parser.feed(page)
    return parser.found


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[Anchor] = []
        self._open: tuple[str, bool] | None = None  # the current anchor's href and yanked

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            attributes = dict(attrs)
            self._open = (attributes.get("href") or "", "data-yanked" in attributes)

    def handle_data(self, data: str) -> None:
        if self._open is not None and data.strip():
            href, yanked = self._open
            self.found.append(Anchor(href, data.strip(), yanked))
            self._open = None
