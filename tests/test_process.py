"""process.py, the one subprocess seam: `run` fails with the command, exit code and output;
`probe` returns the same failure as a reason; `uv()` is the one uv. Real programs, no fakes."""

from __future__ import annotations

import ast
import logging
import sys
from pathlib import Path

import pytest

from setup_poetry_parallel import process
from setup_poetry_parallel.errors import SetupError

SRC = Path(__file__).resolve().parents[1] / "src" / "setup_poetry_parallel"
PY = sys.executable


def test_run_returns_stdout_and_fails_with_command_exit_code_and_output() -> None:
    assert process.run([PY, "-c", "print('hi')"], what="saying hi") == "hi\n"
    with pytest.raises(SetupError, match=r"failing failed \(exit 1\): .* -c") as failed:
        process.run([PY, "-c", "import sys; print('out'); sys.exit('why: 3')"], what="failing")
    assert "why: 3" in failed.value.details
    with pytest.raises(SetupError, match="nothing failed: /nonexistent/x was not found"):
        process.run(["/nonexistent/x"], what="nothing")


@pytest.mark.parametrize(
    ("argv", "reason", "output"),
    [
        ([PY, "-c", "import sys; print('half'); sys.exit('it broke')"], "exit 1", "it broke"),
        (["/nonexistent/python"], "not found", ""),
        ([__file__], "could not be started (Permission denied)", ""),  # not +x
        ([PY, "-c", "import time; time.sleep(5)"], "no answer within 0 s", ""),
    ],
    ids=["exit", "missing", "not-executable", "timeout"],
)
def test_probe_returns_the_reason_instead_of_raising(
    argv: list[str], reason: str, output: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="setup_poetry_parallel.process"):
        answer = process.probe(argv, timeout=0.5)
    assert not answer.ok
    assert answer.reason == reason
    assert output in answer.output
    assert f"$ {argv[0]}" in caplog.text  # logged as every command is


def test_probe_returns_stdout_when_it_works() -> None:
    answer = process.probe([PY, "-c", "print('3.12.1')"], env={"PATH": ""})
    assert answer.ok
    assert answer.stdout == "3.12.1\n"


def test_uv_is_the_engines_uv() -> None:
    found = Path(process.uv())
    assert found.name in {"uv", "uv.exe"}
    assert found.is_file()


def test_no_module_finds_uv_by_itself() -> None:
    """One uv (#19): the installer, the interpreter search and the lock tools all ask
    process.uv; before, installer.py had its own (the engine's locked uv first) while
    interpreters.py and the lock tools called uv.find_uv_bin, which can pick a host's
    /usr/bin/uv over it (this check found all four)."""
    assert uv_lookups(ast.parse("import uv\nfrom uv import find_uv_bin\nuv.find_uv_bin()")) == [
        1,
        2,
        3,
    ]
    found = {
        module.name: lines
        for module in sorted(SRC.rglob("*.py"))
        if module.name != "process.py" and "poetry_plugin" not in module.parts
        if (lines := uv_lookups(ast.parse(module.read_text(encoding="utf-8"))))
    }
    assert not found, f"uv looked up outside process.uv: {found}"


def uv_lookups(tree: ast.AST) -> list[int]:
    """Lines that import the uv package or name find_uv_bin."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            named = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            named = [(node.module or "").split(".")[0]]
        else:
            named = [getattr(node, "attr", None) or getattr(node, "id", None) or ""]
        imports = isinstance(node, ast.Import | ast.ImportFrom)
        if (imports and "uv" in named) or "find_uv_bin" in named:
            lines.add(node.lineno)
    return sorted(lines)
