"""The original report's scenario, shared by the tests that run it: job loops of `poetry install`
and `poetry run` on one project, each counting its failures and plugin-cache rebuilds."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.projects import PYTHONS, python_path

OUTDATED = "Removing the project's plugin cache because it is outdated"

# One job: loop install + run, print one line per failure and per rebuild, never stop early.
JOB_LOOP = textwrap.dedent(
    """
    import subprocess, sys
    rounds, expected = int(sys.argv[1]), sys.argv[2]
    failures = rebuilds = 0
    for _ in range(rounds):
        for command in (["poetry", "install"],
                        ["poetry", "run", "python", "-c",
                         "import sys; print('%d.%d' % sys.version_info[:2])"]):
            done = subprocess.run(command, capture_output=True, text=True)
            text = done.stdout + done.stderr
            rebuilds += "Removing the project's plugin cache because it is outdated" in text
            bad = done.returncode != 0 or (command[1] == "run" and done.stdout.strip() != expected)
            if bad:
                failures += 1
                print("FAILED", command, done.returncode, text[-400:].replace("\\n", " | "))
    print(f"RESULT failures={failures} rebuilds={rebuilds}")
    """
)


def run_jobs(
    project: Path, envs: list[dict[str, str]], minors: list[str], rounds: int
) -> list[str]:
    """Start every job loop at once and return each one's output."""
    jobs = [
        subprocess.Popen(
            [sys.executable, "-c", JOB_LOOP, str(rounds), minor],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for env, minor in zip(envs, minors, strict=True)
    ]
    return [job.communicate(timeout=900)[0] for job in jobs]


def counts(output: str) -> tuple[int, int]:
    line = next(line for line in output.splitlines() if line.startswith("RESULT"))
    failures, rebuilds = (int(part.split("=")[1]) for part in line.split()[1:])
    return failures, rebuilds


def without(variable: str, env: dict[str, str], poetry: str, where: Path) -> dict[str, str]:
    """A control's job: `variable` unset, and the shared Poetry run through a plain link, as
    the job's `poetry` was before #20 (its launcher would set the variable again)."""
    where.mkdir(parents=True)
    (where / "poetry").symlink_to(poetry)
    env = {k: v for k, v in env.items() if k != variable}
    return {**env, "PATH": os.pathsep.join([str(where), env["PATH"]])}


def without_the_moved_cache(env: dict[str, str], poetry: str, where: Path) -> dict[str, str]:
    return without("POETRY_PROJECT_PLUGIN_CACHE", env, poetry, where)


def lock_project(project: Path, env: dict[str, str]) -> None:
    """Real projects commit poetry.lock; concurrent first `poetry lock` writes are not our case."""
    subprocess.run(["poetry", "lock"], cwd=project, env=env, check=True, capture_output=True)


def tox_envs(env: dict[str, str], where: Path) -> list[dict[str, str]]:
    """`tox -p`: one job's environment, once per Python, each with its own active venv."""
    envs = []
    for minor in PYTHONS:
        venv = where / f"tox-{minor}"
        subprocess.run([python_path(minor), "-m", "venv", "--without-pip", venv], check=True)
        envs.append({**env, "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}:{env['PATH']}"})
    return envs
