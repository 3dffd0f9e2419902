"""The README's demo: a CI matrix on one shared project directory, run on this machine.

Copies the demo project to a temporary git repository tagged v1.2.3. A prepare job sets up
Poetry (building it); then one job per Python found (3.10-3.13)
runs, all at once, on that one directory and one install dir, as a self-hosted runner or a
shared volume would: set up Poetry with the engine (reusing the install), `poetry install`,
`poetry version` (poetry-dynamic-versioning's tag), `poetry run python`. Nothing is written
outside the temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
WANTED = ("3.10", "3.11", "3.12", "3.13")


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


def prepare(project: Path, root: Path, base: dict[str, str]) -> bool:
    """The first setup on the host builds Poetry; the jobs after it reuse the install. No
    stamping step: poetry-dynamic-versioning writes no file during the jobs' commands."""
    _, reused = setup("prepare", [], project, root, base)
    return reused


def job(minor: str, project: Path, root: Path, base: dict[str, str]) -> dict[str, str]:
    started = time.monotonic()
    env, reused = setup(f"py{minor}", ["--python-version", minor], project, root, base)
    sh("poetry", "install", cwd=project, env=env)
    return {
        "job": f"py{minor}",
        "install": "reused" if reused else "built",
        "poetry": sh("poetry", "--version", cwd=project, env=env).split()[-1].rstrip(")"),
        "version": sh("poetry", "version", "--short", cwd=project, env=env),
        "python": sh("poetry", "run", "python", "-c", "import platform; print(platform.python_version())", cwd=project, env=env),
        "seconds": f"{time.monotonic() - started:.1f}",
    }  # fmt: skip


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="spp-demo-") as tmp:
        root = Path(tmp)
        base = dict(os.environ)
        # A temporary package cache unless the caller names one: nothing lands in the home dir.
        base.setdefault("UV_CACHE_DIR", str(root / "uv-cache"))
        pythons = available_pythons(base)
        project = make_project(root)
        pyproject = (project / "pyproject.toml").read_bytes()
        built_by_prepare = not prepare(project, root, base)
        print(f"demo: {len(pythons)} jobs on one shared project {project}", flush=True)
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
        ok = ok and built_by_prepare and all(r["install"] == "reused" for r in rows)
        print("demo: ok" if ok else "demo: FAILED")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
