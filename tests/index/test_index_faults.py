"""Package index faults, provoked for real by a local index (tests/fault_index.py).

Connection refused, a 5xx outage, a stall and a cut-off answer, first for the version
resolution (`poetry-version: X.Y`, read by versions.py), then for the install itself (uv,
and pip for one case). Each ends, after retries with backoff and timeouts, in one `error:`
line that names the index and the package, exit 1, and nothing exported.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from setup_poetry_parallel import cli
from setup_poetry_parallel.redaction import SafeUrl
from setup_poetry_parallel.settings import Index
from tests.fault_index import Fault, closed_port_url, serve
from tests.projects import make_project

pytestmark = pytest.mark.network  # a local proxy in front of the real index

# Small, so that the retries and timeouts of a test take seconds, not minutes.
FAST = {"UV_HTTP_TIMEOUT": "2", "UV_HTTP_RETRIES": "2"}


@pytest.fixture
def index(request: pytest.FixtureRequest) -> Iterator[tuple[str, Fault | None]]:
    kind = request.param
    if kind == "refused":
        yield closed_port_url(), None
        return
    fault = Fault(kind=kind, project="poetry", status=503)
    with serve(fault) as url:
        yield url, fault


def run(
    tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str], *args: str, **env: str
) -> tuple[int, str, float]:
    project = make_project(tmp_path / "project", plugins="")
    outputs = tmp_path / "github-output"
    outputs.write_bytes(b"")
    environ = {**os.environ, **FAST, "UV_DEFAULT_INDEX": url, **env}
    environ["UV_CACHE_DIR"] = str(tmp_path / "uv-cache")  # cold: nothing comes from a cache
    argv = [
        "--working-directory",
        str(project),
        "--install-dir",
        str(tmp_path / "install"),
        "--state-dir",
        str(tmp_path / "state"),
        "--job-id",
        "index-faults",
        "--format",
        "json",
        *args,
    ]
    started = time.monotonic()
    code = cli.main(argv, environ)
    seconds = time.monotonic() - started
    out, err = capsys.readouterr()
    assert out == "", "nothing may be exported after a failure"
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert not list((tmp_path / "install").glob("*/current.json"))
    return code, errors[0], seconds


PROBLEM = {
    "refused": "connection refused",
    "status": "503",
    "stall": "timed out",
    "truncate_page": "cut off",
}


@pytest.mark.parametrize("index", list(PROBLEM), indirect=True)
def test_version_resolution_survives_then_names_index_and_package(
    index: tuple[str, Fault | None], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, fault = index
    code, error, seconds = run(tmp_path, url, capsys, "--poetry-version", "2.5")
    assert code == 1
    assert f"releases of poetry from the index {url}" in error
    kind = fault.kind if fault else "refused"
    assert PROBLEM[kind] in error
    assert "3 attempts" in error  # UV_HTTP_RETRIES=2: three tries, with backoff between
    if fault is not None:
        assert len(fault.requests) == 3, fault.requests
    assert seconds >= 0.5 + 1.0, "backoff: 0.5 s then 1 s between the attempts"
    if kind == "stall":
        assert seconds >= 3 * 2, "each attempt waited for the 2 s timeout"


def test_version_resolution_retries_through_a_short_outage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two 503s, then the index answers: the setup resolves and goes on."""
    from setup_poetry_parallel.index import versions

    fault = Fault(kind="status", status=503)
    with serve(fault) as url:

        def recover(seconds: float) -> None:
            time.sleep(seconds)
            if len(fault.requests) >= 2:
                fault.kind = "none"

        pytest.MonkeyPatch().setattr(versions, "_sleep", recover)
        releases = versions.fetch_releases(Index(SafeUrl(url), timeout=2, retries=3))
    assert any(str(r.version) == "2.5.1" for r in releases)
    assert len(fault.requests) == 3


INSTALL_PROBLEM = {
    "refused": r"could not download poetry from the index .* \(.*Connection refused",
    "status": r"could not download poetry from the index .* \(HTTP status server error \(503",
    "stall": r"could not download poetry from the index .* \(operation timed out\)",
    "truncate": r"the index .* served a broken or cut-off file for poetry 2\.5\.1",
}


@pytest.mark.parametrize("index", list(INSTALL_PROBLEM), indirect=True)
def test_install_names_index_and_package(
    index: tuple[str, Fault | None], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, fault = index
    code, error, _ = run(tmp_path, url, capsys, "--poetry-version", "2.5.1", UV_HTTP_RETRIES="1")
    assert code == 1
    assert url in error
    kind = fault.kind if fault else "refused"
    assert re.search(INSTALL_PROBLEM[kind], error), error
    if fault is not None and kind != "truncate":
        pages = [p for p in fault.requests if p.startswith("/simple/poetry/")]
        # Two from the release check, two from uv (UV_HTTP_RETRIES=1: one retry each).
        assert len(pages) >= 4, f"uv retried: {fault.requests}"
    # The failed build is gone; the next setup starts clean.
    assert not [p for p in (tmp_path / "install").glob("*/builds/*") if p.is_dir()]


def test_pip_installer_names_index_and_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = closed_port_url()
    code, error, _ = run(
        tmp_path,
        url,
        capsys,
        "--poetry-version",
        "2.5.1",
        "--installer",
        "pip",
        PIP_INDEX_URL=url,
        UV_HTTP_RETRIES="1",
    )
    assert code == 1
    assert re.search(
        rf"could not download poetry==2\.5\.1 from the index {re.escape(url)}", error
    ), error
