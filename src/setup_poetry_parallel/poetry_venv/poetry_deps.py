"""Poetry's own dependencies: the locked table shipped in `locks/`, or what stands in for it.

`poetry-dependencies: locked` (the default) installs a release that the table has with exactly
its versions, every file checked against the table's sha256 hashes. For a release the table
lacks, it resolves Poetry's dependencies as the index had them when that release was uploaded
(uv's `--exclude-newer`): the set the release was published and tested with, the same on every
day, without hashes; the log says so. `latest` resolves them afresh (newest allowed).

The choice is one string in the install spec, so it is part of the install key: a changed
table file is a new install.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from packaging.version import Version

if TYPE_CHECKING:
    from setup_poetry_parallel.settings import PoetryDependencies

log = logging.getLogger(__name__)

LOCKS: Final = Path(__file__).parents[1] / "locks"
LATEST: Final = "latest"
RELEASE_DATE: Final = "release-date"
LOCKED: Final = "locked sha256:"  # + the table file's digest

Kind = Literal["locked", "release-date", "latest"]


def lock_name(version: str) -> str:
    return f"poetry-{version}.txt"


def lock_path(version: str) -> Path | None:
    path = LOCKS / lock_name(version)
    return path if path.is_file() else None


def locked_releases() -> list[str]:
    names = (
        p.name.removeprefix("poetry-").removesuffix(".txt") for p in LOCKS.glob("poetry-*.txt")
    )
    return sorted(names, key=Version)


def choose(mode: PoetryDependencies, version: str) -> str:
    """What the install spec (and key) records for Poetry's dependencies; logs the choice."""
    if mode == "latest":
        log.info("poetry-dependencies: latest: Poetry %s's dependencies resolved afresh", version)
        return LATEST
    path = lock_path(version)
    if path is None:
        log.warning(
            "Poetry %s is not in the locked table (%s): installing its dependencies as the index"
            " had them when %s was released, without hash checking; pin a locked release for"
            " a hash-checked install",
            version,
            ", ".join(locked_releases()),
            version,
        )
        return RELEASE_DATE
    return LOCKED + hashlib.sha256(path.read_bytes()).hexdigest()


def kind(dependencies: str) -> Kind:
    if dependencies.startswith(LOCKED):
        return "locked"
    return "release-date" if dependencies == RELEASE_DATE else "latest"


def pins(lock: str) -> str:
    """The table's `name==version ; marker` lines without their hashes (pip's constraints)."""
    joined = lock.replace("\\\n", " ")
    lines = (re.sub(r"\s*--hash=\S+", "", line).rstrip() for line in joined.splitlines())
    return "".join(f"{line}\n" for line in lines if line and not line.startswith("#"))


def poetry_first(lock: str) -> str:
    """The table with Poetry's own entry first: pip fetches in this order, so an index it
    cannot reach is reported for `poetry==X`, not for whichever dependency sorts first."""
    entries = re.split(r"\n(?=\S)", lock.strip("\n"))
    body = [e for e in entries if not e.startswith("#")]
    first = [e for e in body if e.startswith("poetry==")]
    return "".join(f"{e}\n" for e in [*first, *(e for e in body if e not in first)])
