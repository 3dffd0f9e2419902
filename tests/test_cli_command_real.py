"""`setup-poetry-parallel [flags] -- CMD`: a real setup, then CMD in this very process with the
job's environment, its exit code ours, signals straight to it."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from tests import engine_cli


def command_argv(project: Path, install: Path, state: Path, *command: str) -> list[str]:
    return [*engine_cli.argv(project, install, state, "job-a"), "--", *command]


def test_cmd_runs_in_the_jobs_environment_and_its_exit_code_is_passed_through(
    project: Path, shared_install_dir: Path, tmp_path: Path
) -> None:
    script = 'echo "$POETRY_CACHE_DIR"; command -v poetry; poetry --version; exit 7'
    done = subprocess.run(
        command_argv(project, shared_install_dir, tmp_path / "state", "sh", "-c", script),
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 7, done.stderr
    cache, poetry, version = done.stdout.splitlines()  # CMD's output only: no exports
    job = tmp_path / "state" / "job-a"
    assert cache == str(job / "cache")
    assert poetry == str(job / "bin" / "poetry")
    assert "2.5.1" in version


def test_a_sigterm_reaches_cmd_which_is_this_very_process(
    project: Path, shared_install_dir: Path, tmp_path: Path
) -> None:
    """exec: the pid the CI knows is CMD's, so its signal goes straight there."""
    marker, ready = tmp_path / "marker", tmp_path / "ready"
    script = (
        f"trap 'echo TERM > {marker}; exit 143' TERM; touch {ready}; while :; do sleep 0.05; done"
    )
    process = subprocess.Popen(
        command_argv(project, shared_install_dir, tmp_path / "state", "sh", "-c", script),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 600
        while not ready.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), process.stderr.read() if process.stderr else ""
        assert Path(f"/proc/{process.pid}/exe").resolve().name in ("sh", "dash", "bash")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 143
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert marker.read_text() == "TERM\n"


def test_a_cmd_not_found_is_one_line_and_127(
    project: Path, shared_install_dir: Path, tmp_path: Path
) -> None:
    done = subprocess.run(
        command_argv(project, shared_install_dir, tmp_path / "state", "no-such-command-spp"),
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 127
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: no-such-command-spp: command not found on the job's PATH (after --)"]
    assert "Traceback" not in done.stderr


def test_a_cli_setup_removes_the_old_job_dirs_of_its_state_dir(
    project: Path, shared_install_dir: Path, tmp_path: Path
) -> None:
    """Off a runner nothing else empties the state dir (tests/jobs/test_old_jobs.py has the
    rule's cases); here the setup itself does it, and leaves a fresh dir (the control)."""
    from tests.jobs.test_old_jobs import job_dir

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    job_dir(state, "local-old", days=8)
    job_dir(state, "local-fresh", days=1)
    done = subprocess.run(
        command_argv(project, shared_install_dir, state, "true"),
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in state.iterdir()) == ["job-a", "local-fresh"]


def test_a_real_setups_dotenv_is_what_gitlab_reads(
    project: Path, shared_install_dir: Path, tmp_path: Path
) -> None:
    """Every variable a real job exports passes dotenv's refusals and reads back as exported
    (GitLab's parser, tests/outputs/test_runner.py), within its 20 variables and 5 KB."""
    from tests.outputs.test_runner import gitlab_dotenv

    argv = engine_cli.argv(project, shared_install_dir, tmp_path / "state", "job-a")
    as_json = engine_cli.setup(project, shared_install_dir, tmp_path / "state", "job-a")
    assert as_json.returncode == 0, as_json.stderr
    argv[argv.index("json")] = "dotenv"
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    parsed = gitlab_dotenv(done.stdout)
    job = tmp_path / "state" / "job-a"
    assert parsed["POETRY_CACHE_DIR"] == str(job / "cache")
    assert {k: v for k, v in parsed.items() if k != "PATH"} == as_json.result["env"]
    assert parsed["PATH"].split(":")[0] == str(job / "bin")
