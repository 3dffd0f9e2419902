"""Fast install's proof of sameness (#21 item 2): `poetry install` with and without
`SPP_FAST_INSTALL` leaves the same environment, and refuses a spoiled archive as Poetry does.

Each case installs twice into a fresh env at the same path (the job's Poetry, set up by our CLI;
the first env is read into a snapshot and removed before the second install), once by Poetry's
own installer and once with fast install on (`SPP_FAST_INSTALL` = the absolute path of uv), and
compares the snapshots (tests/poetry_plugin/snapshot.py says what is compared and the little
that is normalised). Projects that have index packages are served by a loopback proxy of the
real index under a URL of its own (so neither uv's nor Poetry's cache holds its files yet),
which logs each request's User-Agent: with fast install on, uv must have fetched files, so no case
passes with the plugin silently off.

2.5.1 runs every case; each older line (2.0-2.4) runs the mixed project both ways.
"""

from __future__ import annotations

import importlib.util
import platform
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import uv

from tests.engine_cli import argv, finish, start
from tests.poetry_plugin.logged_index import MARK, SPOILS, Log, logged_index
from tests.poetry_plugin.mixed_project import DROPPED, SELECT, make_mixed, pyproject
from tests.poetry_plugin.snapshot import Snapshot, differences, snapshot
from tests.projects import POETRY_VERSION, SIMPLE_INDEX, make_project
from tests.real_projects import APOLOGIES, UCIPARSE, RealProject, adapt_to_this_index, fetch
from tests.repo import REPO

pytestmark = pytest.mark.real

LINES = ("2.0.1", "2.1.4", "2.2.1", "2.3.4", "2.4.3")
ENV_MINOR, OTHER_MINOR = "3.12", "3.10"
UV = str(Path(uv.find_uv_bin()).resolve())
UV_AGENT = "uv/"


def job(version: str, project: Path, install_dir: Path, state: Path) -> dict[str, str]:
    """The job's environment after our CLI set up Poetry `version` for `project`, fast install
    off (the tests switch it on per command)."""
    command = argv(project, install_dir, state, f"job-{version}", "--python-version", ENV_MINOR)
    command[command.index("--poetry-version") + 1] = version
    done = finish(start(command))
    assert done.returncode == 0, done.stderr
    assert done.outputs["poetry-version"] == version
    env = done.env()
    env.pop("SPP_FAST_INSTALL", None)
    return env


