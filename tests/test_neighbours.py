"""Neighbours on a shared host (#18 part 3): another local user, made by the test, plants a
state dir, an engine dir or a symlinked install dir where this user's setup would look, and
the setup refuses it before it writes, imports or follows anything there. Each case has its
control: the same plant, taken by the layout or the code as it was, runs the neighbour's code.

The victim is the user running the tests (root here: the owner rule exempts root-owned dirs,
never another user's). Skipped with the reason where useradd or root is missing.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import setup_poetry_parallel
from setup_poetry_parallel import cli, settings
from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.jobs import job
from setup_poetry_parallel.path_errors import preparing
from setup_poetry_parallel.paths import install_paths
from setup_poetry_parallel.settings import RawInputs
from setup_poetry_parallel.startup import defaults, engine_deps
from setup_poetry_parallel.store import install
from tests.projects import make_project

# The checkout whose code runs: the tree under test (PYTHONPATH picks it, for a control run).
ROOT = Path(setup_poetry_parallel.__file__).resolve().parents[2]
ENGINE_TOP_LEVEL = ("filelock", "packaging", "poetry", "requests", "uv")


@dataclass(frozen=True)
class Neighbour:
    name: str
    uid: int
    gid: int

    def run(self, *command: str) -> None:
        subprocess.run(command, user=self.uid, group=self.gid, extra_groups=[], cwd="/", check=True)

    def write(self, path: Path, text: str, mode: int = 0o755) -> None:
        self.run("sh", "-c", 'mkdir -p "$(dirname "$1")" && printf %s "$2" > "$1" && chmod "$3" "$1"',
                 "sh", str(path), text, oct(mode)[2:])  # fmt: skip


@pytest.fixture(scope="module")
def neighbour() -> Iterator[Neighbour]:
    if os.name != "posix" or os.getuid() != 0:
        pytest.skip("needs root to create a second local user")
    useradd, userdel = shutil.which("useradd"), shutil.which("userdel")
    if not useradd or not userdel:
        pytest.skip("needs useradd and userdel to create a second local user")
    name = f"sppn{secrets.token_hex(4)}"
    subprocess.run([useradd, "--no-create-home", "--shell", "/bin/sh", name], check=True)
    try:
        import pwd

        entry = pwd.getpwnam(name)
        yield Neighbour(name, entry.pw_uid, entry.pw_gid)
    finally:
        subprocess.run([userdel, "--force", name], check=False, capture_output=True)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory like /tmp: world-writable, sticky, reachable by every user."""
    path = Path(tempfile.mkdtemp(prefix="spp-neighbours-", dir="/tmp"))
    try:
        path.chmod(0o1777)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --- the state dir ---------------------------------------------------------------------------


