"""Every example workflow, run once through a real runner (act), asserted on what its steps print.

The examples check the action's promises themselves (their "Check the setup" steps fail the job);
these tests check act's exit code, that every job ran and passed, and the figures that only
show across jobs: distinct job dirs, one shared install, the plugin's version in every Python.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tests.act_runner import (
    EXAMPLES,
    FIXTURES,
    ROOT,
    TAG,
    ActResult,
    ActSession,
    copy_action,
    runner_env,
)

pytestmark = pytest.mark.act

VERSION = TAG.removeprefix("v")
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
REPLAYED = "(warm lane)"  # warm_lane.replay's log line
TESTED_EXAMPLES = {"matrix.yml", "shared-directory.yml", "tox.yml", "outputs.yml"}


@pytest.fixture(scope="session")
def act(tmp_path_factory: pytest.TempPathFactory, isolated_home: Path) -> ActSession:
    """One act home (so one tool cache, one Poetry build) for every workflow of the session."""
    home = tmp_path_factory.mktemp("act-home")
    action = copy_action(tmp_path_factory.mktemp("action") / "setup-poetry-parallel")
    return ActSession(home, action, runner_env(os.environ, home))


def run(act: ActSession, tmp_path: Path, workflow: Path) -> ActResult:
    repo = act.repository(tmp_path / "repo", workflow)
    result = act.run(repo, workflow.name, variables={"SHARED_DIR": str(tmp_path / "shared")})
    (tmp_path / "act.log").write_text(result.output)  # kept by pytest for a failed run
    print(f"act {workflow.name}: exit {result.returncode} in {result.seconds:.1f} s")
    return result


def assert_passed(result: ActResult, jobs: int) -> None:
    tail = result.output[-6000:]
    assert result.returncode == 0, tail
    assert len(result.succeeded_jobs()) == jobs, (result.succeeded_jobs(), tail)
    assert not result.failed_jobs(), tail


def test_every_example_has_a_test() -> None:
    assert {p.name for p in EXAMPLES.glob("*.yml")} == TESTED_EXAMPLES


def test_matrix(act: ActSession, tmp_path: Path) -> None:
    result = run(act, tmp_path, EXAMPLES / "matrix.yml")
    assert_passed(result, jobs=4)
    assert sorted(result.values("report").values()) == [
        f"sample {VERSION} on Python {v}" for v in PYTHONS
    ]
    job_dirs = result.values("job-dir")
    assert len(set(job_dirs.values())) == 4
    assert {job: f"{job_dirs[job]}/bin/poetry" for job in job_dirs} == result.values("poetry")
    assert sum("checks passed" in lines for lines in result.lines.values()) == 4


def test_shared_directory(act: ActSession, tmp_path: Path) -> None:
    result = run(act, tmp_path, EXAMPLES / "shared-directory.yml")
    assert_passed(result, jobs=6)  # prepare, four Pythons, verify
    reports = result.values("report")
    assert sorted(reports.values()) == [f"sample {VERSION} on Python {v}" for v in PYTHONS]
    job_dirs = result.values("job-dir")
    assert len(set(job_dirs.values())) == 4
    assert all(d.startswith(str(tmp_path / "shared" / "runs")) for d in job_dirs.values())
    venvs = set(result.values("poetry-venv").values())
    assert len(venvs) == 1
    assert venvs.pop().startswith(str(tmp_path / "shared" / "poetry"))
    # The prepare job built Poetry in the fresh shared install dir; the four jobs reused it.
    assert sorted(result.values("reused").values()) == ["false", "true", "true", "true", "true"]
    assert "jobs: 4, installs used: 1" in result.lines["shared-directory/verify"]
    assert not (tmp_path / "shared" / "runs" / "1-1").exists()  # verify cleaned up


def test_tox(act: ActSession, tmp_path: Path) -> None:
    result = run(act, tmp_path, EXAMPLES / "tox.yml")
    assert_passed(result, jobs=1)
    [lines] = result.lines.values()
    envs = sorted(line for line in lines if line.startswith("TOX-ENV "))
    assert envs == [f"TOX-ENV sample {VERSION} on Python {v}" for v in PYTHONS]
    assert "checks passed" in lines


def test_outputs(act: ActSession, tmp_path: Path) -> None:
    result = run(act, tmp_path, EXAMPLES / "outputs.yml")
    assert_passed(result, jobs=2)
    build, report = result.values("poetry-version"), result.values("cache-key")
    assert set(build.values()) == {build["outputs/build"]}  # the same in the second job
    assert build["outputs/build"].startswith("2.5.")  # "2.5" resolved to an exact release
    assert set(report.values()) == {report["outputs/build"]}
    assert report["outputs/build"].startswith("setup-poetry-parallel-")
    assert "poetry-plugin-export>=1.8" in result.values("plugins")["outputs/build"]
    assert result.values("built")["outputs/build"] == f"dist/sample-{VERSION}-py3-none-any.whl"


def test_a_failed_setup_fails_loudly_and_exports_nothing(act: ActSession, tmp_path: Path) -> None:
    result = run(act, tmp_path, FIXTURES / "failure.yml")
    assert_passed(result, jobs=2)  # continue-on-error: the jobs go on to check the aftermath
    assert sorted(result.values("outcome").values()) == ["failure", "failure"]
    assert sorted(result.values("leaked").values()) == ["none", "none"]
    errors = [e for e in result.annotations("error") if "title=setup-poetry-parallel" in e]
    assert any("poetry-version 'two-point-five' is not a Poetry release" in e for e in errors), (
        errors
    )
    assert any("poetry-version 9.9.9 does not exist" in e for e in errors), errors


def test_cache_saves_then_restores_the_install(act: ActSession, tmp_path: Path) -> None:
    """`cache: true` through action.yml's own steps, with the actions/cache stand-in."""
    result = run(act, tmp_path, FIXTURES / "cache.yml")
    assert_passed(result, jobs=2)
    assert result.values("reused") == {"cache/save": "false", "cache/restore": "true"}
    keys = result.values("cache-key")
    assert keys["cache/save"] == keys["cache/restore"]
    assert f"under key {keys['cache/save']}" in "\n".join(result.lines["cache/save"])
    assert f"from key {keys['cache/save']}" in "\n".join(result.lines["cache/restore"])
    # cache-dependencies: the download cache's step ran (a miss: the stand-in saves nothing).
    assert result.values("dependencies-cache-hit") == {
        "cache/save": "false",
        "cache/restore": "false",
    }
    assert "cache stand-in: no entry for key setup-poetry-parallel-downloads-" in result.output


