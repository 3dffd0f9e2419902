"""The install key: two installs share a directory only when nothing that matters differs."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from setup_poetry_parallel.redaction import public


@dataclass(frozen=True)
class InstallSpec:
    poetry_version: str
    requirements: tuple[str, ...]  # project plugins then `plugins`, as PEP 508 strings
    python: str  # resolved path of the interpreter that runs Poetry
    python_version: str  # its full version, e.g. 3.11.7
    installer: str
    platform: str  # sys.platform + machine: a venv is not portable across them
    plugin_wheel: str  # our cache plugin's version (source hash)
    # Poetry's own dependencies (poetry_deps.choose): "locked sha256:<the table file's digest>",
    # "release-date" or "latest". A changed table is a new install.
    dependencies: str
    # Where the requirements come from, first to last ("<name> <priority> <URL>", never the
    # credentials), and the requirements pinned to one source by name: the same plugin name
    # from another index is another install.
    indexes: tuple[str, ...] = ()
    sourced: tuple[tuple[str, str], ...] = ()  # (requirement, uv index name)

    @property
    def pinned(self) -> tuple[str, ...]:
        """Everything installed into Poetry's venv, Poetry first, in one resolution."""
        return (f"poetry=={self.poetry_version}", *self.requirements)


def install_key(spec: InstallSpec) -> str:
    """Readable prefix for people, hash of the whole spec for correctness."""
    # Requirements without the userinfo of their URLs: the key names a directory anyone who
    # can list the install dir sees, and an unsalted hash of a token can be checked against a
    # guess offline. Two tokens for one URL are one install: the URL, not who fetched it,
    # decides what is built.
    requirements = sorted(public(r) for r in spec.requirements)
    payload = json.dumps({**spec.__dict__, "requirements": requirements}, sort_keys=True)
    digest = hashlib.sha256(payload.encode()).hexdigest()[:16]
    minor = ".".join(spec.python_version.split(".")[:2])
    return f"poetry-{_safe(spec.poetry_version)}-py{minor}-{spec.installer}-{digest}"


def merge_requirements(project: Sequence[str], extra: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*project, *extra]))


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text)
