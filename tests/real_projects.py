"""Real Poetry 2 projects written by others, pinned by release and sha256.

Nothing of theirs is committed here: the test downloads the pinned sdist from the package index
at run time, checks its sha256 and extracts it into a temporary directory. Each entry says why it
was chosen. Both licenses allow redistribution; we redistribute nothing.

Both are by one author (Kenneth J. Pronovici). Few maintained projects publish an sdist that holds
their tests and declares `requires-plugins`; his do, and each pin is that project's last release
built with Poetry (the next ones moved to uv and hatchling).
"""

from __future__ import annotations

import hashlib
import re
import tarfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.projects import SIMPLE_INDEX


@dataclass(frozen=True)
class RealProject:
    name: str
    version: str
    sha256: str
    license: str
    repository: str
    tests: str  # their test suite, relative to the project root
    why: str

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}.tar.gz"


UCIPARSE = RealProject(
    name="uciparse",
    version="0.2.0",
    sha256="1e6ee0cd84b8612c5c47fd3835e831fdbd5b1e33f3a30afd1085991023ce1b81",
    license="Apache-2.0",
    repository="https://github.com/pronovic/uci-parse",
    tests="src/tests",
    why=(
        "A maintained library whose Poetry 2 release declares poetry-dynamic-versioning in "
        "[tool.poetry.requires-plugins] (with `requires-poetry`), ships its tests and fixtures in "
        "the sdist, and has no runtime dependencies: the smallest real project with the plugin "
        "setup of the original report. Its CI (pronovic/gha-shared-workflows, "
        "poetry-build-and-test) is a Python-version matrix running `poetry install` and pytest."
    ),
)

APOLOGIES = RealProject(
    name="apologies",
    version="0.3.0",
    sha256="74992d955d08c7b814b303549ac2ef0c3872658acfd933eaa1b87c69e00e0819",
    license="Apache-2.0",
    repository="https://github.com/pronovic/apologies",
    tests="src/tests",
    why=(
        "A game engine with runtime dependencies (attrs, cattrs, arrow) and 139 tests that take "
        "seconds, so each job installs a real dependency tree for its own Python; the same "
        "requires-plugins and the same matrix CI as uciparse. It is run the way that CI runs "
        "Poetry: pipx on the matrix Python, so Poetry itself runs on four interpreters, which is "
        "the case where jobs thrash a shared `.poetry/plugins`."
    ),
)


def fetch(project: RealProject, where: Path) -> Path:
    """Download the pinned sdist from the simple index, check its sha256, extract it, and
    return the project root (`<where>/<name>-<version>`)."""
    page = requests.get(f"{SIMPLE_INDEX}{project.name}/", timeout=60)
    page.raise_for_status()
    links = re.findall(rf'href="([^"#]+/{re.escape(project.filename)})[#"]', page.text)
    if not links:
        raise LookupError(f"{project.filename} is not on {SIMPLE_INDEX}{project.name}/")
    archive = where / project.filename
    response = requests.get(links[0], timeout=120)
    response.raise_for_status()
    archive.write_bytes(response.content)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != project.sha256:
        raise ValueError(f"{project.filename}: sha256 {digest}, pinned {project.sha256}")
    with tarfile.open(archive) as tar:
        tar.extractall(where, filter="data")
    return where / f"{project.name}-{project.version}"


def adapt_to_this_index(root: Path) -> None:
    """Test-environment adaptation only: the index reachable here lacks the per-version JSON API
    that Poetry's implicit PyPI source needs, so the copy names the simple index as its primary
    source. Real runners reach the full index and run the project unchanged."""
    with (root / "pyproject.toml").open("a") as pyproject:
        pyproject.write(
            textwrap.dedent(
                f"""
                [[tool.poetry.source]]
                name = "simple"
                url = "{SIMPLE_INDEX}"
                priority = "primary"
                """
            )
        )
