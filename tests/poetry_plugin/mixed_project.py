"""The fast-install tests' own project: every kind of dependency Poetry installs, on one index.

Index packages (a console script: tabulate; a compiled wheel: markupsafe; pure: six), one
package only on another Python than the env's and one only on the env's (markers), an extra
(`fancy`) and an extra nobody asks for, an optional group (`docs`, installed `--with docs`) and
one left out, a path dependency installed in develop mode and one copied, and a git dependency
from a local repository (file:// URL). Everything is made under one root at test time.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

GIT = (
    "git",
    "-c",
    "user.name=t",
    "-c",
    "user.email=t@example.invalid",
    "-c",
    "init.defaultBranch=main",
)
# The flags that select what the project's extras and groups add.
SELECT = ("--extras", "fancy", "--with", "docs")
# Dropped by the --sync test: an index package with a console script.
DROPPED = "tabulate"


def _package(root: Path, name: str) -> Path:
    """A minimal poetry-core package `name` 0.1.0 at `root`."""
    (root / "src" / name).mkdir(parents=True)
    (root / "src" / name / "__init__.py").write_text(f'NAME = "{name}"\n')
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [project]
            name = "{name}"
            version = "0.1.0"
            requires-python = ">=3.10"

            [tool.poetry]
            packages = [{{ include = "{name}", from = "src" }}]

            [build-system]
            requires = ["poetry-core>=2.0.0,<3.0.0"]
            build-backend = "poetry.core.masonry.api"
            """
        )
    )
    return root


def _git_repo(root: Path) -> str:
    """`localgit` committed in a local repository; its file:// URL."""
    _package(root, "localgit")
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "localgit 0.1.0"]):
        subprocess.run([*GIT, *command], cwd=root, check=True, capture_output=True)
    return root.as_uri()


def pyproject(index: str, git: str, env_minor: str, other_minor: str, *, drop: str = "") -> str:
    dependencies = [
        "six",
        "markupsafe",
        DROPPED,
        f"colorama ; python_version == '{other_minor}'",
        f"iniconfig ; python_version == '{env_minor}'",
        "localdev",
        "localcopy",
        "localgit",
    ]
    listed = "".join(f'    "{d}",\n' for d in dependencies if d != drop)
    return textwrap.dedent(
        f"""\
        [project]
        name = "mixed"
        version = "0.1.0"
        requires-python = ">=3.10"
        dependencies = [
        @DEPENDENCIES@]

        [project.optional-dependencies]
        fancy = ["idna"]
        unasked = ["packaging"]

        [tool.poetry]
        packages = [{{ include = "mixed", from = "src" }}]

        [tool.poetry.dependencies]
        localdev = {{ path = "../localdev", develop = true }}
        localcopy = {{ path = "../localcopy", develop = false }}
        localgit = {{ git = "{git}", branch = "main" }}

        [tool.poetry.group.docs]
        optional = true

        [tool.poetry.group.docs.dependencies]
        pyflakes = "*"

        [tool.poetry.group.lint]
        optional = true

        [tool.poetry.group.lint.dependencies]
        pycodestyle = "*"

        [[tool.poetry.source]]
        name = "loopback"
        url = "{index}"
        priority = "primary"

        [build-system]
        requires = ["poetry-core>=2.0.0,<3.0.0"]
        build-backend = "poetry.core.masonry.api"
        """
    ).replace("@DEPENDENCIES@", listed)


def make_mixed(root: Path, index: str, env_minor: str, other_minor: str) -> Path:
    """The project at `root/mixed`, its path dependencies beside it, its git one in `root/git`."""
    _package(root / "localdev", "localdev")
    _package(root / "localcopy", "localcopy")
    git = _git_repo(root / "git")
    project = root / "mixed"
    (project / "src" / "mixed").mkdir(parents=True)
    (project / "src" / "mixed" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(pyproject(index, git, env_minor, other_minor))
    return project
