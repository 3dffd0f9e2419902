"""The README's demo: a CI matrix on one shared project directory, run on this machine.

Copies the demo project to a temporary git repository tagged v1.2.3, then starts one job per
Python found (3.10-3.13), all at once, on that one directory and one install dir, as a
self-hosted runner or a shared volume would: set up Poetry with the engine (one job builds the
install under the lock, the others wait and reuse it), `poetry install`, `poetry version`
(poetry-dynamic-versioning's tag), `poetry run python`. A line is printed as each job starts,
finishes its setup and ends; the table says which job built. Nothing is written outside the
temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
WANTED = ("3.10", "3.11", "3.12", "3.13")
T0 = time.monotonic()
_PRINT = threading.Lock()


def say(line: str) -> None:
    """One progress line, stamped with the seconds since the demo started (jobs run in threads)."""
    with _PRINT:
        print(f"[{time.monotonic() - T0:5.1f} s] {line}", flush=True)


def sh(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout.strip()


def make_project(root: Path) -> Path:
    project = root / "demo"
    shutil.copytree(HERE, project, ignore=shutil.ignore_patterns("run.py", "__pycache__"))
    git = ("git", "-c", "user.name=demo", "-c", "user.email=demo@example.invalid")
    sh("git", "init", "-q", cwd=project)
    sh("git", "add", "-A", cwd=project)
    sh(*git, "commit", "-qm", "demo", cwd=project)
    sh("git", "tag", "v1.2.3", cwd=project)
    return project


def available_pythons(env: dict[str, str]) -> list[str]:
    """The matrix: every wanted Python this machine has (the engine finds them)."""
    found = []
    for minor in WANTED:
        if shutil.which(f"python{minor}", path=env.get("PATH")) or any(
            Path(env.get("PYENV_ROOT", Path.home() / ".pyenv"), "versions").glob(f"{minor}.*")
        ):
            found.append(minor)
    return found or [f"{sys.version_info.major}.{sys.version_info.minor}"]


def setup(
    job_id: str, python: list[str], project: Path, root: Path, base: dict[str, str]
) -> tuple[dict[str, str], bool]:
    """The action's step: the engine, then its exports applied as later steps would see them."""
    done = subprocess.run(
        [sys.executable, "-m", "setup_poetry_parallel", "--poetry-version", "2.5.1", *python,
         "--working-directory", str(project), "--install-dir", str(root / "install"),
         "--state-dir", str(root / "state"), "--job-id", job_id, "--format", "json"],
        env=base, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"setup of {job_id} failed:\n{done.stderr}")
    exported = json.loads(done.stdout)
    env = {**base, **exported["env"]}
    env["PATH"] = os.pathsep.join([*exported["path"], base["PATH"]])
    return env, exported["outputs"]["reused"] == "true"


def job(minor: str, project: Path, root: Path, base: dict[str, str]) -> dict[str, str]:
    """One CI job. No stamping step: poetry-dynamic-versioning writes no file meanwhile."""
    name = f"py{minor}"
    started = time.monotonic()
    say(f"{name}: setting up Poetry 2.5.1")
    env, reused = setup(name, ["--python-version", minor], project, root, base)
    setup_seconds = time.monotonic() - started
    install = "reused" if reused else "built"
    say(f"{name}: set up in {setup_seconds:.1f} s ({install} Poetry's install); poetry install")
    sh("poetry", "install", cwd=project, env=env)
    row = {
        "job": name,
        "Poetry's install": install,
        "setup s": f"{setup_seconds:.1f}",
        "poetry": sh("poetry", "--version", cwd=project, env=env).split()[-1].rstrip(")"),
        "version": sh("poetry", "version", "--short", cwd=project, env=env),
        "python": sh("poetry", "run", "python", "-c", "import platform; print(platform.python_version())", cwd=project, env=env),
        "job s": f"{time.monotonic() - started:.1f}",
    }  # fmt: skip
    say(
        f"{name}: done in {row['job s']} s (poetry version {row['version']}, python {row['python']})"
    )
    return row


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="spp-demo-") as tmp:
        root = Path(tmp)
        base = dict(os.environ)
        # A temporary package cache unless the caller names one: nothing lands in the home dir.
        base.setdefault("UV_CACHE_DIR", str(root / "uv-cache"))
        pythons = available_pythons(base)
        project = make_project(root)
        pyproject = (project / "pyproject.toml").read_bytes()
        say(f"demo: {len(pythons)} jobs at once on one shared project {project}")
        with ThreadPoolExecutor(len(pythons)) as pool:
            rows = list(pool.map(lambda m: job(m, project, root, base), pythons))
        print("| " + " | ".join(rows[0]) + " |")
        print("|" + "---|" * len(rows[0]))
        for row in rows:
            print("| " + " | ".join(row.values()) + " |")
        leftover = (project / ".poetry").exists()
        print(f"shared project has a .poetry directory: {'yes (bad)' if leftover else 'no'}")
        untouched = (project / "pyproject.toml").read_bytes() == pyproject
        print(
            f"shared pyproject.toml byte-identical afterwards: {'yes' if untouched else 'no (bad)'}"
        )
        ok = untouched and not leftover and all(r["version"] == "1.2.3" for r in rows)
        builds = sum(r["Poetry's install"] == "built" for r in rows)
        print(f"jobs that built Poetry's install: {builds} (the others waited and reused it)")
        ok = ok and builds == 1
        print("demo: ok" if ok else "demo: FAILED")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
