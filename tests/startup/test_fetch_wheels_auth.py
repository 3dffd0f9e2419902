"""The bootstrap's credentials (issue 18): sent to the index's origin only, redirects included;
read from ~/.netrc ($NETRC) as uv does; a refusal (401/403) said as such, naming what to set,
never as a failed download nor by a silent fall back to pip.

Real loopback servers: `index` redirects to `other`, which records the headers it got. The
same tests on the code before the fix are the controls (urllib copied the header)."""

from __future__ import annotations

import base64
import contextlib
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from setup_poetry_parallel import settings
from setup_poetry_parallel.startup import fetch_wheels
from tests.loopback import serving
from tests.startup.test_bootstrap import _bootstrap, _checkout, _env

USER, TOKEN = "ci-bot", "s3cr/t+tok@n-4711"
ENCODED = urllib.parse.quote(TOKEN, safe="")
BASIC = "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()


@dataclass
class Server:
    base: str = ""
    redirect_to: str = ""  # every request answered 302 to this base + the same path
    needs_auth: bool = False  # 401 without the right Authorization
    refuse: bool = False  # 401 whatever was sent
    seen: list[dict[str, str]] = field(default_factory=list)


def handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.seen.append(dict(self.headers.items()))
            if server.refuse or (server.needs_auth and self.headers.get("Authorization") != BASIC):
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="internal"')
                self.end_headers()
            elif server.redirect_to and not self.path.startswith("/moved/"):
                self.send_response(302)
                self.send_header("Location", f"{server.redirect_to}/moved{self.path}")
                self.end_headers()
            else:
                body = b"the file"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    return Handler


@contextlib.contextmanager
def server_on(host: str) -> Iterator[Server]:
    server = Server()

    def make(base: str) -> type[BaseHTTPRequestHandler]:
        server.base = base
        return handler(server)

    with serving(make, host=host):
        yield server


@pytest.fixture
def index() -> Iterator[Server]:
    with server_on("127.0.0.1") as server:
        yield server


def with_credentials(base: str) -> str:
    return base.replace("http://", f"http://{USER}:{ENCODED}@") + "/simple"


def authorization(seen: dict[str, str]) -> bool:
    return any(name.lower() == "authorization" for name in seen)


@pytest.mark.parametrize("host", ["127.0.0.2", "127.0.0.1"], ids=["other-host", "other-port"])
def test_a_redirect_to_another_origin_gets_no_credentials(index: Server, host: str) -> None:
    """Another port on the same host is another origin too (the old code compared hostnames)."""
    with server_on(host) as other:
        index.redirect_to = other.base
        body, _ = fetch_wheels.Index(with_credentials(index.base), 5).get(
            f"{index.base}/files/x.whl"
        )
    assert body == b"the file"
    assert authorization(index.seen[0])  # the index itself got them
    assert other.seen
    assert not any(authorization(seen) for seen in other.seen)


def test_a_redirect_within_the_index_keeps_the_credentials(index: Server) -> None:
    """uv keeps them on a redirect to the same origin: so does the bootstrap."""
    index.redirect_to = index.base  # /x.whl -> /moved/x.whl, which needs them too
    index.needs_auth = True
    body, _ = fetch_wheels.Index(with_credentials(index.base), 5).get(f"{index.base}/x.whl")
    assert body == b"the file"
    assert [authorization(seen) for seen in index.seen] == [True, True]


def test_the_index_credentials_come_from_netrc_when_its_url_has_none(
    index: Server, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {USER} password {TOKEN}\n")
    netrc.chmod(0o600)
    index.needs_auth = True
    # settings.read_index puts the netrc entry into the index URL, as the bootstrap reads it.
    environ = {"UV_DEFAULT_INDEX": f"{index.base}/simple", "NETRC": str(netrc)}
    url = settings.read_index(environ, tmp_path).url
    assert str(url) == f"http://***@{index.base.removeprefix('http://')}/simple"
    body, _ = fetch_wheels.Index(url.secret, 5).get(f"{index.base}/simple/x/")
    assert body == b"the file"
    assert index.seen[-1].get("Authorization") == BASIC


def test_a_refused_login_says_so_and_what_to_set(index: Server) -> None:
    index.refuse = True
    with pytest.raises(fetch_wheels.Denied) as caught:
        fetch_wheels.Index(with_credentials(index.base), 5).get(f"{index.base}/simple/x/")
    message = str(caught.value)
    assert message.startswith(f"the index refused the credentials for {index.base}/simple")
    assert "UV_DEFAULT_INDEX" in message
    assert ".netrc" in message
    assert TOKEN not in message
    assert ENCODED not in message


def test_the_bootstrap_stops_on_a_refused_login_without_falling_back_to_pip(
    index: Server, tmp_path: Path
) -> None:
    index.refuse = True
    done = _bootstrap(
        _checkout(tmp_path), _env(tmp_path, UV_DEFAULT_INDEX=with_credentials(index.base))
    )
    assert done.returncode == 1, done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert "the index refused the credentials for" in line
    assert "pip" not in done.stderr
    assert TOKEN not in done.stderr
    assert ENCODED not in done.stderr


def test_the_one_fall_back_to_pip_says_from_where_and_why(index: Server, tmp_path: Path) -> None:
    """An index that does not list the files: pip from the same index, said once, redacted."""
    index.needs_auth = True  # the credentials work; the pages are what is missing
    index.redirect_to = ""
    done = _bootstrap(
        _checkout(tmp_path), _env(tmp_path, UV_DEFAULT_INDEX=with_credentials(index.base))
    )
    warnings = [line for line in done.stderr.splitlines() if "pip from" in line]
    assert len(warnings) == 1, done.stderr
    assert f"pip from http://***@{index.base.removeprefix('http://')}/simple" in warnings[0]
    assert TOKEN not in done.stderr
    assert ENCODED not in done.stderr
