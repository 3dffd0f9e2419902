"""poetry-dynamic-versioning with `enable = true` on one shared project, with no stamping step.

Four jobs, and two more Poetry processes of the first job (tox -p style), loop `poetry install`,
`poetry version` and the installed metadata at once, while a watcher samples the shared files.
With the setup's NO_IO list: no failure, every job sees the tag's version, and the shared files
are never seen changed. The control (the same loop without the variable) shows the mechanism:
pdv rewrites the shared pyproject.toml under the other jobs, and the watcher sees it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from setup_poetry_parallel.jobs.dynamic_versioning import NO_IO_VARIABLE
from tests.conftest import have_git
from tests.engine_cli import Setup, argv, finish, start
from tests.projects import PYTHONS, make_project, python_path
from tests.scenario import without

pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(not have_git(), reason="poetry-dynamic-versioning reads the git tag"),
]

TAG, ROUNDS = "1.2.3", 4
WATCHED = ("pyproject.toml", "src/sample/__init__.py")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
}  # fmt: skip

JOB_LOOP = textwrap.dedent(
    """
    import subprocess, sys
    rounds, expected = int(sys.argv[1]), sys.argv[2]
    failures = wrong = 0
    metadata = "import importlib.metadata as m; print(m.version('sample'))"
    for _ in range(rounds):
        for command in (["poetry", "install"], ["poetry", "version", "-s"],
                        ["poetry", "run", "python", "-c", metadata]):
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                failures += 1
                print("FAILED", command, (done.stdout + done.stderr)[-400:].replace("\\n", " | "))
            elif command[1] != "install" and done.stdout.strip() != expected:
                wrong += 1
                print("WRONG", command, done.stdout.strip())
    print(f"RESULT failures={failures} wrong={wrong}")
    """
)


def dynamic_project(root: Path) -> Path:
    project = make_project(root)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text().replace('version = "0.1.0"\n', 'dynamic = ["version"]\n')
    text = text.replace("[tool.poetry]\n", '[tool.poetry]\nversion = "0.0.0"\n')
    text += textwrap.dedent(
        """
        [tool.poetry-dynamic-versioning]
        enable = true

        [tool.poetry-dynamic-versioning.substitution]
        files = ["src/sample/__init__.py"]
        """
    )
    pyproject.write_text(text)
    (project / ".gitignore").write_text(".poetry/\n")
    return project


def git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args], cwd=project, check=True, capture_output=True, env={**os.environ, **GIT_ENV}
    )


class Watcher:
    """Samples the shared files until stopped; counts the samples that differ from the start."""

    def __init__(self, project: Path) -> None:
        self.files = {name: (project / name) for name in WATCHED}
        self.original = {name: path.read_bytes() for name, path in self.files.items()}
        self.samples = self.changed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            for name, path in self.files.items():
                self.samples += 1
                try:
                    self.changed += path.read_bytes() != self.original[name]
                except OSError:
                    self.changed += 1

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        self._thread.start()
        try:
            yield
        finally:
            self._stop.set()
            self._thread.join()

    def unchanged_now(self) -> bool:
        return all(path.read_bytes() == self.original[name] for name, path in self.files.items())


def jobs(
    project: Path, install_dir: Path, state: Path, prefix: str, *, unset: str | None = None
) -> list[dict[str, str]]:
    """Four jobs set up at once, plus two more Poetry processes of the first (own venvs);
    with `unset`, the control's jobs: that variable unset, Poetry run as before #20."""
    setups = [start(argv(project, install_dir, state, f"{prefix}-{n}")) for n in range(4)]
    done: list[Setup] = [finish(s) for s in setups]
    assert [d.returncode for d in done] == [0] * 4, [d.stderr for d in done]
    envs = [d.env() for d in done]
    if unset is not None:
        poetry = done[0].outputs["poetry-path"]
        envs = [
            without(unset, e, poetry, state / f"{prefix}-plain-{n}") for n, e in enumerate(envs)
        ]
    for minor in PYTHONS[:2]:
        venv = state / f"{prefix}-tox-{minor}"
        subprocess.run([python_path(minor), "-m", "venv", "--without-pip", venv], check=True)
        envs.append(
            {**envs[0], "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}:{envs[0]['PATH']}"}
        )
    return envs


def loop(project: Path, envs: list[dict[str, str]]) -> tuple[list[str], Watcher]:
    watcher = Watcher(project)
    with watcher.running():
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", JOB_LOOP, str(ROUNDS), TAG],
                cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            for env in envs
        ]  # fmt: skip
        outputs = [p.communicate(timeout=900)[0] for p in procs]
    return outputs, watcher


def totals(outputs: list[str]) -> tuple[int, int]:
    failures = wrong = 0
    for output in outputs:
        line = next(line for line in output.splitlines() if line.startswith("RESULT"))
        f, w = (int(part.split("=")[1]) for part in line.split()[1:])
        failures, wrong = failures + f, wrong + w
    return failures, wrong


@pytest.fixture
def tagged_project(tmp_path: Path) -> Path:
    project = dynamic_project(tmp_path / "project")
    git(project, "init", "-q", ".")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "init")
    return project


def test_no_stamping_needed(tagged_project: Path, shared_install_dir: Path, tmp_path: Path) -> None:
    envs = jobs(tagged_project, shared_install_dir, tmp_path / "state", "pdv")
    assert all(NO_IO_VARIABLE in env for env in envs)
    subprocess.run(
        ["poetry", "lock"], cwd=tagged_project, env=envs[0], check=True, capture_output=True
    )
    git(tagged_project, "add", "-A")
    git(tagged_project, "commit", "-qm", "lock")
    git(tagged_project, "tag", f"v{TAG}")

    outputs, watcher = loop(tagged_project, envs)

    assert totals(outputs) == (0, 0), "\n".join(outputs)
    assert watcher.changed == 0, f"{watcher.changed} of {watcher.samples} samples saw a change"
    assert watcher.unchanged_now(), "the shared files are not byte-identical afterwards"
    assert not (tagged_project / ".poetry").exists()
    print(f"pdv with NO_IO: 0 failures, 0 wrong, 0 of {watcher.samples} samples changed")


def test_without_the_switch_pdv_rewrites_the_shared_file(
    tagged_project: Path, shared_install_dir: Path, tmp_path: Path
) -> None:
    """Control: the same loop with pdv's default (only `version` is NO_IO)."""
    envs = jobs(
        tagged_project, shared_install_dir, tmp_path / "state", "pdv-ctl", unset=NO_IO_VARIABLE
    )
    lock_env = {**envs[0], NO_IO_VARIABLE: "lock"}  # lock once, unraced
    subprocess.run(
        ["poetry", "lock"], cwd=tagged_project, env=lock_env, check=True, capture_output=True
    )
    git(tagged_project, "add", "-A")
    git(tagged_project, "commit", "-qm", "lock")
    git(tagged_project, "tag", f"v{TAG}")

    outputs, watcher = loop(tagged_project, envs)

    failures, wrong = totals(outputs)
    print(
        f"pdv control: {failures} failures, {wrong} wrong versions,"
        f" {watcher.changed} of {watcher.samples} samples saw the shared files changed"
    )
    assert watcher.changed > 0, "\n".join(outputs)


def test_a_value_the_user_set_is_kept(
    tagged_project: Path, shared_install_dir: Path, tmp_path: Path
) -> None:
    command = argv(tagged_project, shared_install_dir, tmp_path / "state", "own")
    done = finish(start(command, env={**os.environ, NO_IO_VARIABLE: "install"}))
    assert done.returncode == 0, done.stderr
    assert NO_IO_VARIABLE not in done.result["env"]
