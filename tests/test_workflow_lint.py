"""actionlint and zizmor over action.yml, the self-test, the examples and the act fixtures.

Both run offline from this venv, as CI runs them. One deliberately bad workflow shows that
the lint can fail.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.act_runner import ROOT

WORKFLOWS = sorted(
    [
        *ROOT.glob(".github/workflows/*.yml"),
        *ROOT.glob("examples/workflows/*.yml"),
        *ROOT.glob("tests/fixtures/act/*.yml"),
    ]
)
INJECTION = """\
on: issues
permissions: {}
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ github.event.issue.title }}"
"""


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, f"{name} is not installed in this venv (pip install -e '.[test]')"
    return found


def zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    argv = [tool("zizmor"), "--offline", "--config", str(ROOT / ".github" / "zizmor.yml")]
    return subprocess.run([*argv, *map(str, paths)], capture_output=True, text=True, check=False)


def test_there_is_something_to_lint() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"self-test.yml", "matrix.yml", "failure.yml"} <= names


def test_actionlint() -> None:
    done = subprocess.run(
        [tool("actionlint"), *map(str, WORKFLOWS)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor() -> None:
    # Files, not folders: given a folder, zizmor audits only its .github/workflows.
    done = zizmor(ROOT / "action.yml", *WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings" in done.stdout + done.stderr


def test_zizmor_fails_on_an_injection(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(INJECTION)
    done = zizmor(bad)
    assert done.returncode != 0
    assert "template-injection" in done.stdout + done.stderr


@pytest.mark.parametrize("path", [ROOT / "action.yml"], ids=["action.yml"])
def test_inputs_reach_scripts_only_through_env(path: Path) -> None:
    """Composite steps get inputs via `env:`; an expression pasted into `run:` is an injection."""
    for step in yaml.safe_load(path.read_text())["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name", step.get("id"))
        if "run" in step:
            assert step["shell"] == "bash"
