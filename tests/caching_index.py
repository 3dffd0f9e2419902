"""A local index in front of the real one that sends the caching headers PyPI sends.

The index reachable here sends no Cache-Control or ETag, so cachecontrol stores nothing and
Poetry's HTTP cache is never exercised. This proxy serves the simple API with
`Cache-Control: max-age=600` and an ETag (304 on If-None-Match), rewrites file links to itself
and serves files as immutable, like files.pythonhosted.org. Loopback only; it counts requests
per path so that a test can tell a cache hit from a fetch.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.projects import SIMPLE_INDEX
from tests.upstream import Upstream

FILES_HOST = "https://files.pythonhosted.org/"
PAGE_CACHE_CONTROL = "max-age=600, public"
FILE_CACHE_CONTROL = "max-age=365000000, immutable, public"


def _handler(upstream: Upstream, hits: Counter[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._answer(with_body=True)

        def do_HEAD(self) -> None:
            self._answer(with_body=False)

        def _answer(self, *, with_body: bool) -> None:
            hits[self.path] += 1
            status, content_type, body, cache_control = self._fetch()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            if status == 200 and self.headers.get("If-None-Match") == etag:
                status, body = 304, b""
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if status in (200, 304):
                self.send_header("ETag", etag)
                self.send_header("Cache-Control", cache_control)
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def _fetch(self) -> tuple[int, str, bytes, str]:
            if self.path.startswith("/files/"):
                status, kind, body = upstream.get(FILES_HOST + self.path[len("/files/") :])
                return status, kind, body, FILE_CACHE_CONTROL
            status, kind, body = upstream.get(SIMPLE_INDEX + self.path[len("/simple/") :])
            own = f"http://{self.server.server_address[0]}:{self.server.server_address[1]}/files/"
            return status, kind, body.replace(FILES_HOST.encode(), own.encode()), PAGE_CACHE_CONTROL

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Poetry drops connections it no longer needs: not an error of the index."""


@contextmanager
def caching_index() -> Iterator[tuple[str, Counter[str]]]:
    """Serve the proxy on a free loopback port: (its simple URL, hits per path)."""
    hits: Counter[str] = Counter()
    server = _Server(("127.0.0.1", 0), _handler(Upstream(), hits))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
