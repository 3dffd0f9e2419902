"""A refused login (401/403) is said as one (issue 18): "the index refused the credentials for
<source or host>: set ...", naming the variables for that source, never "no release satisfies
... relax the plugin constraint" nor "does not exist". Real uv and pip output, captured against a
loopback index answering 401/403 (tests/fixtures/installer_output/*-40?.txt), and real loopback
servers for the engine's own requests. On the code before the fix (the control) the same output
was classified as a conflict or a failed download."""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from setup_poetry_parallel.errors import InputError, SetupError
from setup_poetry_parallel.index import release_files, versions
from setup_poetry_parallel.index.sources import Source
from setup_poetry_parallel.poetry_venv.installer_errors import installer_error
from setup_poetry_parallel.redaction import SafeUrl
from setup_poetry_parallel.settings import Index
from tests.loopback import serving
from tests.repo import FIXTURES
from tests.test_seams import VENV, spec

OUTPUTS = FIXTURES / "installer_output"
TOKEN = "s3cr/t+tok@n-4711"
ENCODED = urllib.parse.quote(TOKEN, safe="")
# The loopback ports the fixtures were captured on (uv names the URL it was refused at).
PORTS = {"uv-401.txt": 45303, "uv-403.txt": 43231, "uv-401-url.txt": 46141, "pip-401.txt": 46141}
CODES = {"uv-401.txt": 401, "uv-403.txt": 403, "uv-401-url.txt": 401, "pip-401.txt": 401}


def internal(port: int) -> Source:
    url = SafeUrl(f"http://ci-bot:{ENCODED}@127.0.0.1:{port}/simple")
    return Source("internal", url, "primary", "POETRY_HTTP_BASIC_INTERNAL_*")


def setup_index(url: str = "https://pypi.org/simple", *project: Source) -> Index:
    return Index(SafeUrl(url), 5.0, 0, project_sources=project)


def classify(output: str, index: Index | None) -> SetupError:
    text = (OUTPUTS / output).read_text()
    raw = SetupError("installing Poetry and plugins failed (exit 1): uv pip install", details=text)
    kind = "pip" if output.startswith("pip") else "uv"
    found = installer_error(raw, spec(kind), VENV, str(index.url) if index else "", sources=index)
    assert found is not raw, "not classified"
    assert found.details == text
    return found


# A direct URL (`name @ http://host/files/x.whl`) is no source's page: named by its host.
@pytest.mark.parametrize("output", sorted(set(PORTS) - {"uv-401-url.txt"}))
def test_an_installers_refused_login_names_the_project_source_and_its_variables(
    output: str,
) -> None:
    index = setup_index("https://pypi.org/simple", internal(PORTS[output]))
    found = classify(output, index)
    assert type(found) is SetupError  # not bad input: exit 1
    assert found.message.startswith(
        f"the index refused the credentials for source 'internal' (127.0.0.1:{PORTS[output]})"
        f" (HTTP {CODES[output]}, credentials from POETRY_HTTP_BASIC_INTERNAL_* sent): set"
        " POETRY_HTTP_BASIC_INTERNAL_USERNAME and POETRY_HTTP_BASIC_INTERNAL_PASSWORD"
    ), found.message
    assert "relax" not in found.message
    assert TOKEN not in found.message
    assert ENCODED not in found.message


@pytest.mark.parametrize("output", sorted(PORTS))
def test_an_installers_refused_login_at_the_setups_index_names_its_variables(
    output: str,
) -> None:
    index = setup_index(f"http://127.0.0.1:{PORTS[output]}/simple")
    found = classify(output, index)
    assert found.message.startswith(
        f"the index refused the credentials for 127.0.0.1:{PORTS[output]}"
    ), found.message
    assert "UV_DEFAULT_INDEX, UV_INDEX_URL, PIP_INDEX_URL" in found.message
    assert "~/.netrc" in found.message


class Refusing(BaseHTTPRequestHandler):
    code = 401

    def do_GET(self) -> None:
        self.send_response(self.code)
        self.send_header("WWW-Authenticate", 'Basic realm="internal"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@contextlib.contextmanager
def refusing(code: int) -> Iterator[str]:
    handler = type("Handler", (Refusing,), {"code": code})
    with serving(lambda _: handler) as base:
        yield base.replace("http://", f"http://ci-bot:{ENCODED}@") + "/simple"


@pytest.mark.parametrize("code", [401, 403])
def test_the_release_lookup_says_a_refused_login(code: int) -> None:
    with refusing(code) as url, pytest.raises(SetupError) as caught:
        versions.fetch_releases(Index(SafeUrl(url), timeout=5, retries=0), "poetry")
    assert not isinstance(caught.value, InputError)  # "does not exist" would be bad input
    assert caught.value.message.startswith("the index refused the credentials for 127.0.0.1:")
    assert f"(HTTP {code}," in caught.value.message
    assert TOKEN not in str(caught.value)
    assert ENCODED not in str(caught.value)


def test_the_release_files_lookup_names_the_project_source() -> None:
    with refusing(401) as url:
        port = urllib.parse.urlsplit(url).port
        assert port is not None
        index = setup_index(url, internal(port))
        with pytest.raises(SetupError) as caught:
            release_files.read("acme-poetry-plugin", "1.0.0", index)
    assert caught.value.message.startswith(
        f"the index refused the credentials for source 'internal' (127.0.0.1:{port})"
    ), caught.value.message
    assert ENCODED not in caught.value.message


def test_the_release_lookup_names_the_project_source_that_is_the_setup_index() -> None:
    """Air-gapped: no index variable, the project's primary source is the setup's index."""
    with refusing(401) as url:
        port = urllib.parse.urlsplit(url).port
        assert port is not None
        with pytest.raises(SetupError) as caught:
            versions.fetch_releases(setup_index(url, internal(port)), "poetry", retries=0)
    assert caught.value.message.startswith(
        f"the index refused the credentials for source 'internal' (127.0.0.1:{port})"
    ), caught.value.message
