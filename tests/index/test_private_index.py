"""The private-index bed itself (tests/private_index.py), on its own projects only (no network):
what the real cases of tests/index/test_private_index_real.py rely on."""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator

import pytest

from tests.private_index import ALWAYS, AUDIT, PLUGIN, Bed, bed_or_skip, plugin_wheel
from tests.upstream import JSON

USER, PASSWORD = "ci-bot", "pw-9f2@K/x"
LOGIN = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}


@pytest.fixture(scope="module")
def bed() -> Iterator[Bed]:
    with bed_or_skip(USER, PASSWORD) as served:
        yield served


@pytest.fixture(autouse=True)
def _reset(bed: Bed) -> None:
    bed.reset()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body); redirects are not followed."""

    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(Stay)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=10) as got:
            return got.status, dict(got.headers), got.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_internal_asks_for_basic_auth_and_records_who_asked(bed: Bed) -> None:
    page = f"{bed.internal.url}/{PLUGIN}/"
    status, headers, _ = get(page)
    assert (status, headers["WWW-Authenticate"]) == (401, 'Basic realm="internal"')
    wrong = {"Authorization": "Basic " + base64.b64encode(f"{USER}:nope".encode()).decode()}
    assert get(page, wrong)[0] == 401
    status, _, body = get(page, {**LOGIN, "Accept": JSON})
    assert status == 200
    [entry] = json.loads(body)["files"]
    assert entry["filename"] == "acme_poetry_plugin-1.0.0-py3-none-any.whl"
    assert entry["url"].startswith(bed.internal.base + "/files/")
    assert [s.user for s in bed.internal.requests] == [None, USER, USER]
    assert [s.authorization for s in bed.internal.requests] == [False, True, True]


def test_pages_in_html_unless_json_is_asked_for(bed: Bed) -> None:
    status, headers, body = get(f"{bed.public.url}/{PLUGIN}/", {"Accept": "text/html"})
    assert status == 200
    assert headers["Content-Type"] == "text/html"
    assert b'href="http://127.0.0.3:' in body
    assert b"acme_poetry_plugin-99.0.0-py3-none-any.whl#sha256=" in body


def test_the_wheels_are_plugins_that_say_which_they_are() -> None:
    name, wheel = plugin_wheel(PLUGIN, "99.0.0", "HOSTILE")
    assert name == "acme_poetry_plugin-99.0.0-py3-none-any.whl"
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        info = "acme_poetry_plugin-99.0.0.dist-info"
        assert "[poetry.application.plugin]" in archive.read(f"{info}/entry_points.txt").decode()
        assert "Version: 99.0.0" in archive.read(f"{info}/METADATA").decode()
        assert (
            "HOSTILE acme-poetry-plugin 99.0.0"
            in archive.read("acme_poetry_plugin/__init__.py").decode()
        )
        record = archive.read(f"{info}/RECORD").decode()
        assert len(record.splitlines()) == len(archive.namelist())


def test_switches_outage_refuse_hide_and_redirect(bed: Bed) -> None:
    page = f"{bed.internal.url}/{PLUGIN}/"
    bed.internal.switches.outage = 2
    assert [get(page, LOGIN)[0] for _ in range(3)] == [503, 503, 200]
    bed.internal.switches.outage = ALWAYS
    assert get(page, LOGIN)[0] == 503
    bed.reset()
    bed.internal.switches.refuse = True
    assert get(page, LOGIN)[0] == 401
    bed.reset()
    bed.internal.switches.hide_plugin = True
    assert get(page, LOGIN)[0] == 404
    assert get(f"{bed.internal.url}/{AUDIT}/", LOGIN)[0] == 200
    bed.internal.switches.redirect_files = True
    wheel = "acme_audit_plugin-1.0.0-py3-none-any.whl"
    status, headers, _ = get(f"{bed.internal.base}/files/{wheel}", LOGIN)
    assert (status, headers["Location"]) == (302, f"{bed.files.base}/files/{wheel}")
    assert bed.files.base.startswith("http://127.0.0.2:")
    status, _, body = get(headers["Location"])
    assert status == 200
    assert body == plugin_wheel(AUDIT, "1.0.0", "in-house")[1]
    assert [(s.path, s.authorization) for s in bed.files.requests] == [(f"/files/{wheel}", False)]


def test_userinfo_is_percent_encoded(bed: Bed) -> None:
    url = bed.internal_with_userinfo()
    assert url.startswith("http://ci-bot:pw-9f2%40K%2Fx@127.0.0.1:")
