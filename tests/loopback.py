"""A local HTTP server on a loopback port for the length of a block (the tests' package indexes)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str = "") -> None:
    """One whole response: the status, its type (binary unless said) and length, the body."""
    handler.send_response(status)
    handler.send_header("Content-Type", kind or "application/octet-stream")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@contextlib.contextmanager
def serving(
    handler_for: Callable[[str], type[BaseHTTPRequestHandler]],
    *,
    host: str = "127.0.0.1",
    quiet: bool = False,
) -> Iterator[str]:
    """Serve `handler_for(base)` (the handler may need its own base URL) and yield the base URL;
    the server is shut down and its socket closed after the block, whatever happens there.
    `host` is any loopback address (127.0.0.2 is another host to a client: no netrc entry or
    credential for 127.0.0.1 applies to it); `quiet` keeps the tracebacks of clients that hang
    up (installers drop connections they no longer need) off stderr."""
    server = ThreadingHTTPServer((host, 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    if quiet:
        server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
    base = f"http://{host}:{server.server_address[1]}"
    server.RequestHandlerClass = handler_for(base)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()