def test_a_later_job_with_the_same_inputs_takes_the_warm_lane(
    act: ActSession, tmp_path: Path
) -> None:
    result = run(act, tmp_path, FIXTURES / "warm-lane.yml")
    assert_passed(result, jobs=2)
    first, second = "warm-lane/first", "warm-lane/second"
    assert REPLAYED not in "\n".join(result.lines[first])
    assert REPLAYED in "\n".join(result.lines[second])  # made from the first job's record
    dirs = result.values("job-dir")
    assert dirs[first] != dirs[second]
    assert result.values("reused") == {first: "false", second: "true"}
    assert result.values("project-python") == {first: "3.12", second: "3.12"}
    assert result.values("version") == {first: VERSION, second: VERSION}


def test_self_test_workflow_on_linux(act: ActSession, tmp_path: Path) -> None:
    """The repository's own self-test (`uses: ./`), its Linux jobs: macOS and Windows need GitHub."""
    repo = act.self_test_repository(tmp_path / "repo")
    result = act.run(
        repo,
        "self-test.yml",
        variables={"SPP_TEST_DIR": str(tmp_path / "cache-test")},
        extra_args=["--matrix", "os:ubuntu-latest"],
    )
    (tmp_path / "act.log").write_text(result.output)
    print(f"act self-test.yml: exit {result.returncode} in {result.seconds:.1f} s")
    assert result.returncode == 0, result.output[-6000:]
    assert not result.failed_jobs()
    jobs = yaml.safe_load((ROOT / ".github" / "workflows" / "self-test.yml").read_text())["jobs"]
    matrix_entries = len(jobs["test-matrix"]["strategy"]["matrix"]["python-version"])
    assert len(result.succeeded_jobs()) == len(jobs) - 1 + matrix_entries
    reports = {
        line for lines in result.lines.values() for line in lines if line.startswith("report: ")
    }
    assert reports == {"report: sample 9.8.7 on Python 3.10", "report: sample 9.8.7 on Python 3.13"}
