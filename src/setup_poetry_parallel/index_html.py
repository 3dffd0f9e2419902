"""A PEP 503 (HTML) simple-index page: its file names and which of them are yanked."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any


class Anchors(HTMLParser):
    """PEP 503 page: each anchor's text is a file name; `data-yanked` marks a yanked file."""

    def __init__(self) -> None:
        super().__init__()
        self.files: list[dict[str, Any]] = []
        self._yanked: bool | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._yanked = "data-yanked" in dict(attrs)

    def handle_data(self, data: str) -> None:
        if self._yanked is not None and data.strip():
            self.files.append({"filename": data.strip(), "yanked": self._yanked})
            self._yanked = None
