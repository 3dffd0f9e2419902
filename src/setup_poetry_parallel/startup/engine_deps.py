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
from collections.abc import Iterator, Mapping
from pathlib import Path

from setup_poetry_parallel.disk import dir_checks, nofollow  # stdlib only
from setup_poetry_parallel.settings import read_index  # stdlib only too
from setup_poetry_parallel.startup import defaults, fetch_wheels

SRC = Path(__file__).resolve().parents[2]  # src/, above the package and this folder
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
    """The action's input, else the default settings.py takes too (defaults.py): never a
    predictable name in the shared temp dir."""
    if value := os.environ.get("INPUT_INSTALL_DIR", "").strip():
        return Path(value).expanduser()
    return Path(defaults.install_dir(os.environ))


def working_directory() -> Path:
    """The project whose primary source may be the index (the action's input; cwd else)."""
    return Path(os.environ.get("INPUT_WORKING_DIRECTORY", "").strip() or ".").expanduser()


class Untrusted(Exception):
    """A dir that another user could have written what would be imported from it."""


def checked(path: Path) -> Path:
    """`path` if it is a dir this user (or root) owns, not a link and not writable by others:
    one lstat, before anything in it is imported or followed."""
    if why := dir_checks.problem(path):
        raise Untrusted(f"{path} {why}")
    return path


def prepared(install_dir: Path) -> Path:
    """The install dir and its `engine/`, made 0755 whatever the umask, and checked before it
    is resolved: a link (planted in /tmp, say) is refused, not followed."""
    dir_checks.make(install_dir, dir_checks.SHARED)
    resolved = checked(install_dir).resolve()  # only its parents' links are left to resolve
    engine = resolved / "engine"
    dir_checks.make(engine, dir_checks.SHARED)
    return checked(engine).parent


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An OS lock: freed by the kernel if this process dies. Opened without following a link,
    and only if this user (or root) owns it: its dir is checked, the lock file too."""
    try:
        fd = os.open(path, nofollow.LOCK, 0o644)
    except OSError as exc:
        if os.path.islink(path):
            raise Untrusted(
                f"{path} is a symbolic link: remove it; locks are not followed"
            ) from exc
        raise
    with os.fdopen(fd, "a+b") as handle:
        owner = os.fstat(fd).st_uid
        if not dir_checks.trusted_owner(owner):
            raise Untrusted(f"{path} belongs to uid {owner}, not this user: remove it")
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


def ensure_engine(target: Path) -> None:
    """`target` (in a checked `engine/`), installed unless it is there; checked either way
    before the caller imports from it."""
    if os.path.lexists(target):
        checked(target)
        return
    with locked(target.with_name(target.name + ".lock")):
        if os.path.lexists(target):
            checked(target)
            return
        print(
            f"setup-poetry-parallel: installing the engine's dependencies into {target}",
            file=sys.stderr,
        )
        # mkdtemp: 0700 whatever the umask; opened to 0755 once whole, before the rename.
        scratch = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
        umask = os.umask(0o077)  # reading it sets it: for that moment, the strictest one
        os.umask(umask | 0o022)  # what pip and the unpacking write: never writable by others
        try:
            try:
                # uv's and pip's variables, or the project's primary source, as the engine reads them
                index = read_index(os.environ, working_directory())
                fetch_wheels.install(scratch, index.url.secret, index.timeout)
            except fetch_wheels.Refused as exc:
                print(
                    f"setup-poetry-parallel: {exc}; installing the engine's dependencies with"
                    f" pip from {index.url} instead (slower, and resolved from the ranges of"
                    " pyproject.toml: not hash-checked against the action's table)",
                    file=sys.stderr,
                )
                shutil.rmtree(scratch)
                scratch.mkdir(mode=0o700)
                pip_install(scratch, dependencies(), index.pip_env)
            dir_checks.close_to_others(scratch)
            os.chmod(scratch, dir_checks.SHARED)  # mkdtemp's 0700: others read and run
            os.replace(scratch, target)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        finally:
            os.umask(umask)


def pip_install(scratch: Path, deps: list[str], index_env: Mapping[str, str]) -> None:
    """The slow path: pip resolves the ranges of pyproject.toml from the same index (never
    silently from another: `index_env` names it, with its credentials, in pip's variables)."""
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
        env={**os.environ, **index_env},
    )


def main(argv: list[str]) -> int:
    install_dir = default_install_dir()
    try:
        deps = dependencies()
        target = engine_dir(prepared(install_dir), deps, fetch_wheels.LOCK.read_bytes())
        ensure_engine(target)
    except Untrusted as exc:
        print(
            f"error: install-dir: {exc} (nothing was imported from it)",
            file=sys.stderr,
        )
        return 2
    # Denied: pip would be refused too; the message says what to set instead.
    except (
        OSError,
        subprocess.CalledProcessError,
        fetch_wheels.Mismatch,
        fetch_wheels.Denied,
    ) as exc:
        print(
            f"error: could not install the engine's dependencies into {install_dir}: {exc}",
            file=sys.stderr,
        )
        return 1
    sys.path[:0] = [str(SRC), str(target)]
    from setup_poetry_parallel.cli import main as engine_main

    return engine_main(argv)
