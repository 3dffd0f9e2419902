"""The package's folders (#19): which folder may import which, start-up stays standard library
only, the root keeps only the entry points and what every folder uses, and the warm lane's
fingerprint covers every file of the engine wherever it lives."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from setup_poetry_parallel.startup import warm_lane

SRC = Path(__file__).resolve().parents[1] / "src" / "setup_poetry_parallel"
PACKAGE = "setup_poetry_parallel"

# Top to bottom: a folder imports only the folders below it (the root's modules are for all).
MAY_IMPORT: dict[str, set[str]] = {
    "disk": set(),  # atomic writes, locks, volume reads, trust checks
    "index": set(),  # the package index and the project's sources
    "poetry_venv": {"disk", "index"},  # what goes into Poetry's venv, and how
    "store": {"disk", "index", "poetry_venv"},  # the shared install store
    "jobs": {"disk", "store", "poetry_venv"},  # the job's own side
    "outputs": {"jobs", "store", "poetry_venv"},  # what later steps get
    # start-up: only modules whose own imports are the standard library (checked below)
    "startup": {"disk", "index", "jobs", "outputs"},
}
# The entry points (the action's bootstrap.py, the console script's cli.py, `python -m` of the
# lock tools, named in the tables' headers) and what every folder uses.
ROOT: set[str] = {
    "__init__", "__main__", "bootstrap", "cli", "engine", "lock_engine", "lock_poetry",
    "settings", "errors", "error_handler", "redaction", "paths", "path_errors", "process",
    "background", "interpreters",
    "console",  # the console script's entry: the warm lane first (stdlib only), then cli.py
}  # fmt: skip


def modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "poetry_plugin" not in p.parts)


def folder_of(path: Path) -> str | None:
    parts = path.relative_to(SRC).parts
    return parts[0] if len(parts) > 1 else None


def imported(tree: ast.AST, *, top_level_only: bool = False) -> list[str]:
    """Dotted names of what `tree` imports (`from a import b` gives a.b and a)."""
    nodes = tree.body if top_level_only and isinstance(tree, ast.Module) else ast.walk(tree)
    found: list[str] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def folder_imports(tree: ast.AST) -> set[str]:
    return {
        name.split(".")[1]
        for name in imported(tree)
        if name.startswith(f"{PACKAGE}.") and name.split(".")[1] in MAY_IMPORT
    }


@pytest.mark.parametrize("module", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_a_folder_imports_only_the_folders_below_it(module: Path) -> None:
    folder = folder_of(module)
    if folder is None:
        return
    used = folder_imports(ast.parse(module.read_text(encoding="utf-8"))) - {folder}
    assert used <= MAY_IMPORT[folder], (
        f"{module.relative_to(SRC)} imports {used - MAY_IMPORT[folder]}"
    )


def test_the_folder_check_catches_an_upward_import() -> None:
    planted = ast.parse("from setup_poetry_parallel.jobs import job\nimport os\n")
    assert folder_imports(planted) - MAY_IMPORT["store"] == {"jobs"}


def test_every_folder_is_known_and_the_root_holds_only_its_list() -> None:
    folders = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders - {"poetry_plugin"} == set(MAY_IMPORT)
    assert {p.stem for p in SRC.glob("*.py")} == ROOT


def _module_file(dotted: str) -> Path | None:
    relative = Path(*dotted.split(".")[1:])
    for candidate in (SRC / relative.with_suffix(".py"), SRC / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def startup_closure() -> tuple[set[str], set[str]]:
    """Every module of ours that start-up imports at module level, transitively, and every
    outside module any of them imports there."""
    todo = [SRC / "bootstrap.py", SRC / "console.py", *sorted((SRC / "startup").glob("*.py"))]
    ours: set[str] = set()
    outside: set[str] = set()
    while todo:
        path = todo.pop()
        if str(path) in ours:
            continue
        ours.add(str(path))
        for name in imported(ast.parse(path.read_text(encoding="utf-8")), top_level_only=True):
            if name.split(".")[0] != PACKAGE:
                outside.add(name.split(".")[0])
            elif (found := _module_file(name)) is not None:
                todo.append(found)
    return ours, outside


def test_startup_imports_the_standard_library_only() -> None:
    """bootstrap.py runs before the engine's dependencies exist: everything it imports at
    module level, through any module of ours, is the standard library."""
    ours, outside = startup_closure()
    assert str(SRC / "settings.py") in ours  # the closure follows our modules
    assert outside - set(sys.stdlib_module_names) == set()


def test_the_closure_would_catch_a_dependency() -> None:
    tree = ast.parse("import requests\nfrom packaging.version import Version\nimport os\n")
    names = {n.split(".")[0] for n in imported(tree, top_level_only=True)}
    assert names - set(sys.stdlib_module_names) == {"requests", "packaging"}


# --- the warm lane's fingerprint: every file of the engine --------------------------------


def tracked_package_files() -> set[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--", str(SRC)],
        cwd=SRC.parents[1],
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0 or not listed.stdout:
        pytest.skip("not a git checkout: the tracked files are unknown")
    return {str(SRC.parents[1] / line) for line in listed.stdout.splitlines()}


def test_the_fingerprint_covers_every_file_of_the_engine() -> None:
    """A module in a folder (at any depth) is fingerprinted: an updated engine never replays
    a record of the old one."""
    assert tracked_package_files() <= set(warm_lane.engine_files())


def test_the_one_level_scan_it_replaced_would_miss_a_deeper_file(tmp_path: Path) -> None:
    """The control: the stamp before #19 read the package and its direct subfolders only."""
    deep = tmp_path / "store" / "sub"
    deep.mkdir(parents=True)
    for path in (tmp_path / "a.py", tmp_path / "store" / "b.py", deep / "c.py"):
        path.write_text("x = 1\n", encoding="utf-8")
    (deep / "__pycache__").mkdir()
    (deep / "__pycache__" / "c.cpython-311.pyc").write_bytes(b"")

    def one_level(directory: str) -> list[str]:
        subdirs = [e.path for e in os.scandir(directory) if e.is_dir()]
        return [e.path for d in (directory, *subdirs) for e in os.scandir(d) if e.is_file()]

    assert str(deep / "c.py") not in one_level(str(tmp_path))
    assert sorted(warm_lane.engine_files(str(tmp_path))) == sorted(
        str(p) for p in (tmp_path / "a.py", tmp_path / "store" / "b.py", deep / "c.py")
    )
