"""The code's shape, checked: the environment is read in one place.

settings.py reads every variable once; the stdlib-only bootstrap (which runs before the engine
exists) may too. Everything else gets the settings object; `Settings.env` is only handed on to
the programs the engine starts. runner.py lends github-action-utils the runner files' paths
through os.environ (the library reads them there): a write, never a read.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "setup_poetry_parallel"
MAY_READ = {"settings.py", "bootstrap.py", "engine_deps.py"}
# (module, function): writes os.environ for a library that reads it, restores it after.
LENDS = {("runner.py", "_runner_files")}
# Where the raw environment is handed down to settings: nothing below takes one.
# job_ids.py and warm_lane.py run before settings exist: the warm lane derives the job dir and
# the fingerprint from the raw environment, as settings.py would, without importing the engine.
TAKES_ENVIRON = {
    "settings.py",
    "cli.py",
    "bootstrap.py",
    "defaults.py",  # the install and state dirs' defaults: settings, engine_deps, warm_lane
    "engine_deps.py",
    "job_ids.py",
    "sources.py",  # the credential variables of the sources settings reads, handed in by it
    "warm_lane.py",
}


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "poetry_plugin" not in p.parts)


def environ_uses(tree: ast.AST) -> list[tuple[str, int]]:
    """(enclosing function, line) of every os.environ / os.getenv / `from os import environ`."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and node.attr in {"environ", "environb", "getenv", "getenvb", "putenv"}
        ) or (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(a.name in {"environ", "getenv"} for a in node.names)
        ):
            found.append((function, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, "<module>")
    return found


def environ_parameters(tree: ast.AST) -> list[tuple[str, int]]:
    return [
        (node.name, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        and any(a.arg == "environ" for a in [*node.args.args, *node.args.kwonlyargs])
    ]


@pytest.mark.parametrize("module", _modules(), ids=lambda p: p.name)
def test_only_settings_reads_the_environment(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    uses = [
        (function, line)
        for function, line in environ_uses(tree)
        if module.name not in MAY_READ and (module.name, function) not in LENDS
    ]
    assert not uses, f"{module.name} reads the environment at {uses}: read it in settings.py"
    if module.name not in TAKES_ENVIRON:
        takers = environ_parameters(tree)
        assert not takers, f"{module.name} takes the raw environment at {takers}: pass Settings"


def test_the_check_catches_a_read() -> None:
    """The check itself can fail: a planted read anywhere below settings is found."""
    planted = ast.parse(
        "import os\ndef f():\n    return os.environ.get('X')\nfrom os import getenv\n"
    )
    assert environ_uses(planted) == [("f", 3), ("<module>", 4)]
    assert environ_parameters(ast.parse("def g(environ): pass")) == [("g", 1)]
