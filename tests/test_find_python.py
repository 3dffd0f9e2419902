"""find_python.sh, the action's hunt for the engine's host Python, on a table of host layouts.

Each layout is built in a temp dir from stand-in interpreters: small scripts that answer the
script's one question (Python >= 3.11 with pip?) as the Python they stand for would. The script
runs for real under bash, with the runner's variables pointed at the layout.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "src" / "setup_poetry_parallel" / "find_python.sh"
GOOD, OLD, NO_PIP = "good", "old", "no-pip"


def fake_python(path: Path, kind: str) -> Path:
    """Exit 0 only for a Python >= 3.11 with pip, as the script's check would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n[ {kind} = {GOOD} ]\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def fake_launcher(bin_dir: Path, target: Path) -> None:
    """The Windows `py` launcher: `py -3 -c ...` prints the interpreter it starts."""
    launcher = bin_dir / "py"
    bin_dir.mkdir(parents=True, exist_ok=True)
    launcher.write_text(f"#!/bin/sh\necho '{target}'\n")
    launcher.chmod(0o755)


@dataclass(frozen=True)
class Layout:
    id: str
    system: dict[str, str] = field(default_factory=dict)  # host-wide path -> kind
    tool_cache: dict[str, str] = field(default_factory=dict)  # path under the tool cache -> kind
    on_path: dict[str, str] = field(default_factory=dict)  # name on PATH -> kind
    launcher: str | None = None  # kind of the Python `py -3` starts
    picks: str | None = None  # which one wins ("system:/usr/bin/python3", "tool:...", ...)
    warns: bool = False


LAYOUTS = [
    Layout(
        "system python new enough", system={"usr/bin/python3": GOOD}, picks="system:usr/bin/python3"
    ),
    Layout(
        "system too old, tool cache (Linux layout): newest wins",
        system={"usr/bin/python3": OLD},
        tool_cache={"Python/3.11.9/x64/bin/python3": GOOD, "Python/3.12.4/x64/bin/python3": GOOD},
        picks="tool:Python/3.12.4/x64/bin/python3",
    ),
    Layout(
        "only tool-cache Pythons (Windows layout)",
        tool_cache={"Python/3.12.4/x64/python.exe": GOOD, "Python/3.10.11/x64/python.exe": OLD},
        picks="tool:Python/3.12.4/x64/python.exe",
    ),
    Layout(
        "Homebrew (Apple silicon)",
        system={"usr/bin/python3": OLD, "opt/homebrew/bin/python3": GOOD},
        picks="system:opt/homebrew/bin/python3",
    ),
    Layout(
        "system python without pip",
        system={"usr/bin/python3": NO_PIP, "usr/local/bin/python3": GOOD},
        picks="system:usr/local/bin/python3",
    ),
    Layout("the Windows py launcher", launcher=GOOD, picks="launcher"),
    Layout(
        "only the job's python on PATH: used, with a warning",
        system={"usr/bin/python3": OLD},
        on_path={"python3": GOOD},
        picks="path:python3",
        warns=True,
    ),
    Layout(
        "nothing suitable",
        system={"usr/bin/python3": OLD},
        tool_cache={"Python/3.10.11/x64/bin/python3": OLD},
        on_path={"python3": OLD},
        launcher=OLD,
    ),
]

SYSTEM_ORDER = ("usr/bin/python3", "usr/local/bin/python3", "opt/homebrew/bin/python3")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash, as the action's step does")
@pytest.mark.parametrize("layout", LAYOUTS, ids=[layout.id for layout in LAYOUTS])
def test_host_layouts(layout: Layout, tmp_path: Path) -> None:
    root, cache, bin_dir = tmp_path / "host", tmp_path / "toolcache", tmp_path / "bin"
    bin_dir.mkdir()
    for rel, kind in layout.system.items():
        fake_python(root / rel, kind)
    for rel, kind in layout.tool_cache.items():
        fake_python(cache / rel, kind)
    for name, kind in layout.on_path.items():
        fake_python(bin_dir / name, kind)
    if layout.launcher:
        fake_launcher(bin_dir, fake_python(tmp_path / "launched" / "python.exe", layout.launcher))
    output = tmp_path / "github_output"
    output.write_text("")
    env = {
        # The script's tools, and no real python: only the layout's interpreters exist.
        "PATH": f"{bin_dir}:{_tools_without_python(tmp_path)}",
        "SPP_HOST_PYTHONS": " ".join(str(root / rel) for rel in SYSTEM_ORDER),
        "RUNNER_TOOL_CACHE": str(cache),
        "GITHUB_OUTPUT": str(output),
    }
    bash = shutil.which("bash") or "bash"
    done = subprocess.run([bash, str(SCRIPT)], env=env, capture_output=True, text=True, check=False)

    if layout.picks is None:
        assert done.returncode == 1, done
        assert "::error title=setup-poetry-parallel::the engine needs Python 3.11+" in done.stdout
        assert output.read_text() == ""
        return
    assert done.returncode == 0, done
    where, _, rel = layout.picks.partition(":")
    expected = {
        "system": lambda: root / rel,
        "tool": lambda: cache / rel,
        "path": lambda: bin_dir / rel,
        "launcher": lambda: tmp_path / "launched" / "python.exe",
    }[where]()
    assert output.read_text() == f"python={expected}\n"
    assert ("::warning" in done.stdout) == layout.warns, done.stdout


def _tools_without_python(tmp_path: Path) -> str:
    """A PATH dir with the tools the script uses, and no real python3 or py."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("ls", "sort", "sh", "bash"):
        if found := shutil.which(name):
            os.symlink(found, tools / name)
    return str(tools)
