"""The one error path: expected failures exit 1 or 2 with one line, a bug exits 3 with its
traceback and says where to report it. Nothing is written for later steps either way."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from setup_poetry_parallel import ISSUES, cli, engine, error_handler
from setup_poetry_parallel.errors import InputError, SetupError
from setup_poetry_parallel.outputs import runner_files
from setup_poetry_parallel.settings import Runner
from tests.projects import make_project

RUNNER_FILES = runner_files.NAMES


def _boom(*_: object, **__: object) -> None:
    raise ZeroDivisionError("injected")


@pytest.mark.parametrize("on_runner", [True, False], ids=["runner", "cli"])
def test_an_injected_bug_exits_3_with_its_traceback(
    on_runner: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(engine.install, "ensure", _boom)  # inside a real setup, after the plan
    files = {name: tmp_path / name for name in RUNNER_FILES}
    for path in files.values():
        path.write_bytes(b"")
    environ = dict(os.environ)
    if on_runner:
        environ.update({"GITHUB_ACTIONS": "true", **{n: str(p) for n, p in files.items()}})
    argv = [
        "--poetry-version", "2.5.1",
        "--working-directory", str(make_project(tmp_path / "project")),
        "--install-dir", str(tmp_path / "install"),
        "--state-dir", str(tmp_path / "state"),
        *([] if on_runner else ["--format", "json"]),
    ]  # fmt: skip

    code = cli.main(argv, environ)

    out, err = capsys.readouterr()
    assert code == error_handler.BUG == 3
    assert "Traceback (most recent call last)" in err
    assert "ZeroDivisionError: injected" in err
    [line] = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "this is a bug" in line
    assert ISSUES in line
    annotations = [line for line in out.splitlines() if line.startswith("::error")]
    assert len(annotations) == (1 if on_runner else 0), out
    if on_runner:
        assert "this is a bug" in annotations[0]
    else:
        assert out == ""
    assert all(path.read_bytes() == b"" for path in files.values())


@pytest.mark.parametrize(
    ("raised", "code"),
    [(InputError("bad input"), 2), (SetupError("it failed"), 1), (KeyboardInterrupt(), 130)],
)
def test_expected_failures_are_one_line(
    raised: BaseException, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    def body() -> None:
        raise raised

    assert error_handler.guarded(body, Runner(active=False, debug=False)) == code
    _, err = capsys.readouterr()
    assert len([line for line in err.splitlines() if line.startswith("error: ")]) == 1
    assert "Traceback" not in err


def test_details_stay_above_the_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    def body() -> None:
        raise SetupError("uv failed", details="error: a tool's own line\nmore")

    assert error_handler.guarded(body, Runner(active=True, debug=False)) == 1
    out, err = capsys.readouterr()
    assert [line for line in err.splitlines() if line.startswith("error: ")] == ["error: uv failed"]
    assert "  | error: a tool's own line" in err
    assert out.startswith("::error")
