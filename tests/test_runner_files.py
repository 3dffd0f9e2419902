"""Hostile values cannot add variables, outputs or PATH entries to the runner's files.

Generated values (newlines, `=`, `<<`, delimiter look-alikes, NUL, BOMs, CR) go through
runner.publish into real temporary GITHUB_ENV/GITHUB_OUTPUT/GITHUB_PATH files, which are
then read back twice: with github_action_utils' reader and with our own transcription of
the runner's parser (actions/runner FileCommandManager: NAME=VALUE or NAME<<DELIMITER, lines
split on the platform newline; GITHUB_PATH read with ReadAllLines, which also splits on CR).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import github_action_utils as gha
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from setup_poetry_parallel import runner
from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.runner import Exports
from setup_poetry_parallel.settings import read_runner

EXAMPLES = 300
GENERATED: dict[str, int] = {}  # test name -> values generated, printed at the end

# Pieces that have broken runner files in real actions, mixed with arbitrary text.
NASTY = st.sampled_from(
    [
        "\n",
        "\r",
        "\r\n",
        "=",
        "<<",
        "EOF",
        "ghadelimiter_",
        "ghadelimiter_0123456789abcdef0123456789abcdef",
        "\0",
        "\ufeff",
        "PATH=/evil",
        "\nINJECTED=1\n",
        "X<<EOF\nINJECTED=1\nEOF",
        "::set-output name=x::y",
        "%0A",
    ]
)
HOSTILE = st.lists(st.one_of(NASTY, st.text(max_size=12)), max_size=8).map("".join)
NAME = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,15}\Z")


def _count(name: str) -> None:
    GENERATED[name] = GENERATED.get(name, 0) + 1


@contextlib.contextmanager
def runner_files() -> Iterator[dict[str, Path]]:
    """Real temporary runner files (per example: hypothesis does not reset pytest fixtures)."""
    with tempfile.TemporaryDirectory() as tmp:
        files = {name: Path(tmp, name) for name in ("GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_PATH")}
        for path in files.values():
            path.write_bytes(b"")
        yield files


def parse_records(data: bytes) -> dict[str, str]:
    """actions/runner's reader for GITHUB_ENV and GITHUB_OUTPUT, transcribed independently."""
    text = data.decode("utf-8")
    text = text.removeprefix("\ufeff")  # File.ReadAllText drops a UTF-8 signature
    newline = "\r\n" if os.name == "nt" else "\n"
    lines = text.split(newline)
    if lines and lines[-1] == "":
        lines.pop()
    records: dict[str, str] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            name, value = line.split("=", 1)
        elif heredoc >= 0:
            name, delimiter = line.split("<<", 1)
            assert name, f"invalid record {line!r}"
            assert delimiter, f"invalid record {line!r}"
            body = []
            while True:
                assert index < len(lines), f"no closing delimiter for {name!r}"
                line = lines[index]
                index += 1
                if line == delimiter:
                    break
                body.append(line)
            value = newline.join(body)
        else:
            raise AssertionError(f"invalid record {line!r}")
        assert name, "empty name"
        records[name] = value
    return records


def parse_path(data: bytes) -> list[str]:
    """GITHUB_PATH: File.ReadAllLines (splits on CR, LF and CRLF), empty lines skipped."""
    text = data.decode("utf-8").removeprefix("\ufeff")
    return [line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line]


def read_with_gha(path: Path) -> dict[str, str]:
    saved = os.environ.get("GITHUB_ENV")
    os.environ["GITHUB_ENV"] = str(path)
    try:
        return gha.get_workflow_environment_variables()
    finally:
        if saved is None:
            os.environ.pop("GITHUB_ENV", None)
        else:
            os.environ["GITHUB_ENV"] = saved


def publish(exports: Exports) -> dict[str, bytes] | None:
    """Publish for real; None when the engine refused (then the files must stay empty)."""
    with runner_files() as files:
        try:
            environ = {**os.environ, **{name: str(path) for name, path in files.items()}}
            runner.publish(exports, "github", read_runner(environ), "")
        except SetupError:
            assert all(path.read_bytes() == b"" for path in files.values()), "partial write"
            return None
        return {name: path.read_bytes() for name, path in files.items()}


