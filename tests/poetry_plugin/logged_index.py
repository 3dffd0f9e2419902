"""A loopback proxy of the real index that logs who asked for what, and can spoil one project's
wheels: the fast-install tests' index.

Every request is logged with its User-Agent, so a test can show that uv (`uv/<version>`)
really fetched files when fast install was on: a test that passed with the plugin silently off
would show only Poetry's agent. The pages keep the real sha256 of every file (what `poetry lock`
records), so a spoiled wheel is a hash mismatch against the lock:

- `altered`: a valid wheel with one line added to its modules and RECORD updated to match
  (`tamper_index.alter_wheel`: a compromised mirror, self-consistent).
- `truncated`: the first half of the real file (a broken download or disk).

Each instance serves under a path of its own (a port may be used again by a later instance), so
uv's and Poetry's caches, both keyed by the index URL, hold nothing of it yet: every file is
fetched, through it.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.loopback import send, serving
from tests.tamper_index import MARK, alter_wheel
from tests.upstream import Upstream, through

SPOILS = ("altered", "truncated")


@dataclass
class Log:
    """(user agent, path) of every request, in order; `spoiled` the files served spoiled."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    spoiled: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def agents(self, prefix: str, since: int = 0) -> list[str]:
        """The paths asked for, from the `since`th request on, by clients whose agent starts
        with `prefix` (`uv/`)."""
        return [path for agent, path in self.requests[since:] if agent.startswith(prefix)]


def spoil(data: bytes, how: str) -> bytes:
    return alter_wheel(data) if how == "altered" else data[: len(data) // 2]


def _handler(base: str, prefix: str, upstream: Upstream, log: Log, project: str, how: str) -> type:
    originals: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.removeprefix(prefix)
            with log.lock:
                log.requests.append((self.headers.get("User-Agent", ""), path))
            if path.startswith("/files/"):
                self._file(path.removeprefix("/files/"))
                return
            name = path.strip("/").split("/")[-1]
            status, kind, body = upstream.page(name, self.headers.get("Accept", ""))
            if status == 200:
                body = through(body, kind, originals, base + prefix)
            self._send(status, kind, body)

        def do_HEAD(self) -> None:
            # No range requests: uv then downloads whole wheels, as from a plain mirror.
            self._send(405, "text/plain", b"")

        def _file(self, filename: str) -> None:
            wheel = filename.removesuffix(".metadata")
            if wheel not in originals:
                self._send(404, "text/plain", b"")
                return
            suffix = filename.removeprefix(wheel)
            status, kind, body = upstream.get(originals[wheel] + suffix)
            bad = project and not suffix and wheel.endswith(".whl")
            if bad and wheel.lower().startswith(project.lower() + "-"):
                body = spoil(body, how)
                with log.lock:
                    log.spoiled.append(filename)
            self._send(status, kind, body)

        def _send(self, status: int, kind: str, body: bytes) -> None:
            send(self, status, body, kind)

    return Handler


@contextlib.contextmanager
def logged_index(spoiled: str = "", how: str = "altered") -> Iterator[tuple[str, Log]]:
    """Serve the index on a free loopback port: (its simple URL, its log). `spoiled`: the
    project whose wheels are served spoiled `how` (one of SPOILS)."""
    assert not spoiled or how in SPOILS, how
    log, upstream, prefix = Log(), Upstream(), "/" + secrets.token_hex(4)
    with serving(
        lambda base: _handler(base, prefix, upstream, log, spoiled, how), quiet=True
    ) as base:
        yield f"{base}{prefix}/simple/", log


__all__ = ["MARK", "logged_index"]
