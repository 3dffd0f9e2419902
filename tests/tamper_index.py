"""A package index on localhost that proxies the real one and changes one project, two ways.

It proxies the real simple index (PEP 691 JSON; PyPI is the only outside host this machine
reaches). For `project`:

- `altered` (a compromised mirror): its wheels are served with one module changed and RECORD
  updated to match (so they install cleanly), listed with their own sha256, sdists dropped.
  Self-consistent: only hashes recorded elsewhere (the locked table) catch it.
- `newer=X` (the index on a later day): the real files stay, and a release X is added, the
  newest wheel re-versioned (dist-info, METADATA, RECORD) and uploaded "now".
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import requests

from tests.loopback import send, serving
from tests.upstream import UPSTREAM

MARK = b"\n# altered by the test index\n"


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _rewrite(wheel: bytes, change: Callable[[str, bytes], tuple[str, bytes]]) -> bytes:
    """Every member through `change(name, data)`, then RECORD rebuilt for the result."""
    source, out = zipfile.ZipFile(io.BytesIO(wheel)), io.BytesIO()
    members = [change(info.filename, source.read(info)) for info in source.infolist()]
    record = next(name for name, _ in members if name.endswith(".dist-info/RECORD"))
    lines = [f"{n},{_record_hash(d)},{len(d)}" for n, d in members if n != record]
    members = [(n, (("\n".join([*lines, f"{record},,"]) + "\n").encode() if n == record else d))
               for n, d in members]  # fmt: skip
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as result:
        for name, data in members:
            result.writestr(name, data)
    return out.getvalue()


def alter_wheel(wheel: bytes) -> bytes:
    """The wheel with a line added to its modules, RECORD updated to match."""
    return _rewrite(wheel, lambda n, d: (n, d + MARK if n.endswith(".py") else d))


def reversion_wheel(wheel: bytes, project: str, old: str, new: str) -> bytes:
    """The same wheel as release `new` of `project`."""
    old_info, new_info = f"{project}-{old}.dist-info/", f"{project}-{new}.dist-info/"

    def change(name: str, data: bytes) -> tuple[str, bytes]:
        if name.startswith(old_info):
            name = new_info + name.removeprefix(old_info)
            if name.endswith("/METADATA"):
                data = data.replace(f"\nVersion: {old}\n".encode(), f"\nVersion: {new}\n".encode())
        return name, data

    return _rewrite(wheel, change)


class _Project:
    """What the index serves for the changed project: its page and its local files."""

    def __init__(self, project: str, newer: str, session: requests.Session, base: str) -> None:
        self.project, self.newer, self.session, self.base = project, newer, session, base
        self.files: dict[str, bytes] = {}

    def page(self, document: dict[str, Any]) -> dict[str, Any]:
        if self.newer:
            document["files"].append(self._newer_entry(document["files"]))
            document["versions"] = [*document.get("versions", []), self.newer]
            return document
        files = []
        for entry in document["files"]:
            if entry["filename"].endswith(".whl"):  # no sdist to fall back to
                self._serve(entry, alter_wheel(self._get(entry["url"])))
                files.append(entry)
        document["files"] = files
        return document

    def _newer_entry(self, files: list[dict[str, Any]]) -> dict[str, Any]:
        latest = [f for f in files if f["filename"].endswith("-py3-none-any.whl")][-1]
        old = latest["filename"].split("-")[1]
        entry = {**latest, "filename": latest["filename"].replace(f"-{old}-", f"-{self.newer}-")}
        for key in ("core-metadata", "data-dist-info-metadata", "dist-info-metadata"):
            entry.pop(key, None)  # the installer reads the metadata from the wheel itself
        entry["upload-time"] = datetime.datetime.now(datetime.UTC).isoformat()
        wheel = reversion_wheel(self._get(latest["url"]), self.project, old, self.newer)
        self._serve(entry, wheel)
        return entry

    def _serve(self, entry: dict[str, Any], data: bytes) -> None:
        self.files[entry["filename"]] = data
        if entry.get("core-metadata") or entry.get("data-dist-info-metadata"):  # PEP 658, as is
            self.files[entry["filename"] + ".metadata"] = self._get(entry["url"] + ".metadata")
        entry["url"] = f"{self.base}/files/{entry['filename']}"
        entry["hashes"] = {"sha256": hashlib.sha256(data).hexdigest()}

    def _get(self, url: str) -> bytes:
        response = self.session.get(url, timeout=60)
        return response.content if response.ok else b""


def _handler(changed: _Project, session: requests.Session) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith("/files/"):
                self._send(200, changed.files[self.path.removeprefix("/files/")], "")
                return
            name = self.path.strip("/").split("/")[-1]
            upstream = session.get(
                f"{UPSTREAM}/{name}/",
                headers={"Accept": "application/vnd.pypi.simple.v1+json"},
                timeout=30,
            )
            body, kind = upstream.content, upstream.headers.get("Content-Type", "")
            if name == changed.project and upstream.ok:
                body = json.dumps(changed.page(json.loads(body))).encode()
            self._send(upstream.status_code, body, kind)

        def do_HEAD(self) -> None:
            # No range requests: uv then downloads whole wheels, as from a plain mirror.
            self.send_response(405)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _send(self, status: int, body: bytes, kind: str) -> None:
            send(self, status, body, kind)

    return Handler


@contextlib.contextmanager
def serve(project: str, *, newer: str = "") -> Iterator[str]:
    """Run the index in a thread; yield its simple URL. Without `newer`: altered wheels."""
    with (
        requests.Session() as session,
        serving(lambda base: _handler(_Project(project, newer, session, base), session)) as base,
    ):
        yield f"{base}/simple"
