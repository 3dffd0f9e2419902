"""A company's private index and a public stand-in, on loopback, for the dependency-confusion
and credential cases of issue 18.

- `internal`: needs HTTP basic auth (401 with `WWW-Authenticate: Basic` otherwise), serves the
  in-house Poetry plugins (`acme-poetry-plugin` 1.0.0, `acme-audit-plugin` 1.0.0: real wheels
  built here) and proxies every other project to the real index, its file links pointed at
  itself so that downloads need the credentials too.
- `public`: no auth, on 127.0.0.3 (another host: no netrc entry for `internal` reaches it);
  serves a HOSTILE `acme-poetry-plugin` 99.0.0 (same entry point group) and proxies the rest.
- `files`: a second loopback HOST (127.0.0.2, so no credential or netrc entry for 127.0.0.1
  applies to it) that `internal` can redirect its downloads to; it serves the file and records
  the headers it got.

Every plugin's `activate()` appends "<origin> <name> <version>" to the file named by
$ACME_PLUGIN_MARKER when that is set (nothing else): which plugin Poetry runs is then visible.
Every request is recorded (`Seen`); `internal`'s faults are switched on its `Switches`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import html
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Final

from setup_poetry_parallel.index.simple_index import canonical
from tests.loopback import serving
from tests.upstream import JSON, Upstream, through

PLUGIN: Final = "acme-poetry-plugin"  # on internal (1.0.0) and, hostile, on public (99.0.0)
AUDIT: Final = "acme-audit-plugin"  # on internal only (1.0.0): the supplemental case
MARKER_VARIABLE: Final = "ACME_PLUGIN_MARKER"
ALWAYS: Final = 1 << 30  # `Switches.outage`: every request


@dataclass(frozen=True)
class Seen:
    """One request as a server saw it."""

    method: str
    path: str
    user: str | None  # the basic-auth user sent, None without an Authorization header
    headers: dict[str, str]

    @property
    def authorization(self) -> bool:
        return any(name.lower() == "authorization" for name in self.headers)


@dataclass
class Switches:
    """`internal`'s faults; `Bed.reset()` turns them all off."""

    outage: int = 0  # the next N requests answered 503 (ALWAYS: every one)
    refuse: bool = False  # 401 whatever the credentials
    hide_plugin: bool = False  # 404 for acme-poetry-plugin's page
    redirect_files: bool = False  # downloads answered 302 to the `files` host


@dataclass
class Index:
    """One loopback index: its name, base URL, own projects, and what it was asked."""

    name: str
    base: str = ""
    credentials: tuple[str, str] | None = None  # (user, password) it demands, None: open
    projects: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)  # name: files
    switches: Switches = field(default_factory=Switches)
    requests: list[Seen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.base}/simple"

    def asked_for(self, project: str) -> list[Seen]:
        """Requests for `project`'s page."""
        return [seen for seen in self.requests if seen.path.rstrip("/").endswith(f"/{project}")]

    def downloads(self, project: str) -> list[Seen]:
        """Requests for `project`'s files (PEP 658 metadata included)."""
        prefix = "/files/" + project.replace("-", "_") + "-"
        return [seen for seen in self.requests if seen.path.lower().startswith(prefix)]


@dataclass
class Bed:
    internal: Index
    public: Index
    files: Index  # the second host: only records and serves
    user: str
    password: str

    def reset(self) -> None:
        for index in (self.internal, self.public, self.files):
            index.requests.clear()
        self.internal.switches = Switches()

    def internal_with_userinfo(self, password: str | None = None) -> str:
        """`internal`'s simple URL with the credentials in it, percent-encoded as URLs need."""
        from urllib.parse import quote

        secret = quote(self.password if password is None else password, safe="")
        return self.internal.url.replace("://", f"://{quote(self.user, safe='')}:{secret}@", 1)


