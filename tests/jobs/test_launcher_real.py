"""The job's `poetry` launcher against the tools that strip the environment (issue 20), and the
job's own tox work dir, with real Poetry and real tox (from the package index).

Each case beside its control on the old `bin/poetry`, a symlink to the shared Poetry: there
the job's variables are lost and Poetry falls back to `<project>/.poetry/plugins` and $HOME's
dirs (the original bug). HOME is the case's own temp home, with no XDG variables, so $HOME's
Poetry dirs are where Poetry falls back to.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import have_git
from tests.engine_cli import Setup, argv, finish, start
from tests.jobs.test_dynamic_versioning_real import TAG, dynamic_project, git
from tests.projects import PYTHONS

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(os.name != "posix", reason="the launcher is POSIX sh"),
    pytest.mark.skipif(not have_git(), reason="poetry-dynamic-versioning reads the git tag"),
]

HOME_DIRS = (".cache/pypoetry", ".config/pypoetry", ".local/share/pypoetry")
PROBE = "import sys; print('ran on', sys.version_info[:2])"
# No pass_env: tox hands its commands none of the job's POETRY_* variables.
TOX_INI = textwrap.dedent(
    f"""\
    [tox]
    env_list = {",".join("py" + v.replace(".", "") for v in PYTHONS)}
    skip_missing_interpreters = false

    [testenv]
    skip_install = true
    allowlist_externals = poetry
    commands =
        poetry config cache-dir
        poetry install
        poetry run python -c "{PROBE}"
    """
)
# What tox and the commands get from the host beyond the job's exports: PATH (the job's dirs
# first), certificates; never the test session's XDG or Poetry variables.
HOST_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "LANG")


@pytest.fixture(scope="module")
def tox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tox from the package index, in a venv of its own."""
    venv = tmp_path_factory.mktemp("tox-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "install", "-q", "tox>=4.11"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return venv / "bin" / "tox"


@dataclass
class Case:
    project: Path
    home: Path
    setups: list[Setup]
    pyproject: bytes
    pyproject_mtime: int

    def env(self, setup: Setup, tox: Path, *, tox_work_dir: bool = True) -> dict[str, str]:
        """A later step's environment: the job's exports over a plain host environment."""
        base = {name: os.environ[name] for name in HOST_VARIABLES if name in os.environ}
        base.update(PATH=f"{tox.parent}:/usr/bin:/bin", HOME=str(self.home))
        env = setup.env(base)
        if not tox_work_dir:
            env.pop("TOX_WORK_DIR")
        return env

    def use_symlink(self) -> None:
        """The control: each job's `bin/poetry` a symlink to the shared Poetry, as before."""
        for setup in self.setups:
            shim = Path(setup.result["path"][0]) / "poetry"
            shim.unlink()
            shim.symlink_to(Path(setup.outputs["poetry-venv"]) / "bin" / "poetry")

    def home_dirs_written(self) -> list[str]:
        return [name for name in HOME_DIRS if (self.home / name).exists()]

    def pyproject_untouched(self) -> bool:
        path = self.project / "pyproject.toml"
        return (path.read_bytes(), path.stat().st_mtime_ns) == (
            self.pyproject,
            self.pyproject_mtime,
        )


def make_case(root: Path, install_dir: Path, jobs: int = 1) -> Case:
    """A project with poetry-dynamic-versioning enabled (it writes pyproject.toml unless the
    job's NO_IO list reaches it), tagged, locked, and `jobs` setups of it."""
    project = dynamic_project(root / "project")
    (project / "tox.ini").write_text(TOX_INI)
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "init")
    git(project, "tag", TAG)
    versions = [arg for v in PYTHONS for arg in ("--python-version", v)]
    started = [
        start(argv(project, install_dir, root / "state", f"job-{n}", *versions))
        for n in range(jobs)
    ]
    setups = [finish(s) for s in started]
    assert [s.returncode for s in setups] == [0] * jobs, [s.stderr for s in setups]
    home = root / "home"
    home.mkdir()
    case = Case(project, home, setups, b"", 0)
    # Locked once, with the job's env: the tox envs then only install.
    locked = subprocess.run(
        ["poetry", "lock"], cwd=project, env=case.env(setups[0], Path("/nonexistent/tox")),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert locked.returncode == 0, locked.stdout + locked.stderr
    assert case.home_dirs_written() == [], "the job's own env must not write $HOME"
    pyproject = project / "pyproject.toml"
    case.pyproject, case.pyproject_mtime = pyproject.read_bytes(), pyproject.stat().st_mtime_ns
    return case


def run_tox(case: Case, setup: Setup, tox: Path, **kwargs: bool) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(tox), "run-parallel", "-p", str(len(PYTHONS)), "--parallel-live"],
        cwd=case.project, env=case.env(setup, tox, **kwargs),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def output(process: subprocess.Popen[str]) -> tuple[int, str]:
    out, _ = process.communicate(timeout=900)
    return process.returncode, out


