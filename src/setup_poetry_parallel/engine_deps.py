"""The engine's dependencies, then the engine: bootstrap.py's full path.

Standard library only, because it installs the engine's dependencies: once per host and
dependency set, into `<install-dir>/engine/<hash>`, laid out as `pip install --target` does
(relocatable, so it is built in a scratch directory and renamed into place: a job that dies
half way leaves only scratch). The fast path fetches the locked wheels of `locks/engine.json`
itself and unpacks them (fetch_wheels.py); where it cannot (no uv wheel for the platform, an
index without the files, a failed download) it says so in one line and runs pip as before.
A file whose sha256 differs from the table stops the bootstrap: no path installs it.
Jobs starting together wait on one lock; later jobs find the directory and start at once.
The job's own Python environment is never touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

from setup_poetry_parallel import fetch_wheels  # stdlib only, like this module
from setup_poetry_parallel.settings import read_index  # stdlib only too

SRC = Path(__file__).resolve().parents[1]
ROOT = SRC.parent


def dependencies() -> list[str]:
    import tomllib  # here, so that Python < 3.11 reaches main's message

    with open(ROOT / "pyproject.toml", "rb") as handle:
        return list(tomllib.load(handle)["project"]["dependencies"])


def engine_dir(install_dir: Path, deps: list[str], lock: bytes) -> Path:
    """One directory per interpreter, platform, dependency set and locked table."""
    tag = f"{sys.implementation.cache_tag}-{sysconfig.get_platform()}"
    lines = [tag, *sorted(deps), hashlib.sha256(lock).hexdigest()]
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
    return install_dir / "engine" / f"{tag}-{digest}"


def default_install_dir() -> Path:
    if value := os.environ.get("INPUT_INSTALL_DIR", "").strip():
        return Path(value).expanduser()
    if tool_cache := os.environ.get("RUNNER_TOOL_CACHE"):
        return Path(tool_cache) / "setup-poetry-parallel"
    return Path(tempfile.gettempdir()) / "setup-poetry-parallel"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An OS lock: freed by the kernel if this process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        if os.name == "nt":
            import msvcrt

            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined,unused-ignore]  # Windows-only names
                    break
                except OSError:  # LK_LOCK gives up after ~10 s: keep waiting
                    continue
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield  # released when the file is closed


def ensure_engine(target: Path, deps: list[str]) -> None:
    if target.is_dir():
        return
    with locked(target.with_name(target.name + ".lock")):
        if target.is_dir():
            return
        print(
            f"setup-poetry-parallel: installing the engine's dependencies into {target}",
            file=sys.stderr,
        )
        scratch = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
        try:
            try:
                index = read_index(os.environ)  # uv's and pip's variables, as the engine reads them
                fetch_wheels.install(scratch, index.url.secret, index.timeout)
            except fetch_wheels.Refused as exc:
                print(
                    f"setup-poetry-parallel: {exc}; installing the engine's dependencies with"
                    " pip instead (slower)",
                    file=sys.stderr,
                )
                shutil.rmtree(scratch)
                scratch.mkdir()
                pip_install(scratch, deps)
            os.replace(scratch, target)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise


def pip_install(scratch: Path, deps: list[str]) -> None:
    """The slow path: pip resolves the ranges of pyproject.toml from the index."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-warn-script-location",
            "--target",
            str(scratch),
            *deps,
        ],
        check=True,
        stdout=sys.stderr,
    )


def main(argv: list[str]) -> int:
    deps = dependencies()
    target = engine_dir(default_install_dir().resolve(), deps, fetch_wheels.LOCK.read_bytes())
    try:
        ensure_engine(target, deps)
    except (OSError, subprocess.CalledProcessError, fetch_wheels.Mismatch) as exc:
        print(
            f"error: could not install the engine's dependencies into {target}: {exc}",
            file=sys.stderr,
        )
        return 1
    sys.path[:0] = [str(SRC), str(target)]
    from setup_poetry_parallel.cli import main as engine_main

    return engine_main(argv)
