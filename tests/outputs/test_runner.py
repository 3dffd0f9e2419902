"""Each output format, read back the way its consumer reads it."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.outputs import runner
from setup_poetry_parallel.outputs.runner import Exports, publish, render, validate
from setup_poetry_parallel.settings import read_runner

TRICKY = 'it\'s $HOME `id` "q" \\ x\nsecond line'
EXPORTS = Exports(
    outputs={"poetry-version": "2.5.1", "plugins": '["a (>=1)"]'},
    env={"POETRY_CACHE_DIR": "/tmp/a b/cache", "TRICKY": TRICKY},
    path=["/tmp/job dir/bin", "/tmp/pythons"],
)


def test_sh_format_survives_eval_in_a_real_shell() -> None:
    script = (
        render(EXPORTS, "sh", "") + '\nprintf "%s\\0%s\\0%s" "$POETRY_CACHE_DIR" "$TRICKY" "$PATH"'
    )
    out = subprocess.run(
        ["sh", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout
    cache, tricky, path = out.split("\0")
    assert cache == "/tmp/a b/cache"
    assert tricky == TRICKY
    assert path == "/tmp/job dir/bin:/tmp/pythons:/usr/bin:/bin"


PLAIN = Exports(
    outputs={"poetry-version": "2.5.1"},
    env={
        "POETRY_CACHE_DIR": "/tmp/a b/job/cache",
        "POETRY_NO_INTERACTION": "1",
        "POETRY_DYNAMIC_VERSIONING_COMMANDS_NO_IO": "install,run,sync",
        "QUOTED": 'it\'s "q" $HOME \\ #x',
    },
    path=["/tmp/a b/job/bin", "/tmp/a b/job/pythons"],
)


def gitlab_dotenv(text: str) -> dict[str, str]:
    """As GitLab's parser reads a dotenv report (Gitlab::Ci::Parsers::DotenvVariable: each
    line's `^(.*)=(.*)$`, both sides stripped; the name a variable key)."""
    parsed = {}
    for line in text.splitlines():
        (name, value), *_ = re.findall(r"^(.*)=(.*)$", line)
        assert re.fullmatch(r"[A-Za-z0-9_]+", name.strip()), line
        parsed[name.strip()] = value.strip()
    return parsed


def test_dotenv_format_is_read_literally_as_gitlab_and_docker_read_it() -> None:
    """No quotes: GitLab keeps them as part of the value (as `docker run --env-file` does)."""
    text = render(PLAIN, "dotenv", "/usr/bin")
    expected = {**PLAIN.env, "PATH": "/tmp/a b/job/bin:/tmp/a b/job/pythons:/usr/bin"}
    assert gitlab_dotenv(text) == expected
    docker = dict(line.split("=", 1) for line in text.splitlines())  # moby's env-file reader
    assert docker == expected
    assert not text.endswith("\n")  # print() ends it: no empty line, which GitLab refuses


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("a\nb", "line break"),
        ("a\rb", "line break"),
        (" a", "blank"),
        ("a\t", "blank"),
        ("a=b", "'='"),
    ],
)
def test_dotenv_refuses_a_value_gitlab_would_read_otherwise(value: str, why: str) -> None:
    exports = Exports(outputs={}, env={"POETRY_CACHE_DIR": value}, path=[])
    with pytest.raises(SetupError, match=f"--format dotenv cannot carry POETRY_CACHE_DIR.*{why}"):
        render(exports, "dotenv", "")
    # The control: the same value as sh survives, so only dotenv refuses it.
    assert "export POETRY_CACHE_DIR=" in render(exports, "sh", "")


def test_dotenv_holds_gitlabs_limits_of_20_variables_and_5_kb() -> None:
    twenty = Exports(outputs={}, env={f"V{i}": "x" for i in range(20)}, path=[])
    assert len(gitlab_dotenv(render(twenty, "dotenv", ""))) == 20
    over = Exports(outputs={}, env={**twenty.env, "V20": "x"}, path=[])
    with pytest.raises(SetupError, match="21 variables, over GitLab's limit of 20"):
        render(over, "dotenv", "")
    five_kb = Exports(outputs={}, env={"V": "x" * (5 * 1024 - len("V=\n"))}, path=[])
    assert len(render(five_kb, "dotenv", "").encode()) + 1 == 5 * 1024
    too_big = Exports(outputs={}, env={"V": "x" * (5 * 1024)}, path=[])
    with pytest.raises(SetupError, match="over GitLab's limit of 5120"):
        render(too_big, "dotenv", "")


