"""Run the engine as users do (a real process, JSON out) and apply its exports to an env."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setup:
    returncode: int
    stderr: str
    result: dict[str, Any]

    @property
    def outputs(self) -> dict[str, str]:
        return dict(self.result["outputs"])

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The job's environment after the setup step, as later steps would see it."""
        env = dict(os.environ if base is None else base)
        env.update(self.result["env"])
        env["PATH"] = os.pathsep.join([*self.result["path"], env.get("PATH", "")])
        return env


def argv(project: Path, install_dir: Path, state_dir: Path, job_id: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "setup_poetry_parallel",
        "--poetry-version",
        "2.5.1",
        "--working-directory",
        str(project),
        "--install-dir",
        str(install_dir),
        "--state-dir",
        str(state_dir),
        "--job-id",
        job_id,
        "--format",
        "json",
        *extra,
    ]


def finish(process: subprocess.Popen[str]) -> Setup:
    stdout, stderr = process.communicate(timeout=600)
    result = json.loads(stdout) if process.returncode == 0 else {}
    return Setup(process.returncode, stderr, result)


def start(command: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def setup(*args: Any, **kwargs: Any) -> Setup:
    return finish(start(argv(*args), **kwargs))
