"""Every Poetry 2.x line: the original report's scenario and a tox -p burst, for the newest patch
of 2.0 to 2.4 (2.5.1 runs the same scenario, with its control, in test_parallel_real.py), plus
the `config.toml` we seed, byte for byte against what each line writes itself.

The builds share one install dir and the session's package cache: one build per line and
interpreter. The rounds are few; the control that shows the scenario is sensitive runs once,
on 2.5.1, in test_parallel_real.py.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.engine_cli import Setup, argv, finish, start
from tests.projects import PYTHONS, make_project, python_path
from tests.scenario import counts, lock_project, run_jobs, tox_envs

pytestmark = pytest.mark.real

LINES = ("2.0.1", "2.1.4", "2.2.1", "2.3.4", "2.4.3")
ROUNDS = 3


@pytest.fixture(scope="module")
def lines_install_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lines-install")


def line_argv(version: str, *args: str | Path) -> list[str]:
    command = argv(*args)  # type: ignore[arg-type]
    command[command.index("--poetry-version") + 1] = version
    return command


def four_jobs(version: str, project: Path, install_dir: Path, state: Path) -> list[Setup]:
    """One job per Python, each with Poetry on that Python: four installs, four config.toml."""
    setups = [
        start(
            line_argv(
                version, project, install_dir, state, f"job-{minor}",
                "--poetry-python", str(python_path(minor)), "--python-version", minor,
            )
        )
        for minor in PYTHONS
    ]  # fmt: skip
    done = [finish(s) for s in setups]
    assert [d.returncode for d in done] == [0] * 4, [d.stderr for d in done]
    assert {d.outputs["poetry-version"] for d in done} == {version}
    return done


def poetry_writes(env: dict[str, str], project: Path, cache: Path) -> bytes:
    """The config.toml this Poetry writes itself into an empty project plugin cache."""
    done = subprocess.run(
        ["poetry", "install"],
        cwd=project,
        env={**env, "POETRY_PROJECT_PLUGIN_CACHE": str(cache)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return (cache / "config.toml").read_bytes()


@pytest.mark.parametrize("version", LINES)
def test_poetry_line(version: str, lines_install_dir: Path, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    done = four_jobs(version, project, lines_install_dir, tmp_path / "state")
    envs = [d.env() for d in done]
    lock_project(project, envs[0])

    # What we seed is what this line would write, byte for byte, on each interpreter.
    for n, env in enumerate(envs):
        seeded = (Path(env["POETRY_PROJECT_PLUGIN_CACHE"]) / "config.toml").read_bytes()
        assert poetry_writes(env, project, tmp_path / f"own-cache-{n}") == seeded, version

    # The report's scenario: four jobs, four interpreters, one project, at once.
    outputs = run_jobs(project, envs, list(PYTHONS), ROUNDS)
    assert [counts(o) for o in outputs] == [(0, 0)] * 4, "\n".join(outputs)

    # tox -p: four Poetry processes of one job at once, into four venvs. A job of its own, with
    # no project Python: a `poetry env use` would win over tox's active venvs.
    tox_job = finish(
        start(
            line_argv(
                version, project, lines_install_dir, tmp_path / "state", "tox",
                "--poetry-python", str(python_path(PYTHONS[1])),
            )
        )
    )  # fmt: skip
    assert tox_job.outputs["reused"] == "true", tox_job.stderr
    config = Path(tox_job.env()["POETRY_PROJECT_PLUGIN_CACHE"]) / "config.toml"
    seeded_at = config.stat().st_mtime_ns
    outputs = run_jobs(project, tox_envs(tox_job.env(), tmp_path / "tox"), list(PYTHONS), ROUNDS)
    assert [counts(o) for o in outputs] == [(0, 0)] * 4, "\n".join(outputs)
    assert config.stat().st_mtime_ns == seeded_at, "a Poetry process rewrote the plugin cache"
    assert not (project / ".poetry").exists(), "nothing may land in the shared project"
    print(f"Poetry {version}: 0 of {4 * ROUNDS * 4} commands failed, 0 outdated rebuilds")


def test_a_poetry_whose_internals_moved_warns_once_and_works(tmp_path: Path) -> None:
    """Simulated: this test's own install of 2.5.1 with ProjectPluginCache.PATH renamed in
    Poetry's source. Our plugin cannot move the cache there: one warning, then Poetry's own
    behaviour (the project's .poetry), and every command still succeeds."""
    project = make_project(tmp_path / "project")
    done = finish(start(argv(project, tmp_path / "install", tmp_path / "state", "moved")))
    assert done.returncode == 0, done.stderr
    venv = Path(done.outputs["poetry-venv"])
    [manager] = venv.glob("lib/python3*/site-packages/poetry/plugins/plugin_manager.py")
    text = manager.read_text()
    assert "PATH = " in text
    # A new file, not a write into this one: uv hardlinks installed files from its cache, and
    # an edit in place would rename the attribute in every later install of 2.5.1.
    manager.unlink()
    manager.write_text(text.replace("PATH", "CACHE_PATH"))
    shutil.rmtree(manager.parent / "__pycache__", ignore_errors=True)
    env = done.env()
    lock_project(project, env)

    for command in (["poetry", "install"], ["poetry", "--version"]):
        ran = subprocess.run(
            command, cwd=project, env=env, capture_output=True, text=True, check=False
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        warnings = [line for line in ran.stderr.splitlines() if "setup-poetry-parallel" in line]
        assert len(warnings) == 1, ran.stderr
        assert "keeps its project plugin cache differently" in warnings[0]
    assert (project / ".poetry" / "plugins" / "config.toml").is_file()  # Poetry's own place