def plugin_wheel(name: str, version: str, origin: str) -> tuple[str, bytes]:
    """A real wheel of a Poetry application plugin: (its file name, its bytes)."""
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    members = {
        f"{module}/__init__.py": _PLUGIN_SOURCE.format(origin=origin, name=name, version=version),
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            f"Summary: {origin} Poetry plugin (test bed)\nRequires-Python: >=3.9\n"
        ),
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: tests.private_index\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n"
        ),
        f"{info}/entry_points.txt": (
            f"[poetry.application.plugin]\n{module} = {module}:AcmePlugin\n"
        ),
    }
    data = {path: text.encode() for path, text in members.items()}
    rows = [f"{path},sha256={_digest(body)},{len(body)}" for path, body in data.items()]
    data[f"{info}/RECORD"] = ("\n".join([*rows, f"{info}/RECORD,,"]) + "\n").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, body in data.items():  # a fixed time: the same bytes on every call
            wheel.writestr(zipfile.ZipInfo(path, (2026, 1, 2, 3, 4, 6)), body, zipfile.ZIP_DEFLATED)
    return f"{module}-{version}-py3-none-any.whl", out.getvalue()


_PLUGIN_SOURCE: Final = """\
import os

from poetry.plugins.application_plugin import ApplicationPlugin


class AcmePlugin(ApplicationPlugin):
    def activate(self, application):
        marker = os.environ.get("ACME_PLUGIN_MARKER")
        if marker:
            with open(marker, "a") as handle:
                handle.write("{origin} {name} {version}\\n")
"""


