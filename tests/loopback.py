"""A local HTTP server on a loopback port for the length of a block (the tests' package indexes)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextlib.contextmanager
def serving(handler_for: Callable[[str], type[BaseHTTPRequestHandler]]) -> Iterator[str]:
    """Serve `handler_for(base)` (the handler may need its own base URL) and yield the base URL;
    the server is shut down and its socket closed after the block, whatever happens there."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    server.RequestHandlerClass = handler_for(base)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()
