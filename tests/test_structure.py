"""The code's shape, checked: the environment is read in one place, each variable in one
module, dead code fails lint, and a `real` test is where its marker says.

settings.py reads every variable once; the stdlib-only bootstrap (which runs before the engine
exists) may too. Everything else gets the settings object; `Settings.env` is only handed on to
the programs the engine starts (nothing lends a library the environment since #19: the
runner's files are written by runner_files.py, which takes their paths). The Poetry plugin
(poetry_plugin/) runs inside Poetry, with Poetry's environment: it is not checked here.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "setup_poetry_parallel"
# console.py: the console script's entry, which hands the warm lane os.environ as bootstrap.py does
MAY_READ = {"settings.py", "bootstrap.py", "engine_deps.py", "console.py"}
# (module, function): writes os.environ for a library that reads it, restores it after. None
# since runner.py stopped lending github-action-utils the runner files' paths (#19).
LENDS: set[tuple[str, str]] = set()
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


# Every variable is read in one module. These are read in more than one: a rule with several
# homes each, listed so that the list only shrinks (the check is exact: a module that stops
# reading one fails until its entry goes too). The warm lane and job_ids run before settings
# exist (stdlib only, within the warm lane's import budget) and derive from the same variables
# what settings derives; engine_deps finds the install dir before the engine is installed.
SHARED_READS: dict[str, set[str]] = {
    "GITHUB_ACTIONS": {"job_ids.py", "settings.py", "warm_lane.py"},
    "INPUT_INSTALL_DIR": {"engine_deps.py", "settings.py", "warm_lane.py"},
    "INPUT_WORKING_DIRECTORY": {"engine_deps.py", "settings.py", "warm_lane.py"},
    "INPUT_JOB_ID": {"settings.py", "warm_lane.py"},
    "INPUT_PYTHON_VERSION": {"settings.py", "warm_lane.py"},
    "INPUT_STATE_DIR": {"settings.py", "warm_lane.py"},
    "PATH": {"settings.py", "warm_lane.py"},
    "SPP_TEST_PAUSE_AT": {"settings.py", "warm_lane.py"},
    # ~/.netrc's home: settings reads the rest of the index's variables (sources.netrc_login).
    "HOME": {"settings.py", "sources.py"},
    # defaults.py derives the state and install dirs from them (for settings and the warm lane);
    # job_ids names a job by its runner's temp dir, settings finds interpreters in the tool cache.
    "RUNNER_TEMP": {"defaults.py", "job_ids.py"},
    "RUNNER_TOOL_CACHE": {"defaults.py", "settings.py"},
}


def _is_environment(node: ast.expr) -> bool:
    """os.environ, or a parameter that holds the raw environment (named `environ`)."""
    return (isinstance(node, ast.Name) and node.id == "environ") or (
        isinstance(node, ast.Attribute) and node.attr == "environ"
    )


def _string_tuples(tree: ast.Module) -> dict[str, tuple[str, ...]]:
    """Module-level tuples of variable names: `RUNNER_FILES: Final = ("GITHUB_ENV", ...)`."""
    found: dict[str, tuple[str, ...]] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if not (isinstance(target, ast.Name) and isinstance(value, ast.Tuple)):
            continue
        names = [e.value for e in value.elts if isinstance(e, ast.Constant)]
        if names and len(names) == len(value.elts) and all(isinstance(n, str) for n in names):
            found[target.id] = tuple(names)
    return found


def _looped(scope: ast.AST, tuples: dict[str, tuple[str, ...]]) -> dict[str, set[str]]:
    """Names bound by `for name in A_TUPLE` (statements and comprehensions) within a scope."""
    looped: dict[str, set[str]] = {}
    for node in ast.walk(scope):
        if (
            isinstance(node, ast.For | ast.comprehension)
            and isinstance(node.target, ast.Name)
            and isinstance(node.iter, ast.Name)
            and node.iter.id in tuples
        ):
            looped.setdefault(node.target.id, set()).update(tuples[node.iter.id])
    return looped


def _keys(key: ast.expr, looped: dict[str, set[str]]) -> set[str]:
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return {key.value}
    if isinstance(key, ast.Name):
        return looped.get(key.id, set())
    if isinstance(key, ast.JoinedStr) and key.values and isinstance(key.values[0], ast.Constant):
        return {f"{key.values[0].value}*"}  # f"INPUT_{name}": every INPUT_ variable
    return set()


def variables_read(tree: ast.Module, skip: frozenset[str] = frozenset()) -> set[str]:
    """The variables a module reads: `environ[K]`, `environ.get(K)`, `os.getenv(K)` and
    `K in environ`, on os.environ or a raw environment handed in, outside the functions in
    `skip`. K is a string, a name looped over a module-level tuple of strings, or an f-string
    whose constant head makes a prefix (`INPUT_*`); other keys are not followed."""
    tuples = _string_tuples(tree)
    found: set[str] = set()

    def visit(node: ast.AST, looped: dict[str, set[str]]) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name in skip:
                return
            looped = _looped(node, tuples)
        key: ast.expr | None = None
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            key = node.slice if _is_environment(node.value) else None
        elif isinstance(node, ast.Call) and node.args:
            function = node.func
            getter = isinstance(function, ast.Attribute) and (
                (function.attr == "get" and _is_environment(function.value))
                or function.attr == "getenv"
            )
            if getter or (isinstance(function, ast.Name) and function.id == "getenv"):
                key = node.args[0]
        elif (
            isinstance(node, ast.Compare)
            and isinstance(node.ops[0], ast.In | ast.NotIn)
            and _is_environment(node.comparators[0])
        ):
            key = node.left
        if key is not None:
            found.update(_keys(key, looped))
        for child in ast.iter_child_nodes(node):
            visit(child, looped)

    visit(tree, _looped(tree, tuples))
    return found


def readers(modules: dict[str, ast.Module]) -> dict[str, set[str]]:
    """Each variable read in more than one module, with its readers (a prefix read such as
    `INPUT_*` counts as a read of every variable it covers)."""
    read: dict[str, set[str]] = {}
    for name, tree in modules.items():
        skip = frozenset(function for module, function in LENDS if module == name)
        for variable in variables_read(tree, skip):
            read.setdefault(variable, set()).add(name)
    shared: dict[str, set[str]] = {}
    for variable, modules_reading in read.items():
        everyone = set(modules_reading)
        if not variable.endswith("*"):
            for prefix, prefix_readers in read.items():
                if prefix.endswith("*") and variable.startswith(prefix[:-1]):
                    everyone |= prefix_readers
        if len(everyone) > 1:
            shared[variable] = everyone
    return shared


def _parsed() -> dict[str, ast.Module]:
    return {p.name: ast.parse(p.read_text(encoding="utf-8")) for p in _modules()}


def test_each_variable_is_read_in_one_module() -> None:
    found = readers(_parsed())
    unlisted = {v: sorted(m) for v, m in found.items() if v not in SHARED_READS}
    assert not unlisted, f"read in more than one module: {unlisted}: read each in one module"
    changed = {v: sorted(found.get(v, set())) for v, m in SHARED_READS.items() if found.get(v) != m}
    assert not changed, f"SHARED_READS is out of date, now read by: {changed}: update it"


def test_the_check_catches_a_second_reader() -> None:
    """Control: a module planted beside the real ones that reads what settings reads (by
    name, through a tuple of names, or under a prefix settings reads) is reported with it."""
    planted = ast.parse(
        "import os\n"
        'NAMES = ("UV_HTTP_TIMEOUT", "NOT_READ_ELSEWHERE")\n'
        "def f(environ, name):\n"
        '    debug = os.environ.get("RUNNER_DEBUG")\n'
        "    found = [environ[n] for n in NAMES if n in environ]\n"
        '    return os.getenv("INPUT_NEW_ONE"), environ.get(name), debug, found\n'
    )
    assert variables_read(planted) == {
        "RUNNER_DEBUG",
        "UV_HTTP_TIMEOUT",
        "NOT_READ_ELSEWHERE",
        "INPUT_NEW_ONE",
    }
    found = readers({**_parsed(), "planted.py": planted})
    assert found["RUNNER_DEBUG"] == {"settings.py", "planted.py"}
    assert found["UV_HTTP_TIMEOUT"] == {"settings.py", "planted.py"}
    assert found["INPUT_NEW_ONE"] == {"settings.py", "planted.py"}  # settings reads INPUT_*
    assert "NOT_READ_ELSEWHERE" not in found
    # A write (as runner.py lent the runner files to a library before #19) is not a read.
    lent = ast.parse("import os\ndef g():\n    os.environ['GITHUB_ENV'] = 'x'\n")
    assert variables_read(lent) == set()


TESTS = Path(__file__).resolve().parent
# A `real` test lives in a `*_real.py` file (conftest.py marks all of those `real`), or its file
# is here with the reason. Files whose every test is real get the suffix when the tests move
# into folders mirroring the package.
REAL_ELSEWHERE: dict[str, str] = {
    "test_faults.py": "every test real: SIGKILLs real builds at each stage",
    "test_security.py": "every test real: attacks on real installs",
    "test_sharedfs.py": "every test real (and sharedfs): Poetry on real network filesystems",
    "test_real_projects.py": "every test real: two real projects' own suites",
    "test_release.py": "builds the package (real) beside quick checks of its metadata",
    "test_warm_lane.py": "replays a real engine's record beside the lane's quick checks",
}


def real_marks(tree: ast.AST) -> list[int]:
    """Lines that name `pytest.mark.real` (a decorator, `pytestmark`, a param's marks)."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "real"
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "mark"
    ]


