"""Credentials never leave the process (issue 18, part 2): not in a log line, the `error:` line
and its details, an annotation, an output (`plugins`), an exported variable, the step summary,
`manifest.json` / `current.json`, nor in the install key. A secret is looked for as given and
percent-encoded (GitHub's masking misses the latter; other CI systems mask nothing).

Each test runs the engine's own path (cli.main, a real plan, real runner files) with the
install stage replaced at its seam; the same tests on the code before the fix are the
controls (they find the secret)."""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from setup_poetry_parallel import cli, engine
from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.outputs import runner_files
from setup_poetry_parallel.poetry_venv.key import InstallSpec, install_key
from setup_poetry_parallel.store.install import Install
from setup_poetry_parallel.store.manifest import Manifest
from tests.projects import make_project

RUNNER_FILES = runner_files.NAMES
TOKEN = "s3cr/t+tok@n-4711"  # characters that percent-encoding changes
ENCODED = urllib.parse.quote(TOKEN, safe="")
PLUGIN_URL = f"https://ci-bot:{ENCODED}@packages.example.com/files/spp_private-1.0-py3-none-any.whl"
PLUGIN = f"spp-private @ {PLUGIN_URL}"
GIT_PLUGIN = f"spp-git @ git+https://{ENCODED}@github.com/example/spp-git.git@v1"


def leaks(text: str) -> list[str]:
    """The forms of the secret found in `text`."""
    return [form for form in (TOKEN, ENCODED, urllib.parse.quote_plus(TOKEN)) if form in text]


@pytest.fixture
def runner(tmp_path: Path) -> dict[str, Path]:
    files = {name: tmp_path / "runner" / name for name in RUNNER_FILES}
    for path in files.values():
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"")
    return files


def run_setup(tmp_path: Path, runner: dict[str, Path], *extra: str, **env: str) -> tuple[int, str]:
    environ = {
        **os.environ,
        "GITHUB_ACTIONS": "true",
        **{n: str(p) for n, p in runner.items()},
        **env,
    }
    argv = [
        "--poetry-version", "2.5.1",
        "--working-directory", str(make_project(tmp_path / "project")),
        "--install-dir", str(tmp_path / "install"),
        "--state-dir", str(tmp_path / "state"),
        *extra,
    ]  # fmt: skip
    return cli.main(argv, environ), ""


def fake_build(paths: Any, installer: Any, **_: object) -> Install:
    """The install stage at its seam: a build with the files a real one has."""
    spec: InstallSpec = installer.spec
    venv = paths.build("b1")
    Path(venv.bin).mkdir(parents=True)
    for name in ("python", "poetry"):
        Path(venv.bin, name).write_text("#!/bin/sh\n")
        Path(venv.bin, name).chmod(0o755)
    manifest = Manifest(
        build="b1",
        poetry_version=spec.poetry_version,
        requirements=spec.requirements,
        entry_points=(),
        files=(),
        python_sys_version="3.12.0",
        python=spec.python,
        installer=spec.installer,
        built_at=0.0,
    )
    Path(paths.root, "current.json").write_text(json.dumps(asdict(manifest)))
    Path(venv.root, "manifest.json").write_text(manifest.to_json())
    return Install(venv, manifest, reused=False)


def everything(tmp_path: Path, runner: dict[str, Path], captured: str) -> str:
    """Everything that left the process: streams, runner files, files under the install dir."""
    texts = [captured, *(path.read_text() for path in runner.values())]
    for path in (tmp_path / "install").rglob("*"):
        texts.append(str(path))
        if path.is_file() and not path.is_symlink():
            texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


def test_a_plugin_url_with_credentials_reaches_no_output_summary_log_or_file(
    tmp_path: Path,
    runner: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(engine.install, "ensure", fake_build)
    code, _ = run_setup(tmp_path, runner, "--plugin", PLUGIN, "--plugin", GIT_PLUGIN, "--verbose")
    out, err = capsys.readouterr()
    assert code == 0, err
    found = everything(tmp_path, runner, out + err)
    assert leaks(found) == []
    # What is left names the plugin and where it is, without the userinfo.
    outputs = runner["GITHUB_OUTPUT"].read_text()
    assert "spp-private @ https://packages.example.com/files/spp_private" in outputs
    assert "git+https://github.com/example/spp-git.git@v1" in outputs
    assert "spp-private @ https://packages.example.com" in runner["GITHUB_STEP_SUMMARY"].read_text()


def test_the_error_line_its_details_and_the_annotation_hold_no_credentials(
    tmp_path: Path,
    runner: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def failing(*_: object, **__: object) -> None:
        logging.getLogger("setup_poetry_parallel.store.install").warning(
            "retrying https://ci-bot:%s@packages.example.com/simple/x/", ENCODED
        )
        raise SetupError(
            f"installing failed: {PLUGIN}",
            # A tool's output: uv and pip print what they were given, a password too.
            details=f"  Caused by: auth failed for ci-bot password {TOKEN}\n  {PLUGIN_URL}",
        )

    monkeypatch.setattr(engine.install, "ensure", failing)
    code, _ = run_setup(
        tmp_path, runner, "--plugin", PLUGIN, POETRY_HTTP_BASIC_INTERNAL_PASSWORD=TOKEN
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert [line for line in out.splitlines() if line.startswith("::error")], out
    assert [line for line in out.splitlines() if line.startswith("::warning")], out
    assert "Caused by: auth failed for ci-bot password ***" in err
    assert leaks(out + err) == []
    assert all(path.read_bytes() == b"" for path in runner.values())


def test_a_bugs_traceback_holds_no_credentials(
    tmp_path: Path,
    runner: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def bug(*_: object, **__: object) -> None:
        raise ValueError(f"unexpected answer from {PLUGIN_URL}")

    monkeypatch.setattr(engine.install, "ensure", bug)
    code, _ = run_setup(tmp_path, runner)
    out, err = capsys.readouterr()
    assert code == 3
    assert "ValueError: unexpected answer from https://***@packages.example.com" in err
    assert leaks(out + err) == []


def spec(*requirements: str) -> InstallSpec:
    return InstallSpec(
        poetry_version="2.5.1",
        requirements=requirements,
        python="/usr/bin/python3",
        python_version="3.12.0",
        installer="uv",
        platform="linux-x86_64",
        plugin_wheel="0",
        dependencies="latest",
    )


def test_the_install_key_does_not_depend_on_a_requirements_credentials() -> None:
    """Anyone who can list the install dir sees the key: an unsalted hash over a token would
    let a guess be checked offline. Two tokens for one URL build the same thing."""
    other = PLUGIN.replace(ENCODED, "another-token")
    assert install_key(spec(PLUGIN)) == install_key(spec(other))
    assert install_key(spec(PLUGIN)) == install_key(spec(PLUGIN.replace(f"ci-bot:{ENCODED}@", "")))
    assert install_key(spec(PLUGIN)) != install_key(spec())  # the plugin still counts


def test_the_manifest_keeps_requirements_without_credentials() -> None:
    manifest = Manifest("b1", "2.5.1", (PLUGIN, GIT_PLUGIN), (), (), "3.12.0", "py", "uv", 0.0)
    assert leaks(manifest.to_json() + json.dumps(asdict(manifest))) == []
    assert Manifest.from_data(json.loads(manifest.to_json())) == manifest
