"""The CLI contract: exit codes, one-line errors, annotations and groups on a runner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from setup_poetry_parallel.cli import main
from tests.repo import REPO

CLI = [sys.executable, "-m", "setup_poetry_parallel"]


def runner_env(tmp_path: Path) -> dict[str, str]:
    files = {
        name: tmp_path / name.lower() for name in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT")
    }
    for path in files.values():
        path.write_text("")
    return {
        "GITHUB_ACTIONS": "true",
        "RUNNER_TEMP": str(tmp_path / "temp"),
        "RUNNER_TOOL_CACHE": str(tmp_path / "tool-cache"),
        **{name: str(path) for name, path in files.items()},
    }


def test_plan_prints_the_cache_key_without_installing(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["--poetry-version", "2.5.1", "--working-directory", str(project), "--install-dir",
         str(tmp_path / "i"), "--plan", "--format", "json"],
        {},
    )  # fmt: skip
    assert code == 0
    outputs = json.loads(capsys.readouterr().out)["outputs"]
    assert outputs["cache-key"].startswith("setup-poetry-parallel-")
    assert Path(outputs["install-path"]).parent == tmp_path / "i"
    assert not Path(outputs["install-path"]).exists()


def test_on_a_runner_warnings_become_annotations_inside_a_group(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = runner_env(tmp_path)
    argv = ["--inputs-from-env", "--plan"]
    env.update({"INPUT_POETRY_VERSION": "2.5.1", "INPUT_WORKING_DIRECTORY": str(project),
                "INPUT_PROJECT_PLUGINS": "false"})  # fmt: skip
    assert main(argv, env) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "::group::setup-poetry-parallel"
    assert out[-1] == "::endgroup::"
    assert any(
        line.startswith("::warning title=setup-poetry-parallel::project-plugins is false")
        for line in out
    )
    assert "cache-key<<" in Path(env["GITHUB_OUTPUT"]).read_text()


def test_an_input_error_is_one_line_an_annotation_at_the_file_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.poetry]\nname = 'x'\n= broken\n")
    env = runner_env(tmp_path)
    env.update({"INPUT_POETRY_VERSION": "2.5.1", "INPUT_WORKING_DIRECTORY": str(tmp_path)})
    assert main(["--inputs-from-env"], env) == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    assert "Traceback" not in captured.err
    annotation = next(line for line in captured.out.splitlines() if line.startswith("::error "))
    assert f"file={tmp_path / 'pyproject.toml'},line=3" in annotation
    for name in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT"):
        assert Path(env[name]).read_text() == ""


def test_a_committed_project_plugin_cache_is_refused_when_project_plugins_are(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `.pth` file in `<project>/.poetry/plugins` runs before any plugin could stop it."""
    (project / ".poetry" / "plugins").mkdir(parents=True)
    (project / ".poetry" / "plugins" / "evil.pth").write_text("import os\n")
    base = ["--poetry-version", "2.5.1", "--working-directory", str(project), "--plan"]
    assert main([*base, "--project-plugins", "false", "--format", "json"], {}) == 2
    assert "delete it" in capsys.readouterr().err
    assert main([*base, "--format", "json"], {}) == 0
    assert "is left from a run without this setup" in capsys.readouterr().err


@pytest.mark.skipif(os.name != "posix", reason="a POSIX shell script")
def test_the_readmes_eval_form_stops_on_a_failed_setup_and_plain_eval_does_not(
    project: Path, tmp_path: Path
) -> None:
    """`eval "$(...)"` of a failed setup evaluates "" and returns 0, even under `set -e`: the
    control. The README's form stops the script there, with the setup's exit code."""
    cli = f"python -m setup_poetry_parallel --working-directory {project} --installer bogus"
    forms = {
        "plain eval": f'set -eu\neval "$({cli})"\necho went on',
        "readme": f'set -eu\nenv_lines=$({cli}) || exit\neval "$env_lines"\necho went on',
        # Not in the README: a failed command left of `&&` never stops a `set -e` script.
        "and-list": f'set -eu\nenv_lines=$({cli}) && eval "$env_lines"\necho went on',
    }
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    results = {
        name: subprocess.run(
            ["sh", "-c", script], check=False, capture_output=True, text=True, env=env
        )
        for name, script in forms.items()
    }
    assert results["plain eval"].stdout == "went on\n"  # the failure hidden
    assert results["plain eval"].returncode == 0
    assert results["and-list"].stdout == "went on\n"
    assert results["readme"].stdout == ""
    assert results["readme"].returncode == 2
    assert "error: " in results["readme"].stderr
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert (
        'env_lines=$(setup-poetry-parallel --poetry-version 2.5.1 --python-version 3.12) || exit\neval "$env_lines"\n'
        in readme
    )


def test_a_failed_setup_never_runs_cmd(tmp_path: Path) -> None:
    """The setup's exit code, and CMD not started (the real run of CMD after a setup that
    works is test_cli_command_real.py's control)."""
    marker = tmp_path / "ran"
    done = subprocess.run(
        [*CLI, "--working-directory", str(tmp_path), "--installer", "bogus", "--",
         "touch", str(marker)],
        check=False, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2
    assert [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert not marker.exists()


@pytest.mark.parametrize(
    ("argv", "says"),
    [(["--"], "nothing to run after --"), (["--plan", "--", "true"], "--plan installs nothing")],
)
def test_a_command_that_cannot_run_is_a_usage_error(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv, {})
    assert exited.value.code == 2
    assert says in capsys.readouterr().err


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_without_exec_a_signal_is_forwarded_to_cmd_and_its_code_passed(
    tmp_path: Path, name: str
) -> None:
    """run_child, Windows' way (no exec there), run here to prove the forwarding: the signal
    sent to our process alone reaches CMD, whose trap writes the marker."""
    marker, ready = tmp_path / "marker", tmp_path / "ready"
    number = int(getattr(signal, name))
    trap = name.removeprefix("SIG")
    script = (
        f"trap 'echo {trap} > {marker}; exit 42' {trap}; touch {ready};"
        " while :; do sleep 0.05; done"
    )
    code = (
        "import os, sys\n"
        "from setup_poetry_parallel.cli import run_child\n"
        f"sys.exit(run_child(['sh', '-c', {script!r}], dict(os.environ)))\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(process.pid, number)  # our process only, not its group
        assert process.wait(timeout=30) == 42
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert marker.read_text() == f"{trap}\n"


def test_run_child_says_127_for_a_command_not_found(capsys: pytest.CaptureFixture[str]) -> None:
    from setup_poetry_parallel.cli import CommandFailed, run_child

    with pytest.raises(CommandFailed) as failed:
        run_child(["no-such-command-spp"], {"PATH": "/nonexistent"})
    assert failed.value.exit_code == 127


def test_plan_prints_nothing_on_stdout_in_sh_and_dotenv_and_logs_the_key(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It printed an empty line: a plan changes no environment, so there is nothing to eval."""
    for fmt in ("sh", "dotenv"):
        argv = ["--poetry-version", "2.5.1", "--working-directory", str(project),
                "--install-dir", str(tmp_path / "i"), "--plan", "--format", fmt]  # fmt: skip
        assert main(argv, {}) == 0
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "cache-key: setup-poetry-parallel-" in captured.err