def poetry(
    env: dict[str, str], project: Path, *args: str, fast: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {**env, "SPP_FAST_INSTALL": UV} if fast else env
    return subprocess.run(
        ["poetry", *args], cwd=project, env=env, capture_output=True, text=True, check=False
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def env_path(env: dict[str, str]) -> Path:
    """The project's env: the one env in the job's own virtualenvs dir (each test's job is its
    own, for one project; cheaper than asking `poetry env info`)."""
    [path] = _envs(env)
    return path


def _envs(env: dict[str, str]) -> list[Path]:
    # Beside them Poetry keeps envs.toml: which Python `poetry env use` chose.
    return [p for p in Path(env["POETRY_VIRTUALENVS_PATH"]).iterdir() if p.is_dir()]


def fresh(env: dict[str, str]) -> None:
    """Remove the project's env, if it has one yet: the next install makes it again at the
    same path, named after the project's path and the Python it was told to use."""
    for path in _envs(env):
        shutil.rmtree(path)


def point_at(project: Path, index: str) -> None:
    """The project's source, SIMPLE_INDEX while our CLI set up the job (so that the job reuses
    the session's Poetry install instead of building one through this test's index), becomes
    the test's loopback index."""
    pyproject_toml = project / "pyproject.toml"
    text = pyproject_toml.read_text()
    assert SIMPLE_INDEX in text
    pyproject_toml.write_text(text.replace(SIMPLE_INDEX, index))


def same_both_ways(
    env: dict[str, str], project: Path, *args: str, log: Log | None = None
) -> Snapshot:
    """Install into a fresh env both ways and compare. With the index's `log`: uv asked it for
    nothing during Poetry's own install (the control) and for files during the fast one (the
    proof that fast install was on)."""
    found: list[Snapshot] = []
    for fast in (False, True):
        fresh(env)
        asked = len(log.requests) if log else 0
        ok(poetry(env, project, "install", *args, fast=fast))
        found.append(snapshot(env_path(env)))
        if log:
            by_uv = uv_fetched(log, asked)
            assert bool(by_uv) == fast, f"fast install {'on' if fast else 'off'}, uv: {by_uv}"
    changed = differences(*found)
    assert not changed, f"{len(changed)} differences:\n" + "\n".join(changed)
    return found[1]


def uv_fetched(log: Log, since: int) -> list[str]:
    """The files uv asked the index for after its `since`th request."""
    return [p for p in log.agents(UV_AGENT, since) if p.startswith("/files/")]


def distributions(found: Snapshot) -> set[str]:
    return {value.split()[0].lower() for key, value in found.items() if key.endswith("/version")}


@pytest.fixture
def index() -> Iterator[tuple[str, Log]]:
    with logged_index() as served:
        yield served


def mixed_job(
    version: str, root: Path, index: str, install_dir: Path
) -> tuple[Path, dict[str, str]]:
    """The mixed project under `root`, a job of Poetry `version` for it, the project locked."""
    project = make_mixed(root, SIMPLE_INDEX, ENV_MINOR, OTHER_MINOR)
    env = job(version, project, install_dir, root / "state")
    point_at(project, index)
    ok(poetry(env, project, "lock"))
    return project, env


# --- 2.5.1: every case -------------------------------------------------------------------


def test_mixed_project_is_the_same_both_ways(
    index: tuple[str, Log], shared_install_dir: Path, tmp_path: Path
) -> None:
    url, log = index
    project, env = mixed_job(POETRY_VERSION, tmp_path, url, shared_install_dir)
    asked = len(log.requests)
    found = same_both_ways(env, project, *SELECT, log=log)

    # Every index package of the env came through uv (Poetry's install asked uv for nothing);
    # so may the path dependencies' build backend, installed into their build env by Poetry's
    # installer, when uv's cache does not hold it yet.
    by_uv = {p.removeprefix("/files/").split("-")[0].lower() for p in uv_fetched(log, asked)}
    index_packages = {"six", "markupsafe", DROPPED, "iniconfig", "idna", "pyflakes"}
    assert index_packages <= by_uv <= {*index_packages, "poetry_core"}, by_uv
    names = distributions(found)
    assert {*index_packages, "localdev", "localcopy", "localgit", "mixed"} <= names, names
    assert not {"colorama", "packaging", "pycodestyle"} & names, names  # marker, extra, group
    assert f"bin/{DROPPED}" in found
    assert any(key.startswith("site-packages/localdev") for key in found), "develop: a .pth"


def test_compile_differs_only_in_whose_bytecode(
    index: tuple[str, Log], shared_install_dir: Path, tmp_path: Path
) -> None:
    """`poetry install --compile`: Poetry's installer compiles each file it installs in its own
    process, so for Poetry's Python (3.11 here), not the env's (3.12): bytecode the env never
    reads (Poetry's bug, not ours). Fast install passes --compile-bytecode to uv, which compiles
    with the env's Python. Everything else is the same; no RECORD lists bytecode either way."""
    url, _ = index
    project, env = mixed_job(POETRY_VERSION, tmp_path, url, shared_install_dir)
    found: list[Snapshot] = []
    for fast in (False, True):
        fresh(env)
        ok(poetry(env, project, "install", *SELECT, "--compile", fast=fast))
        found.append(snapshot(env_path(env)))
    bytecode = [{k for k in side if "/__pycache__/" in k} for side in found]
    rest = [{k: v for k, v in side.items() if "/__pycache__/" not in k} for side in found]
    changed = differences(*rest)
    assert not changed, f"{len(changed)} differences:\n" + "\n".join(changed)
    poetry_python = "cpython-" + "".join(platform.python_version_tuple()[:2])
    env_python = "cpython-" + ENV_MINOR.replace(".", "")
    six = "site-packages/__pycache__/six.{}.pyc"
    assert six.format(poetry_python) in bytecode[0]
    assert six.format(env_python) in bytecode[1]  # uv compiled it, for the env's Python
    if poetry_python != env_python:
        assert six.format(poetry_python) not in bytecode[1]


def test_sync_after_removing_a_dependency_and_only_root(
    index: tuple[str, Log], shared_install_dir: Path, tmp_path: Path
) -> None:
    """`install --sync` after a dependency left the project removes it the same both ways (the
    removal stays Poetry's), and `--only-root` touches nothing else, both ways."""
    url, log = index
    project, env = mixed_job(POETRY_VERSION, tmp_path, url, shared_install_dir)
    full = (project / "pyproject.toml").read_text(), (project / "poetry.lock").read_text()
    less_text = pyproject(url, (tmp_path / "git").as_uri(), ENV_MINOR, OTHER_MINOR, drop=DROPPED)
    (project / "pyproject.toml").write_text(less_text)
    ok(poetry(env, project, "lock"))
    less = less_text, (project / "poetry.lock").read_text()

    def use(files: tuple[str, str]) -> None:
        (project / "pyproject.toml").write_text(files[0])
        (project / "poetry.lock").write_text(files[1])

    synced: list[Snapshot] = []
    for fast in (False, True):
        use(full)
        fresh(env)
        asked = len(log.requests)
        ok(poetry(env, project, "install", *SELECT, fast=fast))
        assert bool(uv_fetched(log, asked)) == fast
        path = env_path(env)
        use(less)
        if fast:  # control: without --sync the dropped dependency stays
            ok(poetry(env, project, "install", *SELECT, fast=fast))
            assert DROPPED in distributions(snapshot(path))
        ok(poetry(env, project, "install", "--sync", *SELECT, fast=fast))
        synced.append(snapshot(path))
        ok(poetry(env, project, "install", "--only-root", fast=fast))
        untouched = differences(synced[-1], snapshot(path))
        assert not untouched, f"--only-root (fast={fast}) changed:\n" + "\n".join(untouched)
    found = differences(*synced)
    assert not found, f"{len(found)} differences after --sync:\n" + "\n".join(found)
    assert DROPPED not in distributions(synced[1])
    assert f"bin/{DROPPED}" not in synced[1]

    only_root = same_both_ways(env, project, "--only-root")
    assert "six" not in distributions(only_root)
    assert "mixed" in distributions(only_root)


@pytest.mark.parametrize("how", ["intact", *SPOILS])
def test_a_spoiled_archive_is_refused_both_ways(
    how: str, shared_install_dir: Path, tmp_path: Path
) -> None:
    """The index serves tabulate's wheel spoiled (a hash mismatch against the lock): Poetry
    refuses it, so does fast install (uv asked for it), and neither leaves it in the env.
    Control (`intact`): the same project and index serving it as it is installs both ways."""
    project = make_project(tmp_path / "project", plugins="", dependencies=f'"six", "{DROPPED}"')
    env = job(POETRY_VERSION, project, shared_install_dir, tmp_path / "state")
    with logged_index(spoiled="" if how == "intact" else DROPPED, how=how) as (url, log):
        point_at(project, url)
        ok(poetry(env, project, "lock"))
        if how == "intact":
            assert DROPPED in distributions(same_both_ways(env, project, log=log))
            assert not log.spoiled
            return
        codes = []
        for fast in (False, True):
            fresh(env)
            asked = len(log.requests)
            done = poetry(env, project, "install", fast=fast)
            codes.append(done.returncode)
            output = done.stdout + done.stderr
            path = env_path(env)
            assert done.returncode != 0, f"fast={fast} installed a spoiled archive:\n{output}"
            # Poetry's own refusal, both ways: with fast install, uv refuses first and the
            # plugin hands the packages back to Poetry's installer, which refuses it again.
            assert f"Cannot install {DROPPED}." in output, output
            assert "not found in known hashes" in output, output
            assert DROPPED not in distributions(snapshot(path)), output
            assert not (path / "bin" / DROPPED).exists()
            site = next(path.glob("lib/python3*/site-packages"))
            assert not any(MARK in f.read_bytes() for f in site.rglob("*.py")), output
            by_uv = [p for p in uv_fetched(log, asked) if DROPPED in p]
            assert bool(by_uv) == fast, f"fast={fast}, uv asked for {by_uv}"
            print(f"{how}, fast={fast}: exit {done.returncode}, {output.count('Warning')} warnings")
        assert log.spoiled
        assert codes[0] == codes[1], codes


def demo_checkout(root: Path) -> Path:
    """The README's demo as demo/run.py makes it: a git repository tagged v1.2.3."""
    spec = importlib.util.spec_from_file_location("demo_run", REPO / "demo" / "run.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    project: Path = module.make_project(root)
    return project


def test_demo_is_the_same_both_ways(shared_install_dir: Path, tmp_path: Path) -> None:
    """No dependencies: only the root project (dynamic version from the tag, editable .pth)."""
    project = demo_checkout(tmp_path)
    env = job(POETRY_VERSION, project, shared_install_dir, tmp_path / "state")
    found = same_both_ways(env, project)
    assert found["demo-1.2.3.dist-info/version"] == "demo 1.2.3"
    assert "site-packages/demo.pth" in found


@pytest.mark.parametrize("real", [UCIPARSE, APOLOGIES], ids=lambda p: p.name)
def test_real_project_is_the_same_both_ways(
    real: RealProject, index: tuple[str, Log], shared_install_dir: Path, tmp_path: Path
) -> None:
    """The suite's two real projects (tests/real_projects.py), on the loopback index."""
    url, log = index
    root = fetch(real, tmp_path)
    adapt_to_this_index(root)
    env = job(POETRY_VERSION, root, shared_install_dir, tmp_path / "state")
    point_at(root, url)
    ok(poetry(env, root, "lock"))

    found = same_both_ways(env, root, log=log)

    assert real.name in distributions(found)
    assert len(distributions(found)) > 3, sorted(distributions(found))


# --- every older line: the mixed project -------------------------------------------------


@pytest.mark.parametrize("version", LINES)
def test_older_line_mixed_project_is_the_same_both_ways(
    version: str, index: tuple[str, Log], shared_install_dir: Path, tmp_path: Path
) -> None:
    url, log = index
    project, env = mixed_job(version, tmp_path, url, shared_install_dir)
    found = same_both_ways(env, project, *SELECT, log=log)
    assert {"six", "localdev", "localgit", "mixed"} <= distributions(found)