def read_back(data: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """(our parser, github_action_utils' reader) over the same bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "records")
        path.write_bytes(data)
        return parse_records(data), read_with_gha(path)


COMMON = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@COMMON
@given(env=st.dictionaries(NAME, HOSTILE, min_size=1, max_size=4))
def test_hostile_env_values_stay_values(env: dict[str, str]) -> None:
    _count("env values")
    files = publish(Exports(outputs={}, env=env, path=[]))
    if files is None:  # refused: only a NUL may cause that
        assert any("\0" in value for value in env.values())
        return
    ours, theirs = read_back(files["GITHUB_ENV"])
    assert ours == env
    assert theirs == env


@COMMON
@given(outputs=st.dictionaries(NAME, HOSTILE, min_size=1, max_size=4))
def test_hostile_output_values_stay_values(outputs: dict[str, str]) -> None:
    _count("output values")
    files = publish(Exports(outputs=outputs, env={}, path=[]))
    assert files is not None
    assert read_back(files["GITHUB_OUTPUT"]) == (outputs, outputs)
    assert files["GITHUB_ENV"] == b""


@COMMON
@given(name=HOSTILE, value=HOSTILE)
@example(name="EOF\n", value="")  # found by hypothesis: `$` matched before the newline
def test_hostile_names_are_refused_or_harmless(name: str, value: str) -> None:
    _count("names")
    files = publish(Exports(outputs={name: value}, env={name: value}, path=[]))
    if files is None:
        return  # refused before a byte was written (checked in publish)
    assert read_back(files["GITHUB_ENV"]) == ({name: value}, {name: value})
    assert read_back(files["GITHUB_OUTPUT"]) == ({name: value}, {name: value})


@COMMON
@given(entries=st.lists(HOSTILE, min_size=1, max_size=4))
def test_hostile_path_entries_add_exactly_themselves_or_nothing(entries: list[str]) -> None:
    _count("PATH entries")
    files = publish(Exports(outputs={}, env={}, path=entries))
    if files is None:
        assert any(not e or any(c in e for c in "\r\n\0") or os.pathsep in e for e in entries), (
            f"refused harmless entries {entries!r}"
        )
        return
    added = parse_path(files["GITHUB_PATH"])
    # Each add prepends; the runner reverses again, so the file holds the entries reversed.
    assert [e.removeprefix("\ufeff") for e in reversed(added)] == [
        e.removeprefix("\ufeff") for e in entries
    ]


def test_our_parser_reads_what_the_runner_would_reject() -> None:
    """The transcribed parser is not a tautology: it rejects a record with no delimiter."""
    with pytest.raises(AssertionError, match="closing delimiter"):
        parse_records(b"NAME<<EOF\nvalue\n")
    assert parse_records(b"A=1\nB<<X\nline=1\nX\n") == {"A": "1", "B": "line=1"}
    assert parse_path(b"/a\r/b\n") == ["/a", "/b"]


def test_a_value_holding_the_delimiter_gets_another_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the collision hypothesis cannot find: the first delimiter drawn is in the value."""
    import uuid

    from github_action_utils import _files

    drawn = iter([uuid.UUID(int=1), uuid.UUID(int=2)])
    monkeypatch.setattr(_files.uuid, "uuid4", lambda: next(drawn))
    value = f"x\nghadelimiter_{uuid.UUID(int=1).hex}\nINJECTED=1"
    files = publish(Exports(outputs={}, env={"SAFE": value}, path=[]))
    assert files is not None
    assert read_back(files["GITHUB_ENV"]) == ({"SAFE": value}, {"SAFE": value})
    assert f"<<ghadelimiter_{uuid.UUID(int=2).hex}" in files["GITHUB_ENV"].decode()


def test_zz_report_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints how many hostile examples ran (read by the report; -s shows it)."""
    with capsys.disabled():
        print(f"\nhostile values generated per property: {GENERATED}")
