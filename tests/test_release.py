"""The release: distributions that pass `twine check --strict` and hold what they must, the
CHANGELOG section that becomes the release notes, and the release workflow's build job under act.

The distributions are built from the files a fresh checkout of this working tree would hold
(tracked and new files, nothing ignored), as the release workflow builds them: a developer's
`.venv/`, caches or hypothesis database never reach them. The act run stops before `publish` and
`github-release`: it runs the `build` job only (`act -j build`), on a tag push, with the pinned
remote actions mapped to stand-ins in tests/fixtures/act/stubs (they cannot be downloaded here).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.act_runner import FIXTURES, ROOT, ActResult, ActSession, runner_env
from tests.repo import SRC

RELEASE_WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
CHANGELOG = ROOT / "CHANGELOG.md"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
DIST_NAME = "setup_poetry_parallel"


def load_changelog_script() -> ModuleType:
    path = ROOT / ".github" / "scripts" / "changelog_section.py"
    spec = importlib.util.spec_from_file_location("changelog_section", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


changelog = load_changelog_script()


def venv_tool(name: str) -> str | None:
    return shutil.which(name, path=str(Path(sys.executable).parent))


def checkout_copy(target: Path) -> Path:
    """What `actions/checkout` of this working tree would give: tracked and new, not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not released
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name, follow_symlinks=False)
    return target


# --- (a) the distributions ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = checkout_copy(tmp_path_factory.mktemp("checkout"))
    out = tmp_path_factory.mktemp("dist")
    uv = venv_tool("uv")
    assert uv, "uv is not installed in this venv (pip install -e '.[test]')"
    subprocess.run(
        [uv, "build", "--quiet", "--python", sys.executable, "--out-dir", str(out), str(source)],
        check=True,
    )
    return out


def twine_argv() -> list[str]:
    """twine from this venv; until the test extra has it, a throwaway one run by uv."""
    if twine := venv_tool("twine"):
        return [twine]
    uv = venv_tool("uv")
    assert uv
    # twine 7: hatchling >= 1.30 writes Metadata-Version 2.5, which twine 6 rejects.
    return [uv, "tool", "run", "--from", "twine>=7", "twine"]


