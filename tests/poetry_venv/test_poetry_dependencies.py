"""`poetry-dependencies`: the input, the notice for a release the table lacks, the key, the
table's own shape, and the maintenance command that writes it."""

from __future__ import annotations

import datetime
import json
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from packaging.version import Version

from setup_poetry_parallel import lock_poetry
from setup_poetry_parallel.cli import main
from setup_poetry_parallel.index import release_files
from setup_poetry_parallel.poetry_venv import poetry_deps
from tests.act_runner import ROOT

REQUIRED = ("2.0.1", "2.1.4", "2.2.1", "2.3.4", "2.4.3", "2.5.1")  # newest patch of each 2.x
# What upstream capped later for a breakage of the release (lock_poetry.KNOWN_BREAKAGES).
CONSTRAINED = {"2.0.1": " --constraint 'virtualenv<20.33'"}
# The one index time of every table (all six regenerated together, the time days back so
# that files a mirror lists late with earlier upload times no longer move it).
EXCLUDE_NEWER = "2026-12-01T00:00:00Z"


def plan(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[str, str]:
    """`--plan`: (the cache key, the log)."""
    args = ["--plan", "--format", "json", "--working-directory", str(project)]
    args += ["--install-dir", str(tmp_path / "install"), *argv]
    assert main(args, dict(os.environ)) == 0
    captured = capsys.readouterr()
    return str(json.loads(captured.out)["outputs"]["cache-key"]), captured.err


@pytest.mark.parametrize("value", ["pinned", "LOCKED", "none"])
def test_unknown_value_is_an_input_error(
    value: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--poetry-version", "2.5.1", "--working-directory", str(project), "--plan"]
    assert main([*argv, "--poetry-dependencies", value], dict(os.environ)) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == [
        f"error: poetry-dependencies {value!r} is unknown: use locked (the hash-checked table)"
        " or latest"
    ]


def test_the_action_input_reaches_the_engine(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = {**os.environ, "INPUT_POETRY_VERSION": "2.5.1", "INPUT_WORKING_DIRECTORY": str(project)}
    base["INPUT_INSTALL_DIR"] = str(tmp_path / "install")
    keys = {}
    for value in ("", "locked", "latest"):
        env = {**base, "INPUT_POETRY_DEPENDENCIES": value}
        assert main(["--inputs-from-env", "--plan", "--format", "json"], env) == 0
        keys[value] = json.loads(capsys.readouterr().out)["outputs"]["cache-key"]
    assert keys[""] == keys["locked"] != keys["latest"]
    env = {**base, "INPUT_POETRY_DEPENDENCIES": "newest"}
    assert main(["--inputs-from-env", "--plan", "--format", "json"], env) == 2


def test_action_yml_declares_the_input_and_passes_it_through_env_only() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["inputs"]["poetry-dependencies"]["default"] == "locked"
    steps = {s.get("id"): s for s in action["runs"]["steps"]}
    for step in ("plan", "setup"):  # the key depends on it: the plan step needs it too
        env = steps[step]["env"]
        assert env["INPUT_POETRY_DEPENDENCIES"] == "${{ inputs.poetry-dependencies }}"
        assert "inputs." not in steps[step]["run"]


def test_release_missing_from_the_table_gets_a_notice_and_its_own_key(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked, notice = plan(project, tmp_path, capsys, "--poetry-version", "2.4.2")
    assert "warning: Poetry 2.4.2 is not in the locked table (2.0.1, 2.1.4, 2.2.1, 2.3.4," in notice
    assert "as the index had them when 2.4.2 was released, without hash checking" in notice
    latest, log = plan(
        project, tmp_path, capsys, "--poetry-version", "2.4.2", "--poetry-dependencies", "latest"
    )
    assert "not in the locked table" not in log
    assert latest != locked


def test_a_changed_table_is_a_new_install(
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    locks = Path(shutil.copytree(poetry_deps.LOCKS, tmp_path / "locks"))
    monkeypatch.setattr(poetry_deps, "LOCKS", locks)
    before = plan(project, tmp_path, capsys, "--poetry-version", "2.5.1")
    lock = locks / "poetry-2.5.1.txt"
    text = lock.read_text()
    altered = re.sub(r"^tomlkit==\S+", "tomlkit==0.15.1", text, count=1, flags=re.M)
    assert altered != text  # the table pins another tomlkit: this is a change
    lock.write_text(altered)
    assert plan(project, tmp_path, capsys, "--poetry-version", "2.5.1")[0] != before[0]
    # A release the table lacks is keyed by its date, a fact that never changes: stable.
    other = plan(project, tmp_path, capsys, "--poetry-version", "2.5.0")
    assert plan(project, tmp_path, capsys, "--poetry-version", "2.5.0") == other


@pytest.mark.parametrize("version", REQUIRED)
def test_table_pins_every_package_to_one_version_per_environment_with_hashes(version: str) -> None:
    path = poetry_deps.lock_path(version)
    assert path is not None, f"Poetry {version} is not in the table"
    text = path.read_text()
    entries = re.findall(r"^(\S+)==(\S+)(?: ; ([^\\\n]+))? \\\n((?:    --hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", text, re.M)  # fmt: skip
    assert len(entries) == len(re.findall(r"^\S+==", text, re.M)) >= 40
    assert ("poetry", version) in [(name, v) for name, v, _, _ in entries]
    header = text.splitlines()[:3]
    assert header[2] == (
        f"#   python -m setup_poetry_parallel.lock_poetry {version} --exclude-newer"
        f" {EXCLUDE_NEWER}" + CONSTRAINED.get(version, "")
    )


def test_2_0_1_locks_a_virtualenv_that_honours_try_first_with() -> None:
    """Poetry 2.0 passes the env's interpreter as `--try-first-with`, which virtualenv 20.33
    ignores (python-poetry/poetry#10490): the table keeps the cap 2.1.4 added."""
    lock = poetry_deps.lock_path("2.0.1")
    assert lock is not None
    versions = re.findall(r"^virtualenv==(\S+)", lock.read_text(), re.M)
    assert versions
    assert all(Version(v) < Version("20.33") for v in versions), versions


def test_constraints_reach_the_resolution_and_the_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release's known constraints and the given ones, each once, in uv's resolution (a
    constraints file) and in the header's command, quoted for a shell."""
    seen: dict[str, str] = {}

    def run(argv: list[str], **_: object) -> str:
        seen["constraints"] = Path(argv[argv.index("--constraint") + 1]).read_text()
        return "poetry==2.0.1 \\\n"

    files = release_files.ReleaseFiles(uploaded=None, requires_python=">=3.9,<4.0")
    monkeypatch.setattr(release_files, "read", lambda *_: files)
    monkeypatch.setattr(lock_poetry.process, "run", run)
    argv = ["2.0.1", "--exclude-newer", "2026-11-26T10:00:00Z", "--locks-dir", str(tmp_path)]
    assert lock_poetry.main([*argv, "--constraint", "virtualenv<20.33", "--constraint", "x>1"]) == 0
    assert seen["constraints"] == "virtualenv<20.33\nx>1\n"
    command = (tmp_path / "poetry-2.0.1.txt").read_text().splitlines()[2]
    assert command.endswith(
        " 2026-11-26T10:00:00Z --constraint 'virtualenv<20.33' --constraint 'x>1'"
    )
    assert lock_poetry.constraints("2.5.1") == ()


def test_locked_releases_are_sorted_as_versions() -> None:
    releases = poetry_deps.locked_releases()
    assert set(REQUIRED) <= set(releases)
    assert releases == sorted(releases, key=Version)


@pytest.mark.parametrize(
    ("requires", "minimum"), [(">=3.9,<4.0", "3.9"), ("<4.0,>=3.10", "3.10"), (">=3.8.1", "3.8")]
)
def test_minimum_python(requires: str, minimum: str) -> None:
    assert lock_poetry.minimum_python(requires) == minimum


def test_release_files_reads_the_last_upload_and_requires_python() -> None:
    page = {
        "files": [
            {"filename": "poetry-2.4.2-py3-none-any.whl", "upload-time": "2026-08-29T19:18:37.398274Z", "requires-python": ">=3.10"},
            {"filename": "poetry-2.4.2.tar.gz", "upload-time": "2026-08-29T19:18:39.100000Z"},
            {"filename": "poetry-2.4.3.tar.gz", "upload-time": "2026-09-05T08:59:13Z"},
            {"filename": "poetry_plugin-2.4.2.tar.gz", "upload-time": "2027-01-01T00:00:00Z"},
        ]
    }  # fmt: skip
    found = release_files.of_version(page, "poetry", Version("2.4.2"))
    assert found.uploaded == datetime.datetime(2026, 8, 29, 19, 18, 39, 100000, tzinfo=datetime.UTC)
    assert found.requires_python == ">=3.10"
    page["files"][1].pop("upload-time")  # an index that does not say: no date, not a guess
    assert release_files.of_version(page, "poetry", Version("2.4.2")).uploaded is None


@pytest.mark.network
@pytest.mark.parametrize("version", ["2.0.1", "2.5.1"])  # with a known constraint, without
def test_maintenance_command_reproduces_the_shipped_table(version: str, tmp_path: Path) -> None:
    """The header's command, rerun: byte for byte the shipped file (what the table pins is
    the index's state at a recorded time, not whatever day the install runs)."""
    shipped = poetry_deps.LOCKS / f"poetry-{version}.txt"
    command = shlex.split(shipped.read_text().splitlines()[2].split("lock_poetry ", 1)[1])
    argv = [*command, "--locks-dir", str(tmp_path)]
    assert lock_poetry.main(argv) == 0
    assert (tmp_path / f"poetry-{version}.txt").read_bytes() == shipped.read_bytes()


@pytest.mark.network
@pytest.mark.parametrize("version", ["2.0.1", "2.5.1"])
@pytest.mark.parametrize("platform", ["linux", "macos", "windows"])
def test_table_covers_every_platform_and_python(
    version: str, platform: str, tmp_path: Path
) -> None:
    """Resolved for one platform and Python within the table: every package that needs is
    in the table (the universal resolution missed none), at the table's version."""
    import subprocess

    from uv import find_uv_bin

    lock = poetry_deps.lock_path(version)
    assert lock is not None
    text = lock.read_text()
    minimum = re.search(r"Python (3\.\d+) and newer", text)
    assert minimum is not None
    table = {
        tuple(line.split(" ; ")[0].split("==")) for line in poetry_deps.pins(text).splitlines()
    }
    request = tmp_path / "poetry.in"
    request.write_text(f"poetry=={version}\n")
    for python in (minimum.group(1), "3.13"):
        resolved = subprocess.run(
            [find_uv_bin(), "pip", "compile", "--quiet", "--no-header", "--no-annotate",
             "--python-platform", platform, "--python-version", python,
             "--constraint", str(lock), str(request)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        pins = {tuple(line.split(" ; ")[0].split("==")) for line in resolved.splitlines()}
        assert len(pins) >= 30
        assert pins <= table, f"{platform} {python}: {sorted(pins - table)}"