def test_a_real_test_lives_in_a_real_file_or_is_listed() -> None:
    marking = {
        p.name for p in TESTS.rglob("test_*.py") if real_marks(ast.parse(p.read_text("utf-8")))
    }
    stray = sorted(n for n in marking if not n.endswith("_real.py") and n not in REAL_ELSEWHERE)
    assert not stray, f"{stray} mark tests real: move them to a *_real.py file or list the file"
    stale = sorted(set(REAL_ELSEWHERE) - marking)
    assert not stale, f"{stale} are listed in REAL_ELSEWHERE but mark no test real: unlist them"


def test_real_marks_are_found() -> None:
    """Control: each way of marking a test real is seen."""
    planted = ast.parse(
        "import pytest\n"
        "pytestmark = [pytest.mark.real, pytest.mark.network]\n"
        "@pytest.mark.real\n"
        "def test_a(): pass\n"
        "P = [pytest.param(1, marks=pytest.mark.real)]\n"
        "other = pytest.mark.network\n"
    )
    assert sorted(real_marks(planted)) == [2, 3, 5]


def test_every_test_in_a_real_file_is_marked_real(tmp_path: Path) -> None:
    """Control, end to end: beside tests/conftest.py, an unmarked test in a `*_real.py` file is
    deselected by the quick loop's `-m "not real"`; one in another file is not."""
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_planted_real.py").write_text("def test_slow():\n    pass\n")
    (tmp_path / "test_planted.py").write_text("def test_quick():\n    pass\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers = real: a real test\n")
    collect = ["--collect-only", "-q", "-p", "no:cacheprovider", "-m", "not real"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *collect, "--strict-markers", str(tmp_path)],
        cwd=TESTS.parent,  # conftest.py imports tests.projects
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},  # a second quicker
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_planted.py::test_quick" in result.stdout
    assert "test_slow" not in result.stdout
    assert "1/2 tests collected (1 deselected)" in result.stdout


def test_the_dead_code_gate_fails_on_an_unused_function(tmp_path: Path) -> None:
    """Control for `./dev lint`'s vulture run (config from pyproject.toml): a function nothing
    calls, planted beside the package, fails it; a called one beside it does not."""
    planted = tmp_path / "planted.py"
    planted.write_text("def never_called():\n    pass\n\n\ndef called():\n    pass\n\n\ncalled()\n")
    root = TESTS.parent
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vulture",
            str(SRC),
            str(root / "vulture_allowlist.py"),
            str(planted),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 3, result.stdout + result.stderr  # vulture: dead code found
    assert f"{planted}:1: unused function 'never_called' (60% confidence)" in result.stdout
    assert "'called'" not in result.stdout
