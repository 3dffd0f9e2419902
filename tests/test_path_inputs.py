"""Every path the user gives, of every wrong kind, through `cli.main`, on a runner and off it.

The inputs: `working-directory`, `install-dir`, `state-dir` and, on a runner, the runner's files.
The wrong kinds: a file where a directory must be (or a directory where a file must be), a
parent that is a file, a dangling symbolic link, a directory that cannot be written (a
read-only tmpfs) and a full disk (a tmpfs out of inodes). Each: the exit code, one `error:`
line that names that input (never another), no traceback, nothing written for later steps and
no install. Nothing here reaches the package index: each case fails before Poetry is built.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from setup_poetry_parallel import cli
from setup_poetry_parallel.outputs import runner_files
from tests.mounts import tmpfs
from tests.projects import make_project

RUNNER_FILES = runner_files.NAMES
DIR_INPUTS = ("working-directory", "install-dir", "state-dir")


def file_in_the_way(tmp: Path, expects_file: bool) -> Iterator[Path]:
    path = tmp / "target"
    if expects_file:
        path.mkdir()  # a directory where the runner file must be
    else:
        path.write_text("")
    yield path


def parent_is_a_file(tmp: Path, expects_file: bool) -> Iterator[Path]:
    (tmp / "blocker").write_text("")
    yield tmp / "blocker" / "target"


def dangling_link(tmp: Path, expects_file: bool) -> Iterator[Path]:
    (tmp / "target").symlink_to(tmp / "gone" / "away")
    yield tmp / "target"


def read_only(tmp: Path, expects_file: bool) -> Iterator[Path]:
    with tmpfs(tmp / "ro", "ro,size=1m") as where:
        yield where / "target"


def full(tmp: Path, expects_file: bool) -> Iterator[Path]:
    with tmpfs(tmp / "full", "size=1m,nr_inodes=1") as where:  # the root dir takes the inode
        yield where / "target"


@dataclass(frozen=True)
class Kind:
    name: str
    make: Callable[[Path, bool], Iterator[Path]]
    code: int
    says: str  # regex, after "<input> <path> "


KINDS = [
    Kind("file in the way", file_in_the_way, 2, r"(a file is in the way|is a file|is a directory)"),
    Kind("parent is a file", parent_is_a_file, 2, r"(a file is in the way|does not exist)"),
    Kind("dangling link", dangling_link, 2, r"dangling symbolic link"),
    Kind("read-only", read_only, 2, r"cannot be written.*Read-only"),
    Kind("full", full, 1, r"is full"),
]


@dataclass(frozen=True)
class Case:
    input: str
    kind: Kind
    on_runner: bool

    @property
    def id(self) -> str:
        return f"{self.input}-{self.kind.name}-{'runner' if self.on_runner else 'cli'}"


def _applies(name: str, kind: Kind) -> bool:
    # Jobs only read the project: a read-only or full one is fine. A runner file is opened,
    # not grown, before the setup runs: a full disk shows only when the records are written.
    if name == "working-directory":
        return kind.name not in ("read-only", "full")
    return not (name in RUNNER_FILES and kind.name == "full")


CASES = [
    Case(name, kind, on_runner)
    for name in DIR_INPUTS
    for kind in KINDS
    for on_runner in (True, False)
    if _applies(name, kind)
] + [Case(name, kind, True) for name in RUNNER_FILES for kind in KINDS if _applies(name, kind)]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_path_names_its_input(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path / "project")
    runner_dir = tmp_path / "runner"
    runner_dir.mkdir()
    files = {name: runner_dir / name for name in RUNNER_FILES}
    for path in files.values():
        path.write_bytes(b"")
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    with contextlib.contextmanager(case.kind.make)(bad_dir, case.input in RUNNER_FILES) as bad:
        paths = {
            "working-directory": project,
            "install-dir": tmp_path / "install",
            "state-dir": tmp_path / "state",
        }
        environ = {k: v for k, v in os.environ.items() if k not in RUNNER_FILES}
        if case.on_runner:
            environ.update({"GITHUB_ACTIONS": "true", **{n: str(p) for n, p in files.items()}})
        if case.input in RUNNER_FILES:
            environ[case.input] = str(bad)
        else:
            paths[case.input] = bad
        argv = ["--poetry-version", "2.5.1", "--job-id", "job"]
        for name, path in paths.items():
            argv += [f"--{name}", str(path)]
        if not case.on_runner:
            argv += ["--format", "json"]

        code = cli.main(argv, environ)

        out, err = capsys.readouterr()
        assert code == case.kind.code, err
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, err
        assert errors[0].startswith(f"error: {case.input} "), errors[0]
        assert re.search(case.kind.says, errors[0]), errors[0]
        assert "Traceback" not in err
        annotations = [line for line in out.splitlines() if line.startswith("::error")]
        assert len(annotations) == (1 if case.on_runner else 0), out
        if not case.on_runner:
            assert out == "", "something was exported"
        for name, path in files.items():
            if path.is_file():
                assert path.read_bytes() == b"", f"{name} was written"
        assert not list((tmp_path / "install").glob("*/builds/*")), "an install was started"


def test_every_path_input_and_kind_is_in_the_table() -> None:
    assert {c.input for c in CASES} == {*DIR_INPUTS, *RUNNER_FILES}
    for kind in KINDS:
        assert any(c.kind == kind and c.on_runner for c in CASES), kind.name
        assert any(c.kind == kind and not c.on_runner for c in CASES), kind.name
    print(f"bad paths tried: {len(CASES)}")
