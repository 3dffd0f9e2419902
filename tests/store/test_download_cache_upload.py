"""`cache-dependencies: true` uploads the archives only (issue 18): Poetry's HTTP cache beside
them (`cache/repositories/<source>/_http/`, cachecontrol) stores the request headers an
index's `Vary` names, so an index answering `Vary: Authorization` leaves the Authorization
header in an entry. The control is the path uploaded before: the whole download cache."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
import yaml

from setup_poetry_parallel import cli
from tests.projects import make_project
from tests.repo import REPO

ACTION = REPO / "action.yml"
BASIC = "Basic " + base64.b64encode(b"ci-bot:s3cr/t+tok@n-4711").decode()


def uploaded_path(outputs: dict[str, str]) -> str:
    """The path the action's download-cache step saves, with the plan's outputs filled in."""
    [step] = [
        s for s in yaml.safe_load(ACTION.read_text())["runs"]["steps"] if s.get("id") == "downloads"
    ]
    path = str(step["with"]["path"])
    for name, value in outputs.items():
        path = path.replace(f"${{{{ steps.plan.outputs.{name} }}}}", value)
    return path


def poetry_layout(cache: Path) -> None:
    """A download cache as Poetry leaves it after a private index answered Vary: Authorization."""
    wheel = cache / "artifacts" / "ab" / "cd" / "ef" / "acme_poetry_plugin-1.0.0-py3-none-any.whl"
    wheel.parent.mkdir(parents=True)
    wheel.write_bytes(b"PK\x05\x06" + bytes(18))
    entry = cache / "cache" / "repositories" / "internal" / "_http" / "1" / "2" / "3" / "4" / "5"
    entry.mkdir(parents=True)
    # cachecontrol's serialize.py keeps {"vary": {header: request's value}} in the entry.
    (entry / "12345abcdef").write_bytes(
        b"cc=4," + json.dumps({"vary": {"Authorization": BASIC}}).encode()
    )


def test_the_uploaded_download_cache_holds_archives_and_no_http_cache_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "downloads"
    argv = [
        "--plan", "--format", "json", "--poetry-version", "2.5.1",
        "--working-directory", str(make_project(tmp_path / "project")),
        "--install-dir", str(tmp_path / "install"), "--download-cache", str(cache),
    ]  # fmt: skip
    assert cli.main(argv, dict(os.environ)) == 0
    outputs = json.loads(capsys.readouterr().out)["outputs"]
    poetry_layout(cache)
    uploaded = Path(uploaded_path(outputs))
    files = [p for p in uploaded.rglob("*") if p.is_file()]
    assert [p.name for p in files] == ["acme_poetry_plugin-1.0.0-py3-none-any.whl"]
    assert not any(BASIC.encode() in p.read_bytes() for p in files)
    # What the Actions cache restores is where the jobs' artifacts/ links point.
    assert uploaded == cache / "artifacts"
