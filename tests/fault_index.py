"""A package index on localhost that the tests make misbehave.

It proxies the real simple index (PyPI: the only outside host this machine reaches) so that
uv and pip can install real packages through it, and injects one fault:

- `status`: every request gets this HTTP status (a 5xx outage)
- `stall`: requests are accepted and never answered
- `missing`: one project is 404 (an index that does not have the plugin)
- `truncate`: one project's files are served cut in half, with the full Content-Length
- `truncate_page`: the project pages themselves are cut in half
- `yank`: every file of `version` of `project` is marked yanked (PEP 691 `yanked`)
- `count`: no fault; every file is served through this index (JSON and HTML pages rewritten),
  so `downloads()` counts how often each archive was fetched

A refused connection needs no server: `closed_port_url()` gives a port nobody listens on.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from tests.upstream import UPSTREAM, through


@dataclass
class Fault:
    kind: str = "none"  # none, status, stall, missing, truncate, truncate_page
    status: int = 503
    project: str = ""  # the project `missing`/`truncate`/`yank` applies to
    version: str = ""  # the release `yank` applies to
    requests: list[str] = field(default_factory=list)  # paths seen, in order

    def downloads(self) -> dict[str, int]:
        """`count`: how often each archive was fetched (PEP 658 metadata files left out)."""
        counts: dict[str, int] = {}
        for path in self.requests:
            name = path.removeprefix("/files/")
            if path.startswith("/files/") and not name.endswith(".metadata"):
                counts[name] = counts.get(name, 0) + 1
        return counts

    release: threading.Event = field(default_factory=threading.Event)


def closed_port_url() -> str:
    """An index URL whose port refuses connections (bound, then closed, never listened on)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/simple"


def _handler(fault: Fault, session: requests.Session, base: list[str]) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet: pytest shows failures
            pass

        def do_GET(self) -> None:
            fault.requests.append(self.path)
            if fault.kind == "stall":
                fault.release.wait(120)
                return
            if fault.kind == "status":
                self._send(fault.status, b"index unavailable\n", "text/plain")
                return
            if self.path.startswith("/files/"):
                self._file(self.path.removeprefix("/files/"))
                return
            project = self.path.strip("/").split("/")[-1]
            if fault.kind == "missing" and project == fault.project:
                self._send(404, b"not found\n", "text/plain")
                return
            self._page(project)

        def _page(self, project: str) -> None:
            upstream = session.get(
                f"{UPSTREAM}/{project}/",
                headers={
                    "Accept": self.headers.get("Accept", "application/vnd.pypi.simple.v1+json")
                },
                timeout=30,
            )
            body = upstream.content
            kind = upstream.headers.get("Content-Type", "text/html")
            if (
                fault.kind == "truncate"
                and project == fault.project
                and upstream.ok
                and "json" in kind
            ):
                document = json.loads(body)
                for entry in document.get("files", []):
                    self.server.originals[entry["filename"]] = entry["url"]  # type: ignore[attr-defined]
                    entry["url"] = f"{base[0]}/files/{entry['filename']}"
                body = json.dumps(document).encode()
            if fault.kind == "yank" and project == fault.project and "json" in kind:
                document = json.loads(body)
                for entry in document.get("files", []):
                    if f"-{fault.version}-" in entry["filename"] or entry["filename"].endswith(
                        f"-{fault.version}.tar.gz"
                    ):
                        entry["yanked"] = "yanked by the test index"
                body = json.dumps(document).encode()
            if fault.kind == "count":
                body = through(body, kind, self.server.originals, base[0])  # type: ignore[attr-defined]
            if fault.kind == "truncate_page":
                self._send(upstream.status_code, body, kind, cut=True)
                return
            self._send(upstream.status_code, body, kind)

        def do_HEAD(self) -> None:
            # No range support: uv then downloads whole files, which is what gets truncated.
            self.send_response(405)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _file(self, filename: str) -> None:
            originals = self.server.originals  # type: ignore[attr-defined]
            if filename.endswith(".metadata"):  # PEP 658 metadata: served whole
                url = originals[filename.removesuffix(".metadata")] + ".metadata"
                self._send(200, session.get(url, timeout=60).content, "text/plain")
                return
            body = session.get(originals[filename], timeout=60).content
            self._send(200, body, "application/octet-stream", cut=fault.kind != "count")

        def _send(self, status: int, body: bytes, kind: str, *, cut: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if cut:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if cut else body)
            if cut:
                self.close_connection = True

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients hang up on a faulty index (that is the point): no traceback on stderr,
        # where it would mix with the engine's output that the tests read.
        pass


@contextlib.contextmanager
def serve(fault: Fault) -> Iterator[str]:
    """Run the index in a thread; yield its simple URL."""
    base: list[str] = []
    with requests.Session() as session:
        server = _Server(("127.0.0.1", 0), _handler(fault, session, base))
        server.originals = {}  # type: ignore[attr-defined]
        base.append(f"http://127.0.0.1:{server.server_address[1]}")
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"{base[0]}/simple"
        finally:
            fault.release.set()
            server.shutdown()
            server.server_close()
            time.sleep(0)
