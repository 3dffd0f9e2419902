"""Hostile values cannot add variables, outputs or PATH entries to the runner's files.

runner_files.py is the one writer of those files, for the engine (runner.publish) and the warm
lane. Generated values (newlines, `=`, `<<`, delimiter look-alikes, NUL, BOMs, CR) go through
runner.publish into real temporary GITHUB_ENV/GITHUB_OUTPUT/GITHUB_PATH files, which are
then read back twice: with github_action_utils' reader (a test dependency only: an
independent reading) and with our own transcription of the runner's parser (actions/runner
FileCommandManager: NAME=VALUE or NAME<<DELIMITER, lines split on the platform newline;
GITHUB_PATH read with ReadAllLines, which also splits on CR).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import github_action_utils as gha
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.outputs import runner, runner_files
from setup_poetry_parallel.outputs.runner import Exports
from setup_poetry_parallel.redaction import redact
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
def temp_runner_files() -> Iterator[dict[str, Path]]:
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
    with temp_runner_files() as files:
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
    # A value that looks like a URL with userinfo is redacted on purpose (test_credentials.py).
    assume(all(redact(value) == value for value in env.values()))
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
    assume(all(redact(value) == value for value in outputs.values()))
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
    drawn = iter(["ghadelimiter_1", "ghadelimiter_2"])
    monkeypatch.setattr(runner_files, "_delimiter", lambda: next(drawn))
    value = "x\nghadelimiter_1\nINJECTED=1"
    files = publish(Exports(outputs={}, env={"SAFE": value}, path=[]))
    assert files is not None
    assert read_back(files["GITHUB_ENV"]) == ({"SAFE": value}, {"SAFE": value})
    assert files["GITHUB_ENV"].decode().startswith("SAFE<<ghadelimiter_2\n")


def test_each_record_gets_its_own_delimiter_and_the_files_their_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The records the warm lane replays are these too (warm_lane.replay): one writer."""
    drawn = iter(["D1", "D2", "D3"])
    monkeypatch.setattr(runner_files, "_delimiter", lambda: next(drawn))
    records = runner_files.records(
        env={"A": "1", "B": "two\nlines"},
        path=["/first", "\ufeff/bom"],
        outputs={"poetry-version": "2.5.1"},
        summary="### hi",
    )
    n = os.linesep
    assert records == {
        "GITHUB_ENV": f"A<<D1{n}1{n}D1{n}B<<D2{n}two\nlines{n}D2{n}".encode(),
        # Each line is prepended in turn: the first entry is written last. A BOM-led entry
        # follows an empty line, where the runner's reader cannot take it for the signature.
        "GITHUB_PATH": f"{n}\ufeff/bom{n}/first{n}".encode(),
        "GITHUB_OUTPUT": f"poetry-version<<D3{n}2.5.1{n}D3{n}".encode(),
        "GITHUB_STEP_SUMMARY": b"### hi\n",
    }
    assert parse_path(records["GITHUB_PATH"]) == ["\ufeff/bom", "/first"]  # the BOM kept
    assert runner_files.records(env={}, path=[], outputs={}) == {}  # nothing: no file touched


ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # runner.py's regexes until #19
OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@COMMON
@given(name=st.one_of(HOSTILE, NAME, st.from_regex(r"\A[A-Za-z_-][A-Za-z0-9_-]{0,8}\Z")))
@example(name="")
@example(name="é")
@example(name="A\n")
def test_names_are_checked_as_the_regexes_did(name: str) -> None:
    """The check without `re` (the warm lane's import budget) accepts exactly what the old
    regexes accepted: the control is the regexes themselves."""
    _count("names checked")
    as_env = runner_files.problem({name: ""}, [], {}) is None
    as_output = runner_files.problem({}, [], {name: ""}) is None
    assert as_env == bool(ENV_NAME.fullmatch(name))
    assert as_output == bool(OUTPUT_NAME.fullmatch(name))


def test_a_file_that_cannot_be_opened_leaves_every_file_as_it_was(tmp_path: Path) -> None:
    files = {name: tmp_path / name for name in runner_files.NAMES}
    for path in files.values():
        path.write_bytes(b"before\n")
    files["GITHUB_OUTPUT"].unlink()
    files["GITHUB_OUTPUT"].mkdir()  # opened last: the others were opened, none written
    records = runner_files.records(env={"A": "1"}, path=["/p"], outputs={"o": "1"}, summary="s")
    with pytest.raises(IsADirectoryError):
        runner_files.append(records, {name: str(path) for name, path in files.items()})
    with pytest.raises(SetupError, match="GITHUB_OUTPUT"):  # runner.py names the variable
        runner_files.append(
            records,
            {name: str(path) for name, path in files.items()},
            refused=lambda name, exc: SetupError(f"{name}: {exc.strerror}"),
        )
    assert all(p.read_bytes() == b"before\n" for p in files.values() if p.is_file())


def test_a_summary_without_its_file_is_left_out_and_a_missing_file_is_an_error(
    tmp_path: Path,
) -> None:
    files = {name: str(tmp_path / name) for name in runner_files.REQUIRED}
    records = runner_files.records(env={"A": "1"}, path=[], outputs={}, summary="s")
    runner_files.append(records, {**files, "GITHUB_STEP_SUMMARY": ""})
    assert Path(files["GITHUB_ENV"]).read_bytes().startswith(b"A<<")
    assert not (tmp_path / "GITHUB_STEP_SUMMARY").exists()
    with pytest.raises(ValueError, match="GITHUB_ENV is not set"):
        runner_files.append(records, {})


def test_zz_report_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints how many hostile examples ran (read by the report; -s shows it)."""
    with capsys.disabled():
        print(f"\nhostile values generated per property: {GENERATED}")
