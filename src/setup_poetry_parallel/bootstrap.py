"""Start the engine from the action's own checkout; action.yml runs this file with `python -I`.

Standard library only, because it installs the engine's dependencies: once per host and
dependency set, into `<install-dir>/engine/<hash>` with `pip install --target` (the result
is relocatable, so it is built in a scratch directory and renamed into place: a job that
dies half way leaves only scratch). Jobs starting together wait on one lock; later jobs
find the directory and start at once. The job's own Python environment is never touched.
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
import tomllib
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1]
ROOT = SRC.parent


def dependencies() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return list(tomllib.load(handle)["project"]["dependencies"])


def engine_dir(install_dir: Path, deps: list[str]) -> Path:
    tag = f"{sys.implementation.cache_tag}-{sysconfig.get_platform()}"
    digest = hashlib.sha256("\n".join([tag, *sorted(deps)]).encode()).hexdigest()[:16]
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
            os.replace(scratch, target)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise


def main() -> int:
    if sys.version_info < (3, 11):  # noqa: UP036  # this file may be started by any python3
        print(
            "error: the engine needs Python 3.11 or newer; set poetry-python is not enough,"
            " make python3.11+ available to the action",
            file=sys.stderr,
        )
        return 1
    deps = dependencies()
    target = engine_dir(default_install_dir().resolve(), deps)
    try:
        ensure_engine(target, deps)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(
            f"error: could not install the engine's dependencies into {target}: {exc}",
            file=sys.stderr,
        )
        return 1
    sys.path[:0] = [str(SRC), str(target)]
    from setup_poetry_parallel.cli import main as engine_main

    return engine_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
