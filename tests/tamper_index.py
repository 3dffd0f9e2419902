"""A package index on localhost that serves one project's wheel altered, consistently.

It proxies the real simple index (PEP 691 JSON). For `project` it serves an altered wheel: one
module gets an extra line, the wheel's RECORD is updated to match (so the wheel installs
cleanly), and the index lists the altered file's own sha256 and drops the sdist. That is what
a compromised mirror would serve: self-consistent, and caught only by hashes recorded
elsewhere (the locked table).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

UPSTREAM = "https://pypi.org/simple"


def alter_wheel(wheel: bytes) -> bytes:
    """The wheel with a line added to its first module and RECORD updated to match."""
    source, out = zipfile.ZipFile(io.BytesIO(wheel)), io.BytesIO()
    names = source.namelist()
    target = next(n for n in names if n.endswith(".py"))
    changed = source.read(target) + b"\n# altered by the test index\n"
    record_name = next(n for n in names if n.endswith(".dist-info/RECORD"))
    digest = base64.urlsafe_b64encode(hashlib.sha256(changed).digest()).rstrip(b"=").decode()
    lines = []
    for line in source.read(record_name).decode().splitlines():
        path = line.split(",")[0]
        lines.append(f"{path},sha256={digest},{len(changed)}" if path == target else line)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as altered:
        for name in names:
            data = {target: changed, record_name: ("\n".join(lines) + "\n").encode()}.get(name)
            altered.writestr(source.getinfo(name), data if data is not None else source.read(name))
    return out.getvalue()


def _handler(project: str, session: requests.Session, base: str, served: dict[str, bytes]) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith("/files/"):
                self._file(self.path.removeprefix("/files/"))
                return
            name = self.path.strip("/").split("/")[-1]
            upstream = session.get(
                f"{UPSTREAM}/{name}/",
                headers={"Accept": "application/vnd.pypi.simple.v1+json"},
                timeout=30,
            )
            body = upstream.content
            if name == project and upstream.ok:
                body = json.dumps(self._altered_page(json.loads(body))).encode()
            self._send(upstream.status_code, body, upstream.headers.get("Content-Type", ""))

        def do_HEAD(self) -> None:
            # No range requests: uv then downloads the whole wheel, as from a plain mirror.
            self.send_response(405)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _altered_page(self, document: dict[str, object]) -> dict[str, object]:
            files = []
            for entry in document["files"]:  # type: ignore[attr-defined]
                if not entry["filename"].endswith(".whl"):
                    continue  # no sdist to fall back to
                served[entry["filename"] + "#upstream"] = entry["url"].encode()
                altered = served.get(entry["filename"])
                if altered is None:
                    altered = alter_wheel(session.get(entry["url"], timeout=60).content)
                    served[entry["filename"]] = altered
                entry["url"] = f"{base}/files/{entry['filename']}"
                entry["hashes"] = {"sha256": hashlib.sha256(altered).hexdigest()}
                files.append(entry)
            document["files"] = files
            return document

        def _file(self, filename: str) -> None:
            if filename.endswith(".metadata"):  # PEP 658: the metadata is not altered
                upstream = served[filename.removesuffix(".metadata") + "#upstream"].decode()
                self._send(200, session.get(upstream + ".metadata", timeout=60).content, "")
                return
            self._send(200, served[filename], "application/octet-stream")

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind or "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def serve(project: str) -> Iterator[str]:
    """Run the index in a thread; yield its simple URL."""
    with requests.Session() as session:
        server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
        server.daemon_threads = True
        base = f"http://127.0.0.1:{server.server_address[1]}"
        server.RequestHandlerClass = _handler(project, session, base, {})
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"{base}/simple"
        finally:
            server.shutdown()
            server.server_close()