@pytest.mark.parametrize("shim", ["launcher", "symlink (control)"])
def test_tox_without_pass_env_keeps_the_jobs_poetry_dirs(
    shim: str, tox: Path, shared_install_dir: Path, tmp_path: Path
) -> None:
    case = make_case(tmp_path, shared_install_dir)
    if shim != "launcher":
        case.use_symlink()
    code, out = output(run_tox(case, case.setups[0], tox))
    fell_back = (case.project / ".poetry").exists(), case.home_dirs_written()
    if shim == "launcher":
        assert code == 0, out
        for minor in PYTHONS:
            assert f"ran on {tuple(map(int, minor.split('.')))}" in out, out
        assert fell_back == (False, [])
        assert out.count(case.setups[0].env()["POETRY_CACHE_DIR"]) >= len(PYTHONS), out
        assert case.pyproject_untouched(), "pdv wrote the shared pyproject.toml"
        assert not (case.project / ".tox").exists()  # TOX_WORK_DIR: the job's own
    else:
        assert fell_back[0], out  # the project's plugin cache: <project>/.poetry
        # $HOME's cache dir (nothing downloaded into it here: tox's venv is the project env)
        assert out.count(str(case.home / ".cache" / "pypoetry")) >= len(PYTHONS), out
        assert not case.pyproject_untouched()  # pdv without the job's NO_IO list writes it


@pytest.mark.parametrize("shim", ["launcher", "symlink (control)"])
def test_env_i_poetry_install_keeps_the_jobs_poetry_dirs(
    shim: str, shared_install_dir: Path, tmp_path: Path
) -> None:
    case = make_case(tmp_path, shared_install_dir)
    if shim != "launcher":
        case.use_symlink()
    bin_dir = case.setups[0].result["path"][0]
    done = subprocess.run(
        ["/usr/bin/env", "-i", f"PATH={bin_dir}:/usr/bin:/bin", f"HOME={case.home}",
         "poetry", "install"],
        cwd=case.project, capture_output=True, text=True, check=False,
    )  # fmt: skip
    fell_back = (case.project / ".poetry").exists(), case.home_dirs_written()
    if shim == "launcher":
        assert done.returncode == 0, done.stdout + done.stderr
        assert fell_back == (False, [])
        assert case.pyproject_untouched()
        venvs = Path(case.setups[0].env()["POETRY_VIRTUALENVS_PATH"])
        assert list(venvs.glob("sample-*")), "the project env is not in the job's dir"
    else:
        assert fell_back[0], done.stdout + done.stderr
        assert ".cache/pypoetry" in fell_back[1]  # here the project env too
        assert not case.pyproject_untouched()


@pytest.fixture
def two_jobs(shared_install_dir: Path, tmp_path: Path) -> Case:
    return make_case(tmp_path, shared_install_dir, jobs=2)


def tox_twice(case: Case, tox: Path, *, tox_work_dir: bool) -> list[tuple[int, str]]:
    """Both jobs' `tox -p` on the one project at once, from a project with no `.tox/`."""
    shutil.rmtree(case.project / ".tox", ignore_errors=True)
    running = [run_tox(case, s, tox, tox_work_dir=tox_work_dir) for s in case.setups]
    return [output(p) for p in running]


CONTROL_TRIES = 4


def test_two_jobs_running_tox_on_one_directory(two_jobs: Case, tox: Path) -> None:
    """Each job's own TOX_WORK_DIR: both pass. The control, the same two runs without it,
    share the project's `.tox/` and fail at least once in a few tries (issue 20 measured
    5 in 6: `Directory not empty: '_internal'`, virtualenv seeding pip into one venv twice).
    Everything else is shared alike in both (HOME and virtualenv's app data, the project, the
    shared Poetry): only the work dir differs."""
    done = tox_twice(two_jobs, tox, tox_work_dir=True)
    assert [code for code, _ in done] == [0, 0], "\n".join(out for _, out in done)
    assert not (two_jobs.project / ".tox").exists()
    work_dirs = [Path(s.env()["TOX_WORK_DIR"]) for s in two_jobs.setups]
    assert all((w / "py313").is_dir() for w in work_dirs), work_dirs

    failed = []
    for _ in range(CONTROL_TRIES):
        runs = tox_twice(two_jobs, tox, tox_work_dir=False)
        assert (two_jobs.project / ".tox" / "py313").is_dir()  # the shared one
        failed.append([code for code, _ in runs] != [0, 0])
        if any(failed):
            why = [line for _, out in runs for line in out.splitlines() if "rror" in line[-60:]]
            print(f"control: failed in try {len(failed)} of at most {CONTROL_TRIES}:", why[-3:])
            break
    assert any(failed), "two tox runs sharing .tox/ never failed"