def test_a_state_dir_another_user_made_first_is_refused(
    neighbour: Neighbour, shared_tmp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The old default: a predictable name in the shared temp dir. The neighbour makes it first.
    planted = shared_tmp / f"setup-poetry-parallel-{os.getuid()}"
    neighbour.run("mkdir", "-m", "0777", str(planted))

    # Control: a job dir made in it the way the old code made it (mkdir, trusted as found)
    # is the neighbour's to swap: she renames it away and puts her own `bin/poetry` there.
    victim_job = planted / "job"
    (victim_job / "bin").mkdir(parents=True)
    (victim_job / "bin" / "poetry").symlink_to("/bin/true")
    neighbour.run("mv", str(victim_job), str(planted / "taken"))
    neighbour.write(victim_job / "bin" / "poetry", "#!/bin/sh\necho the neighbour code\n")
    ran = subprocess.run(
        [str(victim_job / "bin" / "poetry")], check=False, capture_output=True, text=True
    )
    assert ran.stdout == "the neighbour code\n", "control: the old layout let her swap poetry"

    # The default no longer lies in the shared temp dir...
    environ = {"TMPDIR": str(shared_tmp), "HOME": str(tmp_path / "home")}
    default = Path(defaults.state_dir(environ))
    assert shared_tmp not in default.parents
    # ...and a state dir that is not this user's is refused before anything is written in it.
    fresh = planted / "fresh-job"
    code = cli.main(
        [
            "--poetry-version", "2.5.1",
            "--working-directory", str(make_project(tmp_path / "project")),
            "--install-dir", str(tmp_path / "install"),
            "--state-dir", str(planted),
            "--job-id", "fresh-job",
            "--format", "json",
        ],
        dict(os.environ),
    )  # fmt: skip
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2, err
    assert len(errors) == 1, err
    assert errors[0].startswith(f"error: state-dir {planted} belongs"), errors[0]
    assert not fresh.exists()
    assert not (tmp_path / "install").exists(), "nothing built for a refused state dir"


def test_the_default_state_dir_is_made_private_even_under_umask_0(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(tmp_path / "home/.cache")}
    state = Path(defaults.state_dir(environ))
    configured = _settings(tmp_path, state_dir=state)
    with _umask(0):
        made = job.make_dirs(configured)
        install.make_dirs(install_paths(configured.install_dir, "poetry-x"))
    assert _mode(state) == 0o700
    assert _mode(Path(made.root)) == 0o700
    for directory in made.created_dirs():
        assert _mode(Path(directory)) == 0o755, directory
    for directory in (configured.install_dir, configured.install_dir / "poetry-x"):
        assert _mode(directory) == 0o755, directory
    # The parents it had to make too: none of them open to others.
    assert not _mode(tmp_path / "install-parent") & 0o022


def test_a_group_writable_or_linked_state_dir_is_refused(tmp_path: Path) -> None:
    open_to_group = tmp_path / "group"
    open_to_group.mkdir(mode=0o770)
    open_to_group.chmod(0o770)
    link = tmp_path / "link"
    link.symlink_to(open_to_group)
    for state, says in ((open_to_group, "writable by its group"), (link, "symbolic link")):
        with pytest.raises(SetupError, match=says) as raised:
            job.make_dirs(_settings(tmp_path, state_dir=state))
        assert raised.value.input == "state-dir"
        assert raised.value.exit_code == 2


# --- the install dir -------------------------------------------------------------------------


def test_an_install_dir_linked_to_another_users_open_dir_is_refused(
    neighbour: Neighbour, shared_tmp: Path, tmp_path: Path
) -> None:
    theirs = shared_tmp / "theirs"
    neighbour.run("mkdir", "-m", "0777", str(theirs))
    link = shared_tmp / "spp"
    neighbour.run("ln", "-s", str(theirs), str(link))
    configured = settings.validate(
        RawInputs(install_dir=str(link), working_directory=str(make_project(tmp_path / "p"))),
        dict(os.environ),
    )
    # The old code checked only <install-dir>/<key>, which it made itself: accepted.
    # The store knows no inputs: the engine names install-dir around it, as here.
    with (
        pytest.raises(
            SetupError, match=f"^install-dir .* belongs to uid {neighbour.uid}"
        ) as raised,
        preparing("install-dir", configured.install_dir),
    ):
        install.make_dirs(install_paths(configured.install_dir, "poetry-x"))
    assert raised.value.input == "install-dir"
    assert not (theirs / "poetry-x").exists()


# --- the bootstrap: nothing imported from a planted engine -----------------------------------


def _plant_engine(neighbour: Neighbour, install_dir: Path, marker: Path) -> Path:
    """The neighbour's code where the bootstrap looks for the engine's dependencies."""
    deps = engine_deps.dependencies()
    target = engine_deps.engine_dir(install_dir, deps, engine_deps.fetch_wheels.LOCK.read_bytes())
    code = f"open({str(marker)!r}, 'w').write('imported'); raise SystemExit(99)\n"
    for name in ENGINE_TOP_LEVEL:
        neighbour.write(target / name / "__init__.py", code, 0o644)
    return target


def _bootstrap(install_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`--plan` for a project: the engine imports its dependencies (packaging) at once."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "INPUT_INSTALL_DIR": str(install_dir),
        "INPUT_WORKING_DIRECTORY": str(make_project(tmp_path / "project")),
        "INPUT_POETRY_VERSION": "2.5.1",
        "UV_DEFAULT_INDEX": "http://127.0.0.1:9/simple",  # nothing may be fetched either
    }
    script = ROOT / "src" / "setup_poetry_parallel" / "bootstrap.py"
    return subprocess.run(
        ["/usr/bin/python3", "-I", str(script), "--inputs-from-env", "--plan"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("where", ["sticky install dir", "their install dir", "linked install dir"])
def test_a_planted_engine_is_never_imported(
    where: str, neighbour: Neighbour, shared_tmp: Path, tmp_path: Path
) -> None:
    if not Path("/usr/bin/python3").exists():
        pytest.skip("needs /usr/bin/python3 (3.11+) for the bootstrap")
    marker = shared_tmp / "imported"
    if where == "sticky install dir":  # /tmp itself as install-dir, as SECURITY.md allowed
        install_dir = shared_tmp
        neighbour.run("mkdir", "-m", "0755", str(shared_tmp / "engine"))
    else:
        theirs = shared_tmp / "theirs"
        neighbour.run("mkdir", "-m", "0777", str(theirs))
        install_dir = theirs
        if where == "linked install dir":
            install_dir = shared_tmp / "spp"
            neighbour.run("ln", "-s", str(theirs), str(install_dir))
    _plant_engine(neighbour, install_dir.resolve(), marker)

    done = _bootstrap(install_dir, tmp_path)

    assert not marker.exists(), f"the neighbour's code ran: {done.stderr}"
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: install-dir: "), done.stderr
    assert "(nothing was imported from it)" in done.stderr


def test_a_symlinked_engine_lock_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    lock = tmp_path / "engine.lock"
    lock.symlink_to(victim)
    with pytest.raises(engine_deps.Untrusted, match="symbolic link"), engine_deps.locked(lock):
        pass
    assert victim.read_text() == "precious"


def test_the_install_dir_and_engine_dir_are_closed_to_others_under_umask_0(
    tmp_path: Path,
) -> None:
    with _umask(0):
        resolved = engine_deps.prepared(tmp_path / "a" / "install")
    for directory in (tmp_path / "a", resolved, resolved / "engine"):
        assert _mode(directory) == 0o755, directory


# --- helpers ---------------------------------------------------------------------------------


def _settings(tmp_path: Path, *, state_dir: Path) -> settings.Settings:
    raw = RawInputs(
        working_directory=str(make_project(tmp_path / "project")),
        install_dir=str(tmp_path / "install-parent" / "install"),
        state_dir=str(state_dir),
        job_id="job",
        download_cache="false",
    )
    configured = settings.validate(raw, dict(os.environ))
    # validate resolves a link; the check must see the path as given.
    return configured if not state_dir.is_symlink() else _replace_state(configured, state_dir)


def _replace_state(configured: settings.Settings, state_dir: Path) -> settings.Settings:
    from dataclasses import replace

    return replace(configured, state_dir=state_dir)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@contextlib.contextmanager
def _umask(value: int) -> Iterator[None]:
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)
