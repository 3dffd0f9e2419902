"""Test projects and interpreters, shared by the tests, the demo and the benchmark."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

POETRY_VERSION = "2.5.1"
PLUGIN = "poetry-dynamic-versioning"
PYTHONS = ("3.10", "3.11", "3.12", "3.13")

# The package index here serves the simple API but not the per-version JSON API that Poetry's
# implicit PyPI source uses, so test projects name pip's default simple index explicitly.
# Real runners reach the full index; this stays in the tests.
SIMPLE_INDEX = "https://pypi.org/simple/"


def pyenv_root() -> str:
    if root := os.environ.get("PYENV_ROOT"):
        return root
    try:
        return subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return str(Path.home() / ".pyenv")


def python_path(minor: str) -> Path:
    """The pyenv interpreter for `3.X` (this machine keeps CPython 3.10-3.13 there)."""
    versions = sorted(Path(pyenv_root(), "versions").glob(f"{minor}.*"))
    if not versions:
        raise LookupError(f"no CPython {minor} under {pyenv_root()}/versions")
    return versions[-1] / "bin" / "python"


def make_project(
    root: Path,
    *,
    plugins: str = f'{PLUGIN} = {{ version = ">=1.0.0,<2.0.0", extras = ["plugin"] }}',
    dependencies: str = "",
    source: tuple[str, str] = ("simple", SIMPLE_INDEX),
) -> Path:
    """A Poetry project declaring `requires-plugins`, with one primary source (name, URL)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "src" / "sample").mkdir(parents=True, exist_ok=True)
    (root / "src" / "sample" / "__init__.py").write_text('__version__ = "0.0.0"\n')
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [project]
            name = "sample"
            version = "0.1.0"
            requires-python = ">=3.10"
            dependencies = [{dependencies}]

            [tool.poetry]
            packages = [{{ include = "sample", from = "src" }}]

            [tool.poetry.requires-plugins]
            {plugins}

            [[tool.poetry.source]]
            name = "{source[0]}"
            url = "{source[1]}"
            priority = "primary"

            [build-system]
            requires = ["poetry-core>=2.0.0,<3.0.0"]
            build-backend = "poetry.core.masonry.api"
            """
        )
    )
    return root
