"""Maintenance: add a Poetry release to the locked table.

    python -m setup_poetry_parallel.lock_poetry 2.6.0 [2.6.1 ...] [--exclude-newer TIME]

resolves `poetry==X.Y.Z` with uv's universal resolution (every OS, architecture and Python the
release supports: one file with environment markers, not one per platform) and writes it with
the sha256 of every file of every package to `locks/poetry-X.Y.Z.txt`. The index is the one
the engine uses (UV_DEFAULT_INDEX, ...). `--exclude-newer` (default: now) is recorded in the
file's header, so rerunning the printed command reproduces the file byte for byte.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from setup_poetry_parallel import poetry_deps, process, release_files
from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.settings import Index, current_environment, read_index


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
    p.add_argument("--locks-dir", type=Path, default=poetry_deps.LOCKS, help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    when = args.exclude_newer or _now()
    environ = current_environment()
    index = read_index(environ)
    try:
        for version in args.versions:
            path = write(version, when, index, {**environ, **index.uv_env}, args.locks_dir)
            print(path)
    except SetupError as exc:
        print(f"error: {exc}{chr(10) + exc.details if exc.details else ''}", file=sys.stderr)
        return 1
    return 0


def write(version: str, when: str, index: Index, env: dict[str, str], locks: Path) -> Path:
    """Resolve `poetry==version` for every platform as of `when`; write and return its lock."""
    files = release_files.read("poetry", version, index)
    minimum = minimum_python(files.requires_python or ">=3.9")
    with tempfile.TemporaryDirectory() as tmp:
        request = Path(tmp) / "poetry.in"
        request.write_text(f"poetry=={version}\n", encoding="utf-8")
        locked = process.run(
            [*compile_argv(minimum, when), str(request)],
            env=env,
            what=f"resolving Poetry {version}'s dependencies",
        )
    path = locks / poetry_deps.lock_name(version)
    path.write_text(header(version, minimum, when) + locked, encoding="utf-8")
    return path


def compile_argv(minimum: str, when: str) -> list[str]:
    from uv import find_uv_bin

    return [
        find_uv_bin(),
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


def header(version: str, minimum: str, when: str) -> str:
    return (
        f"# Poetry {version} and its dependencies: every platform, Python {minimum} and newer,\n"
        f"# as the index had them at {when}. Generated, do not edit; regenerate with\n"
        f"#   python -m setup_poetry_parallel.lock_poetry {version} --exclude-newer {when}\n"
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
