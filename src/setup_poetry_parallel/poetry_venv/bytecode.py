"""Bytecode for jobs that cannot write it (PYTHONDONTWRITEBYTECODE, set in many container
images; issue #21): what Poetry's usual commands import, compiled beside the build's check.

Such a job's Poetry never writes `__pycache__`, so a module without bytecode is compiled in
memory on every start that imports it. `uv pip install --compile-bytecode` compiled all
~1,410 modules of the venv (1.3 s on 2 cores) where `poetry --version` imports 600 and
`install`, `lock`, `add`... about 800 together: HOT_MODULES lists those 800 (paths under
site-packages, recorded by `main` below), and WORKERS processes compile the ones this venv
has while the check runs. Whatever the list misses (another Poetry line's new module, a
command outside it) is compiled in memory when imported, as a bare `uv pip install` leaves
everything; the check itself writes the bytecode of the plugins it loads (installer.VERIFY).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

HOT_MODULES: Final = Path(__file__).with_name("hot_modules.txt")
PLUGIN: Final = Path(__file__).parents[1] / "poetry_plugin"
WORKERS: Final = 2  # the hosted runners' cores; the check is the third process

# Compiles every count-th listed file from index on, under this interpreter's site-packages,
# skipping those with current bytecode (the check may have written it). Best effort: a module
# that does not compile fails at its import, as it would. Runs on Poetry's interpreter (3.9+).
COMPILE = r"""
import compileall, os, sys, sysconfig
listed, index, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
root = sysconfig.get_paths()["purelib"]
with open(listed, encoding="utf-8") as f:
    wanted = [line.strip() for line in f if line.strip() and not line.startswith("#")]
for name in wanted[index::count]:
    source = os.path.join(root, name)
    if os.path.isfile(source):
        compileall.compile_file(source, quiet=2)
"""


def compile_argvs(python: str, workers: int = WORKERS) -> list[list[str]]:
    """One command per worker, each compiling its share of HOT_MODULES."""
    script = [python, "-c", COMPILE, str(HOT_MODULES)]
    return [[*script, str(index), str(workers)] for index in range(workers)]


# --- Recording the list (a maintainer's tool, as lock_poetry.py is for the tables) ---

# What the record covers: Poetry's start and the commands a CI job runs.
COMMANDS: Final = (
    ("--version",),
    ("check",),
    ("lock",),
    ("install",),
    ("sync",),
    ("show",),
    ("env", "info"),
    ("run", "python", "-c", "pass"),
    ("add", "idna"),
    ("remove", "idna"),
    ("build",),
)

# Runs one Poetry command in-process and writes the .py files it imported from site-packages.
_PROBE = r"""
import atexit, json, os, sys, sysconfig
out, sys.argv = sys.argv[1], ["poetry", *sys.argv[2:]]
root = sysconfig.get_paths()["purelib"] + os.sep
files = set()
class Seen:  # every module found, also one whose import then fails (urllib3.contrib.socks)
    def find_spec(self, name, path=None, target=None):
        for finder in sys.meta_path[1:]:
            spec = finder.find_spec(name, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None:
                files.add(spec.origin or "")
                return spec
        return None
sys.meta_path.insert(0, Seen())
def dump():
    files.update(getattr(m, "__file__", None) or "" for m in list(sys.modules.values()))
    with open(out, "w") as f:
        json.dump(sorted(p[len(root):] for p in files if p.startswith(root) and p.endswith(".py")), f)
atexit.register(dump)
from poetry.console.application import main
sys.exit(main())
"""


def record(python: str, project: Path) -> list[str]:
    """The union of what COMMANDS import from Poetry's venv, run in `project` (a scratch
    project with a pyproject.toml: `add` and `remove` change it). A failing command still
    counts: what it imported up to the failure is what a job's run of it imports."""
    found: set[str] = set()
    with tempfile.TemporaryDirectory() as scratch:
        for index, command in enumerate(COMMANDS):
            out = Path(scratch) / f"{index}.json"
            argv = [python, "-c", _PROBE, str(out), *command]
            subprocess.run(argv, cwd=project, capture_output=True, check=False)
            if out.is_file():
                found.update(json.loads(out.read_text(encoding="utf-8")))
    return sorted(found)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m setup_poetry_parallel.poetry_venv.bytecode POETRY_PYTHON PROJECT`"""
    python, project = argv if argv is not None else sys.argv[1:]
    version = subprocess.run(
        [python, "-c", "import poetry.__version__ as v, sys; print(v.__version__, sys.version)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[:2]
    head = (
        f"# The site-packages files Poetry {version[0]} (Python {version[1]}) imports for"
        f" {', '.join(' '.join(c) for c in COMMANDS)}.\n# Generated, do not edit; regenerate"
        " with `python -m setup_poetry_parallel.poetry_venv.bytecode POETRY_PYTHON PROJECT`.\n"
    )
    # Our plugin's modules (the build installs its wheel; the recording venv need not have it).
    ours = [p.name for p in PLUGIN.glob("spp_*.py")]
    listed = sorted({*record(python, Path(project)), *ours})
    HOT_MODULES.write_text(head + "".join(f"{p}\n" for p in listed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