@pytest.mark.real
def test_distributions_pass_twine_check_strict(dists: Path) -> None:
    files = sorted(p for p in dists.iterdir() if p.name.endswith((".whl", ".tar.gz")))
    assert [f.name for f in files] == [
        f"{DIST_NAME}-{VERSION}-py3-none-any.whl",
        f"{DIST_NAME}-{VERSION}.tar.gz",
    ]
    done = subprocess.run(
        [*twine_argv(), "check", "--strict", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 2, done.stdout


@pytest.mark.real
def test_wheel_holds_the_engine_its_poetry_plugin_and_the_license(dists: Path) -> None:
    with zipfile.ZipFile(dists / f"{DIST_NAME}-{VERSION}-py3-none-any.whl") as wheel:
        names = set(wheel.namelist())
        info = f"{DIST_NAME}-{VERSION}.dist-info"
        metadata = wheel.read(f"{info}/METADATA").decode()
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    # Packed into a wheel of its own at run time (plugin_wheel.py): it must ship as source.
    assert f"{DIST_NAME}/poetry_plugin/spp_project_plugin_cache.py" in names
    assert {f"{DIST_NAME}/cli.py", f"{DIST_NAME}/bootstrap.py", f"{DIST_NAME}/console.py"} <= names
    # Every folder of the package ships (#19), the locked tables with it.
    tracked = {
        f"{DIST_NAME}/{p.relative_to(SRC).as_posix()}"
        for p in SRC.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert tracked <= names, sorted(tracked - names)
    assert f"{info}/licenses/LICENSE" in names
    assert f"\nVersion: {VERSION}\n" in metadata
    assert "\nLicense-Expression: MIT\n" in metadata
    # The console script tries the warm lane before it imports the engine (#20).
    assert "setup-poetry-parallel = setup_poetry_parallel.console:main" in entry_points
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


@pytest.mark.real
def test_sdist_holds_the_license_and_nothing_of_the_developer_machine(dists: Path) -> None:
    with tarfile.open(dists / f"{DIST_NAME}-{VERSION}.tar.gz") as sdist:
        top = f"{DIST_NAME}-{VERSION}/"
        names = {m.name.removeprefix(top) for m in sdist.getmembers()}
    assert {"LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "action.yml"} <= names
    assert f"src/{DIST_NAME}/poetry_plugin/spp_project_plugin_cache.py" in names
    leaked = [n for n in names if re.match(r"(\.venv|\.hypothesis|\.git)/|.*__pycache__", n)]
    assert leaked == []


# --- (b) the release notes ------------------------------------------------------------------------

SAMPLE = """\
# Changelog

Intro text.

## [Unreleased]

### Fixed

- Not released yet.

## [1.1.0] - 2026-12-01

### Added

- A feature described on two lines
  that GitHub would break in two.
- Another one.

```sh
keep  this
as is
```

## [1.0.0] - 2026-11-25

### Security

- The first release.

[1.1.0]: https://example.invalid/compare/v1.0.0...v1.1.0
[1.0.0]: https://example.invalid/releases/tag/v1.0.0
"""


def test_section_is_the_text_under_the_version_heading_unwrapped() -> None:
    assert changelog.section(SAMPLE, "1.1.0") == (
        "### Added\n\n"
        "- A feature described on two lines that GitHub would break in two.\n"
        "- Another one.\n\n"
        "```sh\nkeep  this\nas is\n```\n"
    )


def test_section_takes_the_tag_and_stops_at_link_references() -> None:
    assert changelog.section(SAMPLE, "v1.0.0") == "### Security\n\n- The first release.\n"
    assert changelog.section(SAMPLE, "Unreleased") == "### Fixed\n\n- Not released yet.\n"


@pytest.mark.parametrize(
    ("text", "version", "message"),
    [
        (SAMPLE, "1.2.0", r"no '## \[1.2.0\]' section"),
        (SAMPLE, "1.1", r"no '## \[1.1\]' section"),  # no prefix match
        ("## [2.0.0] - 2027-01-01\n\n## [1.0.0]\n- x\n", "v2.0.0", "is empty"),
    ],
)
def test_a_missing_or_empty_section_is_an_error(text: str, version: str, message: str) -> None:
    with pytest.raises(changelog.ChangelogError, match=message):
        changelog.section(text, version)


def test_main_prints_the_notes_or_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "CHANGELOG.md"
    path.write_text(SAMPLE)
    assert changelog.main([str(path), "v1.0.0"]) == 0
    assert capsys.readouterr().out == "### Security\n\n- The first release.\n"
    assert changelog.main([str(path), "v9.9.9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert changelog.main([str(tmp_path / "missing.md"), "v1.0.0"]) == 2
    assert changelog.main([str(path)]) == 2


def test_the_changelog_has_notes_for_the_package_version() -> None:
    """The release workflow refuses a tag without them: find out before tagging."""
    notes = changelog.section(CHANGELOG.read_text(), VERSION)
    assert notes.startswith("### ")
    assert "## [Unreleased]" in CHANGELOG.read_text()


# --- (c) the build job under act --------------------------------------------------------------

STUBS = FIXTURES / "stubs"


def pinned(action: str) -> str:
    """`action@<commit>` as release.yml pins it: act must find the stand-in under that ref."""
    text = RELEASE_WORKFLOW.read_text()
    [ref] = set(re.findall(rf"uses: ({re.escape(action)}@[0-9a-f]{{40}})", text))
    return ref


def tagged_checkout(root: Path, tag: str, env: dict[str, str]) -> Path:
    checkout_copy(root)
    git = ["git", "-c", "user.name=act test", "-c", "user.email=act@example.invalid"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "r"], ["tag", tag]):
        subprocess.run([*git, *args], cwd=root, check=True, env=env)
    return root


def run_build_job(tmp_path: Path, tag: str) -> tuple[ActResult, Path]:
    home = tmp_path / "act-home"
    home.mkdir()
    artifacts = tmp_path / "artifacts"
    env = {**runner_env(os.environ, home), "ACT_ARTIFACT_STUB_DIR": str(artifacts)}
    repo = tagged_checkout(tmp_path / "repo", tag, env)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"ref": f"refs/tags/{tag}", "ref_type": "tag"}))
    session = ActSession(home, action=repo, base_env=env)  # release.yml does not use the action
    result = session.run(
        repo,
        RELEASE_WORKFLOW.name,
        extra_args=[
            *("-j", "build", "-e", str(event)),
            *("--local-repository", f"{pinned('actions/setup-python')}={STUBS / 'setup-python'}"),
            *(
                "--local-repository",
                f"{pinned('actions/upload-artifact')}={STUBS / 'upload-artifact'}",
            ),
        ],
    )
    (tmp_path / "act.log").write_text(result.output)  # kept by pytest for a failed run
    print(f"act release.yml -j build ({tag}): exit {result.returncode} in {result.seconds:.1f} s")
    return result, artifacts


@pytest.mark.act
def test_build_job_builds_checks_and_uploads_the_release(tmp_path: Path) -> None:
    result, artifacts = run_build_job(tmp_path, f"v{VERSION}")
    assert result.returncode == 0, result.output[-6000:]
    assert result.succeeded_jobs() == ["release/build"], result.output[-6000:]
    assert result.values("version") == {"release/build": VERSION}
    [key] = result.values("cache-key").values()
    assert key.startswith("setup-poetry-parallel-")
    assert "-poetry-2.5.1-" in key
    assert sorted(p.name for p in (artifacts / "dist").iterdir()) == [
        f"{DIST_NAME}-{VERSION}-py3-none-any.whl",
        f"{DIST_NAME}-{VERSION}.tar.gz",
    ]
    notes = (artifacts / "release-notes" / "notes.md").read_text()
    assert notes == changelog.section(CHANGELOG.read_text(), VERSION)


@pytest.mark.act
def test_build_job_refuses_a_tag_that_is_not_the_package_version(tmp_path: Path) -> None:
    result, artifacts = run_build_job(tmp_path, "v9.9.9")
    assert result.returncode != 0
    assert result.failed_jobs() == ["release/build"]
    assert "tag v9.9.9 does not match the package version" in result.output
    assert not artifacts.exists()  # nothing built, nothing uploaded
