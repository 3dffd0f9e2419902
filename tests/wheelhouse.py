"""A package index for hosts that cannot reach one: a wheelhouse and PEP 503 pages.

The wheels are fetched once with pip (through whatever index this session reaches, into a
temporary directory) and served by `python3 -m http.server` as `<root>/simple/<name>/` pages
whose links carry each file's sha256, as a company's internal mirror would.
"""

from __future__ import annotations

import hashlib
import html
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from setup_poetry_parallel.index.simple_index import canonical
from tests.projects import PLUGIN, POETRY_VERSION

LOCKS = Path(__file__).resolve().parents[1] / "src" / "setup_poetry_parallel" / "locks"


def download(wheels: Path, python: str = sys.executable) -> None:
    """Poetry, its dependencies (its lock file too, where the engine pins one) and the plugin,
    as wheels for `python`'s platform."""
    base = [python, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    base += ["--dest", str(wheels), "--only-binary=:all:"]
    requirements = [f"poetry=={POETRY_VERSION}", f"{PLUGIN}[plugin]>=1.0.0,<2.0.0"]
    subprocess.run([*base, *requirements], check=True, capture_output=True, text=True)
    lock = LOCKS / f"poetry-{POETRY_VERSION}.txt"
    if lock.is_file():  # pinned versions the engine may ask for; hashes make it a run of its own
        subprocess.run([*base, "-r", str(lock)], check=True, capture_output=True, text=True)


def write_pages(root: Path, wheels: Path) -> None:
    """`root/simple/index.html` and one page per project linking `root/wheels/<file>`."""
    by_project: dict[str, list[Path]] = defaultdict(list)
    for wheel in sorted(wheels.glob("*.whl")):
        by_project[canonical(wheel.name.split("-")[0])].append(wheel)
    simple = root / "simple"
    simple.mkdir(parents=True, exist_ok=True)
    links = [f'<a href="{name}/">{name}</a><br>' for name in sorted(by_project)]
    (simple / "index.html").write_text(_page("Simple index", links))
    for name, files in by_project.items():
        lines = []
        for wheel in files:
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            href = f"../../{wheels.name}/{wheel.name}#sha256={digest}"
            lines.append(f'<a href="{html.escape(href)}">{html.escape(wheel.name)}</a><br>')
        (simple / name).mkdir(exist_ok=True)
        (simple / name / "index.html").write_text(_page(f"Links for {name}", lines))


def _page(title: str, lines: list[str]) -> str:
    body = "\n".join(lines)
    return f"<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>\n{body}\n</body></html>\n"


def build(root: Path) -> Path:
    """The whole index under `root` (wheels in `root/wheels`); returns `root`."""
    download(root / "wheels")
    write_pages(root, root / "wheels")
    return root
