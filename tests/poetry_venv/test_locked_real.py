"""Poetry's dependencies from the locked table, for real: installed exactly, refused when the
index serves another file, a release missing from the table pinned as of its upload, and the
project's plugins resolved together with the table (or the plugin that conflicts named)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name
from uv import find_uv_bin

from setup_poetry_parallel.poetry_venv import poetry_deps
from tests.engine_cli import Setup, setup
from tests.tamper_index import serve

pytestmark = pytest.mark.real

PLUGIN_EXTRAS = {"poetry-dynamic-versioning", "dunamai", "jinja2", "markupsafe"}
OUR_PLUGIN = "setup-poetry-parallel-plugin-cache"


def python_of(done: Setup) -> Path:
    venv = Path(done.outputs["poetry-venv"])
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def freeze(done: Setup) -> dict[str, str]:
    """`uv pip freeze` of Poetry's venv: {name: version}."""
    out = subprocess.run(
        [find_uv_bin(), "pip", "freeze", "--python", str(python_of(done))],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    # Our cache plugin is a local wheel: `name @ file://...`, no version.
    pairs = (re.split(r"==| @ ", line, maxsplit=1) for line in out.splitlines() if line)
    return {canonicalize_name(name): version.rsplit("/", 1)[-1] for name, version in pairs}


def pins_for(done: Setup, pins_text: str) -> dict[str, str]:
    """The pins whose markers hold for Poetry's interpreter (the table has every platform's)."""
    environment = json.loads(
        subprocess.run(
            [str(python_of(done)), "-c",
             "import json; from packaging.markers import default_environment as d;"
             " print(json.dumps(d()))"],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    found = {}
    for line in pins_text.splitlines():
        requirement, _, marker = line.partition(" ; ")
        if not marker or Marker(marker).evaluate(environment):
            name, version = requirement.split("==")
            found[canonicalize_name(name)] = version
    return found


def table(version: str) -> str:
    path = poetry_deps.lock_path(version)
    assert path is not None
    return poetry_deps.pins(path.read_text())


def error_lines(done: Setup) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("error:")]


def installed_files(done: Setup) -> dict[str, set[tuple[str, str]]]:
    """Every installed dependency's files with their sha256, from the RECORDs. Scripts
    (their shebang names the venv) and bytecode are left out; our plugin wheel too."""
    site = next(python_of(done).parent.parent.glob("lib/python3*/site-packages"))
    found = {}
    for record in site.glob("*.dist-info/RECORD"):
        rows = (line.split(",") for line in record.read_text().splitlines())
        found[record.parent.name] = {
            (path, digest)
            for path, digest, *_ in rows
            if digest and not path.startswith("../") and not path.endswith(".pyc")
        }
    return {name: files for name, files in found.items() if "plugin_cache" not in name}


def test_locked_release_installs_exactly_the_table_on_any_day_with_the_project_plugins(
    project: Path, tmp_path: Path
) -> None:
    """Day one on the real index; day two on an index where a newer release of one of Poetry's
    dependencies (crashtest 0.4.2, which Poetry allows) has appeared, with an empty uv cache.
    Both install the table's pins, file for file; `latest` takes the new release that day."""
    one = setup(project, tmp_path / "one", tmp_path / "state", "a")
    with serve("crashtest", newer="0.4.2") as tomorrow:
        env = {**os.environ, "UV_DEFAULT_INDEX": tomorrow, "UV_CACHE_DIR": str(tmp_path / "c")}
        two = setup(project, tmp_path / "two", tmp_path / "state", "b", env=env)
        latest = setup(
            project, tmp_path / "three", tmp_path / "state", "c",
            "--poetry-dependencies", "latest", env=env,
        )  # fmt: skip
    for done in (one, two, latest):
        assert done.returncode == 0, done.stderr
    installed = freeze(one)
    locked = pins_for(one, table("2.5.1"))
    assert len(locked) >= 40
    assert {name: installed.get(name) for name in locked} == locked
    assert set(installed) - set(locked) == PLUGIN_EXTRAS | {OUR_PLUGIN}
    assert freeze(two) == installed
    files = installed_files(one)
    assert sum(len(f) for f in files.values()) > 1000
    assert installed_files(two) == files
    assert installed["crashtest"] == "0.4.1"
    assert freeze(latest)["crashtest"] == "0.4.2"  # the control: that day's index offers it
    assert "poetry-dynamic-versioning" in json.loads(one.outputs["plugins"])[0]
    assert "not in the locked table" not in one.stderr


def test_a_file_other_than_the_locked_one_is_refused(project: Path, tmp_path: Path) -> None:
    """An index that serves an altered crashtest wheel, listed with its own (matching) sha256:
    the table's hashes refuse it in one line; with `latest` the same index installs it."""
    with serve("crashtest") as index:
        env = {**os.environ, "UV_DEFAULT_INDEX": index, "UV_CACHE_DIR": str(tmp_path / "c1")}
        refused = setup(project, tmp_path / "one", tmp_path / "state", "a", env=env)
        env["UV_CACHE_DIR"] = str(tmp_path / "c2")
        control = setup(
            project, tmp_path / "two", tmp_path / "state", "b",
            "--poetry-dependencies", "latest", env=env,
        )  # fmt: skip
    assert refused.returncode == 1, refused.stderr
    assert error_lines(refused) == [
        f"error: crashtest 0.4.1 from the index {index} does not match the sha256 locked for"
        " Poetry 2.5.1 (poetry-2.5.1.txt): the index served another file; check the index or"
        " proxy, and report it if it is the public one"
    ]
    assert not list((tmp_path / "one").glob("*/builds/*/bin")), "the failed build is removed"
    assert control.returncode == 0, control.stderr
    module = python_of(control).parent.parent.glob("lib/python3*/site-packages/crashtest/*.py")
    assert any("# altered by the test index" in p.read_text() for p in module)


def test_release_missing_from_the_table_is_pinned_as_of_its_release(
    project: Path, tmp_path: Path
) -> None:
    assert poetry_deps.lock_path("2.4.2") is None
    done = setup(
        project, tmp_path / "install", tmp_path / "state", "a", "--poetry-version", "2.4.2"
    )
    assert done.returncode == 0, done.stderr
    assert "warning: Poetry 2.4.2 is not in the locked table" in done.stderr
    # Its files were uploaded at 19:18:3x; a minute later, so that all of them are in.
    assert re.search(r"as of 2026-08-29T19:19:\d\dZ \(its release\)", done.stderr), done.stderr
    pins_file = Path(done.outputs["poetry-venv"]) / "spp-poetry-pins.txt"
    pins = pins_for(done, poetry_deps.pins(pins_file.read_text()))
    installed = freeze(done)
    assert installed["poetry"] == "2.4.2"
    assert {name: installed.get(name) for name in pins} == pins
    # Resolved at the release, not today: the table's 2.4.3 (resolved as of December) differs.
    assert pins["certifi"] != pins_for(done, table("2.4.3"))["certifi"]


def test_a_plugin_that_conflicts_with_the_table_is_named(project: Path, tmp_path: Path) -> None:
    """Poetry 2.5.1 allows tomlkit>=0.11.4,<1; the table pins 0.15.3. `tomlkit<0.15` resolves
    with `latest` and not with the table, and the error says so."""
    args = ("--plugin", "tomlkit<0.15")
    locked = setup(project, tmp_path / "one", tmp_path / "state", "a", *args)
    latest = setup(
        project, tmp_path / "two", tmp_path / "state", "b", *args, "--poetry-dependencies", "latest"
    )
    assert locked.returncode == 2, locked.stderr
    [line] = error_lines(locked)
    assert line.startswith(
        "error: no release satisfies 'tomlkit<0.15' together with poetry==2.5.1 and its locked"
        " dependencies (poetry-2.5.1.txt)"
    ), line
    assert line.endswith("or set poetry-dependencies: latest")
    assert latest.returncode == 0, latest.stderr
    assert freeze(latest)["tomlkit"].startswith("0.14")