def _digest(body: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()


def _metadata(wheel: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        return archive.read(
            next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        )


class _Store:
    """Every file any of the bed's indexes lists: local wheels, or the real one's (fetched once)."""

    def __init__(self) -> None:
        self.upstream = Upstream()
        self.originals: dict[str, str] = {}  # file name -> its real URL
        self.local: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def file(self, name: str) -> bytes | None:
        if name in self.local:
            return self.local[name]
        with self.lock:
            original = self.originals.get(name.removesuffix(".metadata"))
        if original is None:
            return None
        suffix = ".metadata" if name.endswith(".metadata") else ""
        status, _, body = self.upstream.get(original.partition("#")[0] + suffix)
        return body if status == 200 else None


def _page(index: Index, store: _Store, project: str, accept: str) -> tuple[int, str, bytes]:
    """`index`'s page for `project`: its own files, or the real index's pointed at itself."""
    files = index.projects.get(project)
    if files is None:
        status, kind, body = store.upstream.page(project, accept)
        if status != 200:
            return status, "text/plain", b"not found\n"
        with store.lock:
            return status, kind, through(body, kind, store.originals, index.base)
    entries: list[dict[str, Any]] = []
    for filename, wheel in files:
        store.local[filename] = wheel
        store.local[filename + ".metadata"] = _metadata(wheel)
        entries.append(
            {
                "filename": filename,
                "url": f"{index.base}/files/{filename}",
                "hashes": {"sha256": hashlib.sha256(wheel).hexdigest()},
                "requires-python": ">=3.9",
                "core-metadata": {
                    "sha256": hashlib.sha256(store.local[filename + ".metadata"]).hexdigest()
                },
                "upload-time": "2026-01-02T03:04:05.000000Z",
            }
        )
    if JSON in accept:
        versions = sorted({e["filename"].split("-")[1] for e in entries})
        document = {"meta": {"api-version": "1.1"}, "name": project, "files": entries,
                    "versions": versions}  # fmt: skip
        return 200, JSON, json.dumps(document).encode()
    links = "".join(
        f'<a href="{html.escape(e["url"])}#sha256={e["hashes"]["sha256"]}"'
        f' data-requires-python="&gt;=3.9"'
        f' data-core-metadata="sha256={e["core-metadata"]["sha256"]}">'
        f"{html.escape(e['filename'])}</a><br>\n"
        for e in entries
    )
    page = f"<!DOCTYPE html><html><body><h1>Links for {project}</h1>\n{links}</body></html>\n"
    return 200, "text/html", page.encode()


def _user(header: str | None) -> tuple[str | None, str | None]:
    """(user, password) of a basic Authorization header."""
    if not header or not header.lower().startswith("basic "):
        return None, None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return user, password


def _handler(index: Index, store: _Store, files_host: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet: pytest shows failures
            pass

        def do_HEAD(self) -> None:
            # No range requests: installers then fetch PEP 658 metadata or whole files.
            self._record()
            self._send(405, b"", "text/plain")

        def do_GET(self) -> None:
            user, password = self._record()
            switches = index.switches
            if switches.outage > 0:
                switches.outage -= 1
                self._send(503, b"index unavailable\n", "text/plain")
                return
            if index.credentials and (switches.refuse or (user, password) != index.credentials):
                self._send(401, b"unauthorized\n", "text/plain", basic=True)
                return
            path = self.path.partition("?")[0]
            if path.startswith("/files/"):
                self._file(path.removeprefix("/files/"))
                return
            project = canonical(path.strip("/").split("/")[-1])
            if not path.startswith("/simple/") or project == "simple":
                self._send(404, b"no project listing here\n", "text/plain")
                return
            if switches.hide_plugin and project == PLUGIN:
                self._send(404, b"not found\n", "text/plain")
                return
            status, kind, body = _page(index, store, project, self.headers.get("Accept", ""))
            self._send(status, body, kind)

        def _record(self) -> tuple[str | None, str | None]:
            user, password = _user(self.headers.get("Authorization"))
            index.requests.append(Seen(self.command, self.path, user, dict(self.headers)))
            return user, password

        def _file(self, name: str) -> None:
            if index.switches.redirect_files and files_host:
                self.send_response(302)
                self.send_header("Location", f"{files_host[0]}/files/{name}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = store.file(name)
            if body is None:
                self._send(404, b"not found\n", "text/plain")
                return
            self._send(200, body, "application/octet-stream")

        def _send(self, status: int, body: bytes, kind: str, *, basic: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if basic:
                self.send_header("WWW-Authenticate", f'Basic realm="{index.name}"')
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def _serve(index: Index, store: _Store, files_host: list[str], host: str) -> Iterator[Index]:
    def handler_for(base: str) -> type[BaseHTTPRequestHandler]:
        index.base = base
        return _handler(index, store, files_host)

    with serving(handler_for, host=host, quiet=True):
        yield index


@contextlib.contextmanager
def private_bed(user: str, password: str) -> Iterator[Bed]:
    """The three servers, up for the block and torn down after it whatever happens."""
    store = _Store()
    internal = Index(
        "internal",
        credentials=(user, password),
        projects={
            PLUGIN: [plugin_wheel(PLUGIN, "1.0.0", "in-house")],
            AUDIT: [plugin_wheel(AUDIT, "1.0.0", "in-house")],
        },
    )
    public = Index("public", projects={PLUGIN: [plugin_wheel(PLUGIN, "99.0.0", "HOSTILE")]})
    files_host: list[str] = []
    with contextlib.ExitStack() as stack:
        files = stack.enter_context(_serve(Index("files"), store, [], "127.0.0.2"))
        files_host.append(files.base)
        stack.enter_context(_serve(internal, store, files_host, "127.0.0.1"))
        stack.enter_context(_serve(public, store, [], "127.0.0.3"))
        yield Bed(internal, public, files, user, password)


@contextlib.contextmanager
def bed_or_skip(user: str, password: str) -> Iterator[Bed]:
    """`private_bed`, or the test skipped where 127.0.0.2/3 are not loopback (macOS has only
    127.0.0.1 until `ifconfig lo0 alias 127.0.0.2`)."""
    import pytest

    with contextlib.ExitStack() as stack:
        try:
            served = stack.enter_context(private_bed(user, password))
        except OSError as exc:
            pytest.skip(f"the bed needs 127.0.0.2 and 127.0.0.3 as loopback addresses: {exc}")
        yield served
