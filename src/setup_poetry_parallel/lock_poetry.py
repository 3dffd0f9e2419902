"""Maintenance: add a Poetry release to the locked table.

    python -m setup_poetry_parallel.lock_poetry 2.6.0 [2.6.1 ...] [--exclude-newer TIME]
        [--constraint SPEC ...]

resolves `poetry==X.Y.Z` with uv's universal resolution (every OS, architecture and Python the
release supports: one file with environment markers, not one per platform) and writes it with
the sha256 of every file of every package to `locks/poetry-X.Y.Z.txt`. The index is the one
the engine uses (UV_DEFAULT_INDEX, ...). `--exclude-newer` (default: now) is recorded in the
file's header, so rerunning the printed command reproduces the file byte for byte.

A release that upstream later fixed by capping one of its dependencies (KNOWN_BREAKAGES) is
resolved with that cap as a constraint, in the same resolution; `--constraint` adds more for
every release given. The header's command names every constraint the file was resolved with.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from setup_poetry_parallel import process
from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.index import release_files
from setup_poetry_parallel.poetry_venv import poetry_deps
from setup_poetry_parallel.settings import Index, current_environment, read_index

# Constraints that upstream added in a later release for a breakage the newest dependencies
# cause in an older one: the table for that older release is resolved with them too.
KNOWN_BREAKAGES: Final[dict[str, tuple[str, ...]]] = {
    # virtualenv 20.33 ignores `--try-first-with`, with which Poetry 2.0 passes the project
    # env's interpreter: the env named `-py3.12` gets Poetry's own Python, with `poetry env
    # use` too (python-poetry/poetry#10490). Poetry 2.1.4 caps `virtualenv<20.33` (#10491);
    # 2.2 passes `--python` instead (#10506).
    "2.0.1": ("virtualenv<20.33",),
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m setup_poetry_parallel.lock_poetry",
        description="Lock Poetry releases' dependencies, with hashes, for every platform.",
    )
    p.add_argument("versions", nargs="+", metavar="X.Y.Z", help="exact Poetry releases")
    p.add_argument(
        "--exclude-newer",
        default="",
        metavar="TIME",
        help="ignore files uploaded after this RFC 3339 time (default: now)",
    )
    p.add_argument(
        "--constraint",
        action="append",
        default=[],
        metavar="SPEC",
        help="a constraint for every release given, besides the known ones (repeatable)",
    )
    p.add_argument("--locks-dir", type=Path, default=poetry_deps.LOCKS, help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    when = args.exclude_newer or _now()
    environ = current_environment()
    index = read_index(environ)
    try:
        for version in args.versions:
            extra = constraints(version, args.constraint)
            env = {**environ, **index.uv_env}
            path = write(version, when, index, env, args.locks_dir, extra=extra)
            print(path)
    except SetupError as exc:
        print(f"error: {exc}{chr(10) + exc.details if exc.details else ''}", file=sys.stderr)
        return 1
    return 0


def constraints(version: str, given: Sequence[str] = ()) -> tuple[str, ...]:
    """The release's known constraints, then the given ones, each once."""
    return tuple(dict.fromkeys([*KNOWN_BREAKAGES.get(version, ()), *given]))


def write(
    version: str,
    when: str,
    index: Index,
    env: dict[str, str],
    locks: Path,
    *,
    extra: Sequence[str] = (),
) -> Path:
    """Resolve `poetry==version` (within `extra`) for every platform as of `when`; write and
    return its lock."""
    files = release_files.read("poetry", version, index)
    minimum = minimum_python(files.requires_python or ">=3.9")
    with tempfile.TemporaryDirectory() as tmp:
        request = Path(tmp) / "poetry.in"
        request.write_text(f"poetry=={version}\n", encoding="utf-8")
        argv = compile_argv(minimum, when)
        if extra:
            constraint = Path(tmp) / "constraints.txt"
            constraint.write_text("".join(f"{spec}\n" for spec in extra), encoding="utf-8")
            argv += ["--constraint", str(constraint)]
        locked = process.run(
            [*argv, str(request)],
            env=env,
            what=f"resolving Poetry {version}'s dependencies",
        )
    path = locks / poetry_deps.lock_name(version)
    path.write_text(header(version, minimum, when, extra) + locked, encoding="utf-8")
    return path


def compile_argv(minimum: str, when: str) -> list[str]:
    from setup_poetry_parallel.process import uv  # the engine's uv, so the table is its view

    return [
        uv(),
        "pip",
        "compile",
        "--quiet",
        "--universal",  # one resolution for every platform, with markers where they differ
        "--python-version",
        minimum,  # universal resolution covers this Python and every newer one
        "--generate-hashes",
        "--exclude-newer",
        when,
        "--no-header",
        "--no-annotate",
    ]


def header(version: str, minimum: str, when: str, extra: Sequence[str] = ()) -> str:
    options = "".join(f" --constraint {shlex.quote(spec)}" for spec in extra)
    return (
        f"# Poetry {version} and its dependencies: every platform, Python {minimum} and newer,\n"
        f"# as the index had them at {when}. Generated, do not edit; regenerate with\n"
        f"#   python -m setup_poetry_parallel.lock_poetry {version} --exclude-newer {when}"
        f"{options}\n"
    )


def minimum_python(requires_python: str) -> str:
    """The oldest 3.X that `requires_python` allows (universal resolution starts there)."""
    allowed = SpecifierSet(requires_python)
    for minor in range(8, 40):
        if allowed.contains(Version(f"3.{minor}.99")):
            return f"3.{minor}"
    raise SetupError(f"requires-python {requires_python!r} allows no Python 3 release")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


if __name__ == "__main__":
    sys.exit(main())