def test_a_plan_changes_no_environment_so_sh_and_dotenv_print_nothing() -> None:
    plan = Exports(outputs={"cache-key": "k", "install-path": "/i"}, env={}, path=[])
    assert render(plan, "sh", "/usr/bin") == ""
    assert render(plan, "dotenv", "/usr/bin") == ""
    assert json.loads(render(plan, "json", ""))["outputs"] == plan.outputs


def test_json_format_has_every_part() -> None:
    document = json.loads(render(EXPORTS, "json", ""))
    assert document == {"outputs": EXPORTS.outputs, "env": EXPORTS.env, "path": EXPORTS.path}


def runner_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    files = {name: tmp_path / name for name in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT")}
    for name, path in files.items():
        path.write_text("")
        monkeypatch.setenv(name, str(path))
    return files


def test_github_format_writes_records_the_runner_reads_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from github_action_utils import get_workflow_environment_variables

    files = runner_files(tmp_path, monkeypatch)
    publish(EXPORTS, "github", read_runner(os.environ), "")
    assert get_workflow_environment_variables() == EXPORTS.env
    monkeypatch.setenv("GITHUB_ENV", str(files["GITHUB_OUTPUT"]))  # same record format
    assert get_workflow_environment_variables() == EXPORTS.outputs
    # The runner prepends each line of GITHUB_PATH in turn: the last line ends up first.
    lines = files["GITHUB_PATH"].read_text().splitlines()
    assert list(reversed(lines)) == EXPORTS.path


@pytest.mark.parametrize(
    "bad",
    [
        Exports(outputs={}, env={}, path=["/a\n/b"]),
        Exports(outputs={}, env={}, path=[f"/a{os.pathsep}/b"]),
        Exports(outputs={}, env={"A=B": "x"}, path=[]),
        Exports(outputs={"x<<EOF": "y"}, env={}, path=[]),
    ],
)
def test_refused_records_leave_the_files_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: Exports
) -> None:
    files = runner_files(tmp_path, monkeypatch)
    good_then_bad = Exports(
        outputs={"ok": "1", **bad.outputs}, env={"OK": "1", **bad.env}, path=["/ok", *bad.path]
    )
    with pytest.raises(SetupError):
        validate(good_then_bad)
    with pytest.raises(SetupError):
        publish(good_then_bad, "github", read_runner(os.environ), "")
    assert all(path.read_text() == "" for path in files.values())


@settings(max_examples=200, deadline=None)
@given(
    message=st.text(alphabet=st.sampled_from("ab:,%\r\n\0é🙂 ")),
    file=st.none() | st.text(alphabet=st.sampled_from("/a:,%\n ")),
    line=st.none() | st.integers(min_value=1, max_value=10**6),
)
def test_annotations_are_escaped_as_the_toolkit_escapes_them(
    message: str, file: str | None, line: int | None
) -> None:
    """runner.py writes its own `::error`/`::warning` lines since #19: the control is what
    github-action-utils (the runner I/O library before, a test dependency now) prints."""
    import contextlib
    import io

    import github_action_utils as gha

    for ours, theirs in (
        (runner.annotate_error, gha.error),
        (runner.annotate_warning, gha.warning),
    ):
        mine, toolkit = io.TextIOWrapper(io.BytesIO()), io.StringIO()
        with contextlib.redirect_stdout(mine):
            ours(message, file=file, line=line)
        with contextlib.redirect_stdout(toolkit):
            theirs(message, title="setup-poetry-parallel", file=file, line=line)
        mine.flush()
        assert mine.buffer.getvalue().decode("utf-8") == toolkit.getvalue()  # type: ignore[attr-defined]
