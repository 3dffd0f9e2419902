"""The warm lane: a later job with the same inputs gets exactly what the full engine would give
it (job dir, runner records), and anything that makes the record doubtful sends it to the full
engine. The real tests run the action's entry, bootstrap.py, as action.yml does."""

from __future__ import annotations

import ast
import marshal
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from setup_poetry_parallel.jobs import launcher
from setup_poetry_parallel.settings import RawInputs, validate
from setup_poetry_parallel.startup import warm_lane
from tests.outputs.test_runner_files import parse_path, parse_records
from tests.projects import make_project
from tests.repo import REPO, SRC

BOOTSTRAP = SRC / "bootstrap.py"
REPLAYED = "(warm lane)"


# --- the fingerprint and the job dir, without a setup ---------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def action_env(tmp_path: Path, project: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "GITHUB_ACTIONS": "true",
        "RUNNER_TEMP": str(tmp_path / "temp"),
        "GITHUB_RUN_ID": "1",
        "GITHUB_JOB": "test",
        "INPUT_POETRY_VERSION": "2.5.1",
        "INPUT_WORKING_DIRECTORY": str(project),
        "INPUT_INSTALL_DIR": str(tmp_path / "install"),
        **extra,
    }


@pytest.mark.parametrize(
    ("name", "value", "changes"),
    [
        ("INPUT_POETRY_VERSION", "2.4.3", True),
        ("INPUT_PYTHON_VERSION", "3.12", True),
        ("PATH", "/opt/python/bin:/usr/bin:/bin", True),
        ("POETRY_VIRTUALENVS_USE_POETRY_PYTHON", "true", True),
        ("UV_DEFAULT_INDEX", "http://mirror/simple", True),
        ("PYENV_VERSION", "3.12.1", True),
        # Per job: they only name the job's dir and files.
        ("GITHUB_RUN_ID", "2", False),
        ("INPUT_JOB_ID", "other", False),
        ("INPUT_STATE_DIR", "/elsewhere", False),
        ("SPP_JOB_INDEX", "3", False),
        ("GITHUB_ENV", "/tmp/other-env", False),
        ("GITHUB_SHA", "abc", False),  # read by nothing the setup does
    ],
)
def test_the_fingerprint_follows_what_the_setup_reads(
    tmp_path: Path, project: Path, name: str, value: str, changes: bool
) -> None:
    env = action_env(tmp_path, project)
    assert (warm_lane.fingerprint({**env, name: value}) != warm_lane.fingerprint(env)) is changes


def test_the_fingerprint_does_not_follow_the_jobs_own_checkout_path(
    tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runners give every job its own workspace (act does): the content counts, not the path."""
    env = action_env(tmp_path, project)
    before = warm_lane.fingerprint(env)
    monkeypatch.chdir(tmp_path)
    assert warm_lane.fingerprint(env) == before


@pytest.mark.parametrize(
    ("path", "text"),
    [("pyproject.toml", "\n# a comment\n"), ("poetry.toml", "[virtualenvs]\ncreate = false\n")],
)
def test_the_fingerprint_follows_the_project_files(
    tmp_path: Path, project: Path, path: str, text: str
) -> None:
    env = action_env(tmp_path, project)
    before = warm_lane.fingerprint(env)
    with (project / path).open("a") as handle:
        handle.write(text)
    assert warm_lane.fingerprint(env) != before


def test_every_variable_settings_names_is_fingerprinted_or_per_job() -> None:
    """A variable settings.py starts reading later cannot be left out of the fingerprint: the
    lane would replay a setup made for another value."""
    names = set()
    for module in (
        "settings.py",
        "jobs/job_ids.py",
        "startup/defaults.py",
        "index/sources.py",
        "jobs/job.py",  # TOX_WORK_DIR: the job's own only where the user has none
    ):
        tree = ast.parse((SRC / module).read_text(encoding="utf-8"))
        names |= {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.fullmatch(r"[A-Z][A-Z0-9]*_[A-Z0-9_]+|PATH|HOME", node.value)
        }
    assert "RUNNER_TOOL_CACHE" in names  # the scan sees them

    def covered(name: str) -> bool:
        return (
            name in warm_lane.NAMES
            or name in warm_lane.PER_JOB
            or name.startswith(warm_lane.PREFIXES)
        )

    # inputs_from_env reads get("POETRY_VERSION") for INPUT_POETRY_VERSION
    missing = sorted(n for n in names if not covered(n) and not covered(f"INPUT_{n}"))
    assert missing == []


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"INPUT_JOB_ID": "mine"},
        {"INPUT_STATE_DIR": "states"},
        {"SPP_JOB_INDEX": "2", "GITHUB_RUN_ATTEMPT": "3"},
        # Off a runner's dirs the defaults are the user's cache (defaults.py), for both.
        {"RUNNER_TEMP": ""},
        {"RUNNER_TEMP": "", "XDG_CACHE_HOME": "xdg"},
        {"INPUT_INSTALL_DIR": ""},
        {"INPUT_INSTALL_DIR": "", "RUNNER_TOOL_CACHE": "tools"},
    ],
)
def test_the_job_dir_is_the_one_settings_derives(
    tmp_path: Path, project: Path, extra: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = action_env(tmp_path, project, **extra)
    raw = RawInputs(
        poetry_version="2.5.1",
        state_dir=env.get("INPUT_STATE_DIR", ""),
        job_id=env.get("INPUT_JOB_ID", ""),
        install_dir=env.get("INPUT_INSTALL_DIR", ""),
    )
    settings = validate(raw, env)
    assert warm_lane.job_dir(env) == str(settings.state_dir / settings.job_id)
    assert warm_lane.install_dir(env) == str(settings.install_dir)


def modules_imported_by(statement: str) -> set[str]:
    """What `statement` adds to sys.modules in a fresh `python -I` (nothing of ours cached)."""
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); before = set(sys.modules)\n"
        f"{statement}\n"
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    run = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(SRC.parent)],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(run.stdout.split())


def test_the_lane_imports_only_what_its_budget_allows() -> None:
    """No json, re, typing, hashlib or pathlib on the warm path (each costs as much as the
    lane's work): the modules of ours it imports (the no-follow flags, the dir checks, the
    defaults) must stay as cheap as it is."""
    imported = modules_imported_by("from setup_poetry_parallel.startup import warm_lane")
    ours = {name for name in imported if name.split(".")[0] == "setup_poetry_parallel"}
    shared = {"disk.dir_checks", "disk.nofollow", "startup.defaults"}
    assert {f"setup_poetry_parallel.{name}" for name in shared} <= ours
    assert imported - ours == {"__future__", "zlib"}  # beyond what `python -I` loads anyway


@pytest.mark.parametrize("extra", [{"INPUT_JOB_ID": "../up"}, {"INPUT_STATE_DIR": "a\nb"}])
def test_a_job_dir_settings_would_refuse_is_left_to_it(
    tmp_path: Path, project: Path, extra: dict[str, str]
) -> None:
    assert warm_lane.job_dir(action_env(tmp_path, project, **extra)) is None


def test_the_lane_writes_runner_records_with_the_engines_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lane has no writer of its own (#19): what it appends is runner_files.records of the
    recorded exports (tests/outputs/test_runner_files.py checks those against the runner's reader), and
    the first refusal (a PATH entry with a separator) leaves the job to the full engine with
    nothing made and nothing written."""
    written: list[dict[str, bytes]] = []
    made: list[str] = []
    monkeypatch.setattr(warm_lane, "_make_tree", lambda tree, job: made.append(job))
    monkeypatch.setattr(warm_lane, "_still_true", lambda document: True)
    monkeypatch.setattr(warm_lane.dir_checks, "problem", lambda *a, **k: None)
    monkeypatch.setattr(
        warm_lane.runner_files, "append", lambda records, files: written.append(records)
    )
    exports = {
        "env": {"A": "1"},
        "outputs": {"o": "x"},
        "path": [f"{warm_lane.JOB}/bin"],
        "summary": "s",
    }
    document = {"tree": [], "message": "m", "exports": exports, "output_format": "github"}
    monkeypatch.setattr(warm_lane, "_read_record", lambda path: document)
    monkeypatch.setattr(warm_lane, "record_path", lambda install, print_: "/r")
    files = {n: str(tmp_path / n) for n in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT")}
    environ = {**action_env(tmp_path, tmp_path), **files}
    job = warm_lane.job_dir(environ)
    assert warm_lane.replay(["--inputs-from-env"], environ, 0.0)
    [records] = written
    assert parse_path(records["GITHUB_PATH"]) == [f"{job}/bin"]
    assert parse_records(records["GITHUB_ENV"]) == {"A": "1"}
    assert parse_records(records["GITHUB_OUTPUT"]) == {"o": "x"}
    assert records["GITHUB_STEP_SUMMARY"] == b"s\n"
    document["exports"] = {**exports, "path": [f"/a{os.pathsep}/b"]}
    assert not warm_lane.replay(["--inputs-from-env"], environ, 0.0)
    assert (len(made), len(written)) == (1, 1)


def test_a_job_dir_with_more_than_links_and_small_files_is_not_recorded(tmp_path: Path) -> None:
    job = tmp_path / "job"
    (job / "bin").mkdir(parents=True)
    (job / "bin" / "poetry").symlink_to("/venv/bin/poetry")
    (job / "self").symlink_to(job / "bin")
    (job / "config.toml").write_text(f"path = '{job}/x'\n")
    assert warm_lane.snapshot(str(job)) == [
        ["d", "bin"],
        ["f", "config.toml", f"path = '{warm_lane.JOB}/x'\n"],
        ["l", "self", f"{warm_lane.JOB}/bin"],
        ["l", "bin/poetry", "/venv/bin/poetry"],
    ]
    (job / "big").write_bytes(b"x" * (warm_lane.MAX_FILE + 1))
    assert warm_lane.snapshot(str(job)) is None


def test_the_poetry_launcher_is_made_again_for_another_job_dir(tmp_path: Path) -> None:
    """The launcher (jobs/launcher.py) names its job's dirs in quotes: a replay for a job
    dir with a space gets its own dirs in it, 0755 as the full path writes it, and it runs."""
    job, other = tmp_path / "a" / "job", tmp_path / "state with space" / "job2"
    (job / "bin").mkdir(parents=True)
    target = tmp_path / "target"
    target.write_text('#!/bin/sh\nprintf %s "$POETRY_CACHE_DIR"\n')
    target.chmod(0o755)
    launcher.write(job / "bin" / "poetry", launcher.text(target, {"POETRY_CACHE_DIR": f"{job}/c"}))
    tree = warm_lane.snapshot(str(job))
    assert tree is not None
    [entry] = [e for e in tree if e[1] == "bin/poetry"]
    assert entry[0] == "x"
    assert str(job) not in entry[2]
    assert f"'{warm_lane.JOB}/c'" in entry[2]
    warm_lane._make_tree(tree, str(other))
    made = other / "bin" / "poetry"
    assert made.stat().st_mode & 0o777 == 0o755
    assert made.read_text() == (job / "bin" / "poetry").read_text().replace(str(job), str(other))
    done = subprocess.run(
        ["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", str(made)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout == f"{other}/c"


def test_a_job_dir_with_a_quote_is_neither_recorded_nor_replayed(tmp_path: Path) -> None:
    """The launcher escapes a quote in the job dir (it'"'"'s), where the plain job dir would
    not be found to substitute: such a job always takes the full path."""
    job = tmp_path / "it's" / "job"
    (job / "bin").mkdir(parents=True)
    assert warm_lane.snapshot(str(job)) is None
    assert warm_lane.snapshot(str(tmp_path / "it's")) is None
    with pytest.raises(ValueError, match="quote"):
        warm_lane._make_tree([["d", "bin"]], str(tmp_path / "it's" / "job2"))
    assert not (tmp_path / "it's" / "job2").exists()


# --- real: the action's entry, a record, replays and refusals ----------------------------------


@dataclass
class Job:
    returncode: int
    stderr: str
    files: dict[str, Path]
    job_dir: Path

    @property
    def replayed(self) -> bool:
        return REPLAYED in self.stderr

    @property
    def outputs(self) -> dict[str, str]:
        return parse_records(self.files["GITHUB_OUTPUT"].read_bytes())

    @property
    def env(self) -> dict[str, str]:
        return parse_records(self.files["GITHUB_ENV"].read_bytes())

    @property
    def path(self) -> list[str]:
        return parse_path(self.files["GITHUB_PATH"].read_bytes())


@dataclass
class Host:
    root: Path
    project: Path
    count: int = 0

    def env(self, **extra: str) -> dict[str, str]:
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GITHUB_", "RUNNER_", "INPUT_", "SPP_"))
        }
        return {
            **base,
            "GITHUB_ACTIONS": "true",
            "GITHUB_JOB": "test",
            "RUNNER_TEMP": str(self.root / "temp"),
            "INPUT_POETRY_VERSION": "2.5.1",
            "INPUT_WORKING_DIRECTORY": str(self.project),
            "INPUT_INSTALL_DIR": str(self.root / "install"),
            **extra,
        }

    def job(self, **extra: str) -> Job:
        self.count += 1
        files = {}
        for name in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
            files[name] = self.root / f"job{self.count}" / name
            files[name].parent.mkdir(exist_ok=True)
            files[name].write_bytes(b"")
        env = self.env(GITHUB_RUN_ID=str(self.count), **{k: str(v) for k, v in files.items()})
        env.update(extra)
        done = subprocess.run(
            [sys.executable, "-I", str(BOOTSTRAP), "--inputs-from-env"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        job_dir = Path(warm_lane.job_dir(env) or "")
        return Job(done.returncode, done.stderr, files, job_dir)

    def record(self) -> Path:
        """The record later jobs of this host replay (the SPP_WARM_LANE=0 control has its own)."""
        env = self.env()
        path = warm_lane.record_path(str(self.root / "install"), warm_lane.fingerprint(env))
        assert path is not None, "no warm/<uid>/key: nothing was recorded"
        return Path(path)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    root = tmp_path_factory.mktemp("warm-lane")
    host = Host(root, make_project(root / "project"))
    first = host.job()
    assert first.returncode == 0, first.stderr
    assert not first.replayed
    return host


def tree(root: Path) -> list[tuple[str, str, str]]:
    def describe(path: Path) -> tuple[str, str, str]:
        rel = str(path.relative_to(root))
        if path.is_symlink():
            return ("link", rel, os.readlink(path).replace(str(root), "<job>"))
        if path.is_dir():
            return ("dir", rel, oct(path.stat().st_mode & 0o777))
        text = path.read_text().replace(str(root), "<job>")  # the launcher's too
        return ("file", rel, f"{oct(path.stat().st_mode & 0o777)} {text}")

    return sorted(describe(p) for p in root.rglob("*"))


def same(job: Job, values: dict[str, str]) -> dict[str, str]:
    return {k: v.replace(str(job.job_dir), "<job>") for k, v in values.items()}


@pytest.mark.real
@pytest.mark.network
def test_a_later_job_is_replayed_exactly_as_the_full_engine_makes_it(host: Host) -> None:
    lane = host.job()
    full = host.job(SPP_WARM_LANE="0")  # the control: the engine's full path, same inputs
    assert lane.returncode == full.returncode == 0, lane.stderr + full.stderr
    assert lane.replayed, lane.stderr
    assert not full.replayed
    assert "lock:" not in lane.stderr
    assert "plugins from" not in lane.stderr
    assert tree(lane.job_dir) == tree(full.job_dir)
    [poetry] = [entry for entry in tree(lane.job_dir) if entry[1] == "bin/poetry"]
    assert poetry[0] == "file"  # the launcher, replayed with this job's dirs in it
    assert poetry[2].startswith("0o755 #!/bin/sh")
    assert "'<job>/cache'" in poetry[2]
    assert same(lane, lane.env) == same(full, full.env)
    assert same(lane, lane.outputs) == same(full, full.outputs)
    assert lane.outputs["reused"] == "true"
    assert [p.replace(str(lane.job_dir), "<job>") for p in lane.path] == [
        p.replace(str(full.job_dir), "<job>") for p in full.path
    ]
    summary = lane.files["GITHUB_STEP_SUMMARY"].read_text()
    assert "| Install | reused |" in summary
    assert "(warm lane)" in summary
    # Poetry from the replayed job: its own dirs, the project's plugin cache seeded.
    env = {**os.environ, **lane.env, "PATH": os.pathsep.join([*lane.path, os.environ["PATH"]])}
    cache = subprocess.run(
        ["poetry", "config", "cache-dir"], env=env, cwd=host.project, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    assert cache.stdout.strip() == str(lane.job_dir / "cache")
    assert not (host.project / ".poetry").exists()


@pytest.mark.real
@pytest.mark.network
def test_a_changed_project_or_a_stale_record_goes_to_the_full_engine(host: Host) -> None:
    record = host.record()
    document = marshal.loads(record.read_bytes())
    try:
        # current.json published again (a rebuild, another host): refused, the full path decides.
        current = Path(document["current"])
        scratch = current.with_name("current.json.test")
        scratch.write_bytes(current.read_bytes())
        os.replace(scratch, current)
        assert not host.job().replayed
        assert host.job().replayed  # that full path recorded the new current.json
        document = marshal.loads(record.read_bytes())
        record.write_bytes(marshal.dumps({**document, "recorded": document["recorded"] - 86400}))
        assert not host.job().replayed
        if os.getuid() == 0:  # a record someone else wrote is never trusted
            record.write_bytes(marshal.dumps(document))
            os.chown(record, 65534, 65534)
            assert not host.job().replayed
    finally:
        record.unlink(missing_ok=True)
    again = host.job()  # the full path records again
    assert again.returncode == 0
    assert not again.replayed
    assert host.job().replayed
    pyproject = host.project / "pyproject.toml"
    text = pyproject.read_text()
    try:
        pyproject.write_text(text + "\n# changed\n")
        changed = host.job()
        assert changed.returncode == 0
        assert not changed.replayed
    finally:
        pyproject.write_text(text)


@pytest.mark.real
@pytest.mark.network
def test_a_job_dir_already_there_is_left_to_the_full_engine(host: Host) -> None:
    env_job = host.job(INPUT_JOB_ID="kept")
    assert env_job.returncode == 0
    again = host.job(INPUT_JOB_ID="kept")
    assert again.returncode == 0
    assert not again.replayed


@pytest.mark.parametrize("rel", ["../outside", "/etc/outside", "a/../../outside"])
def test_a_record_naming_a_path_outside_the_job_dir_makes_nothing(tmp_path: Path, rel: str) -> None:
    job = tmp_path / "state" / "job"
    with pytest.raises(ValueError, match="outside the job dir"):
        warm_lane._make_tree([["d", "bin"], ["f", rel, "planted"]], str(job))
    assert list(tmp_path.rglob("*")) == [tmp_path / "state"]  # no job dir, no scratch
    assert not (tmp_path / "outside").exists()


def test_with_python_version_the_fingerprint_follows_the_file_python_is(
    tmp_path: Path, project: Path
) -> None:
    """The same PATH naming another interpreter (a switched link) is another setup."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = action_env(tmp_path, project, PATH=str(bin_dir), INPUT_PYTHON_VERSION="3.12")
    before = warm_lane.fingerprint(env)
    (bin_dir / "python").unlink()
    (bin_dir / "python").symlink_to("/bin/sh")
    assert warm_lane.fingerprint(env) != before


# --- credentials (issue 18): no record name or content to test a guessed password against ---

TOKEN = "s3cr/t+tok@n-4711"


@pytest.mark.real
@pytest.mark.network
def test_a_record_name_cannot_be_checked_against_a_guessed_password(host: Host) -> None:
    """Anyone who can list the install dir sees the names: an unsalted hash of the variables
    (the control, the code before) let them check a guessed password offline."""
    secret = {"POETRY_HTTP_BASIC_INTERNAL_PASSWORD": TOKEN}
    done = host.job(**secret)
    assert done.returncode == 0, done.stderr
    assert host.job(**secret).replayed  # the lane still works with it
    guess = warm_lane.fingerprint(host.env(**secret))  # what an attacker can compute
    warm = host.root / "install" / "warm"
    names = [p.name for p in warm.rglob("*")]
    assert f"{guess}.rec" not in names
    assert not any(guess in name for name in names)
    # Names and contents in this user's dir, which others can neither list nor enter.
    mine = warm / str(os.getuid())
    assert mine.stat().st_mode & 0o777 == 0o700
    assert all(mine in path.parents for path in warm.rglob("*") if path != mine)


def test_record_names_are_keyed_by_a_key_only_this_user_reads(tmp_path: Path) -> None:
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    name = "a" * 64
    first = warm_lane.record_path(one, name, create=True)
    assert first is not None
    assert warm_lane.record_path(one, name) == first  # the same key read back
    assert os.path.basename(first) != f"{name}.rec"
    other = warm_lane.record_path(two, name, create=True)
    assert other is not None
    assert os.path.basename(other) != os.path.basename(first)  # another key, another name
    mine = Path(first).parent
    assert mine == tmp_path / "one" / "warm" / str(os.getuid())
    assert mine.stat().st_mode & 0o777 == 0o700
    assert (mine / "key").stat().st_mode & 0o777 == 0o600
    # A dir or key others can read or write is no key: nothing is recorded or replayed there.
    (mine / "key").chmod(0o644)
    assert warm_lane.record_path(one, name) is None
    (mine / "key").chmod(0o600)
    mine.chmod(0o755)
    assert warm_lane.record_path(one, name) is None
    mine.chmod(0o700)
    if os.getuid() == 0:
        os.chown(mine / "key", 65534, 65534)
        assert warm_lane.record_path(one, name) is None


# --- the console script (#20): the CLI's flags keyed as the inputs they stand for ------------

CONSOLE = Path(sys.executable).with_name("setup-poetry-parallel")
CLI_BASE = ["--poetry-version", "2.5.1", "--install-dir", "/i", "--format", "sh"]


def cli_view(argv: list[str], environ: dict[str, str] | None = None) -> dict[str, str] | None:
    keys = warm_lane.view(argv, {"PATH": "/usr/bin", **(environ or {})})
    return None if keys is None else keys[0]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--poetry-version", "2.5.1"],
        ["--python-version", "3.12"],
        ["--python-version", "3.11 3.12"],
        ["--python-version", "3.11", "--python-version=3.12"],
        ["--python-version", "3.12", "--python-version", "3.12"],
        ["--plugin", "a>=1", "--plugin", " b ", "--plugin", ""],
        ["--working-directory", "sub", "--install-dir=~/i", "--state-dir", "s", "--job-id", "j"],
        ["--poetry-python", "3.11", "--installer", "pip", "--lock-timeout", "60"],
        ["--download-cache", "false", "--project-plugins", "false"],
        ["--poetry-dependencies", "latest", "--format", "json"],
        ["--job-id="],
    ],
)
def test_the_lane_reads_the_flags_as_cli_py_does(argv: list[str]) -> None:
    """The CLI's flags, as the inputs the lane keys them on, are the same raw inputs the full
    path reads from the flags: the lane's key and job dir are the full path's."""
    from dataclasses import replace

    from setup_poetry_parallel import cli
    from setup_poetry_parallel.settings import inputs_from_env

    keys = cli_view(argv)
    assert keys is not None
    full = cli.raw_inputs(cli.parser().parse_args(argv), {})
    assert replace(inputs_from_env(keys), output_format=full.output_format) == full


def test_every_flag_of_the_parser_is_read_by_the_lane_or_refused() -> None:
    """A flag cli.py adds later is not keyed by accident: the lane must be told of it."""
    from setup_poetry_parallel import cli

    options = {s for action in cli.parser()._actions for s in action.option_strings}
    refused = {"-h", "--help", "--version", "-v", "--verbose", "--plan", "--inputs-from-env"}
    assert options == set(warm_lane.FLAGS) | set(warm_lane.REPEATED) | refused


@pytest.mark.parametrize(
    "argv",
    [
        ["-v"],
        ["--verbose"],
        ["--plan"],
        ["--version"],
        ["-h"],
        ["--", "tox", "run"],  # cli.py's exec mode: the lane does not run commands
        ["--format", "sh", "--", "true"],
        ["--inputs-from-env", "--format", "json"],  # the action's, with more: cli.py
        ["--poetry-v", "2.5.1"],  # argparse takes the abbreviation; the lane does not
        ["--unknown", "x"],
        ["positional"],
        ["--format", "yaml"],  # a format the lane cannot print
        ["--job-id"],  # no value: argparse's error
        ["--job-id", "-x"],  # argparse takes -x for a flag
        ["--job-id", "a", "--job-id", "b"],
        ["--job-id", " a"],  # settings refuses it; the lane would strip it
        ["--working-directory", "sub "],
        ["--poetry-version= 2.5.1 "],  # one rule for blanks, though cli.py strips this one
        ["--plugin", "a\nb"],  # one requirement to cli.py (refused), two lines to the lane
    ],
)
def test_a_command_line_the_lane_does_not_read_exactly_is_cli_pys(argv: list[str]) -> None:
    assert cli_view(CLI_BASE) is not None  # the control: the same flags without it
    assert cli_view([*CLI_BASE, *argv]) is None
    assert not warm_lane.replay([*CLI_BASE, *argv], {"PATH": "/usr/bin"}, 0.0)


FLAG_VALUES = {
    "--poetry-version": "2.4.3",
    "--working-directory": "other",
    "--install-dir": "/elsewhere",
    "--poetry-python": "3.12",
    "--installer": "pip",
    "--lock-timeout": "60",
    "--download-cache": "false",
    "--project-plugins": "false",
    "--fast-install": "true",
    "--poetry-dependencies": "latest",
    "--format": "json",
    "--python-version": "3.12",
    "--plugin": "poetry-plugin-export",
}


@pytest.mark.parametrize(
    ("flag", "value", "changes"),
    [
        *((flag, value, True) for flag, value in FLAG_VALUES.items()),
        ("--job-id", "other", False),  # per job, as INPUT_JOB_ID
        ("--state-dir", "/states", False),  # per job, as INPUT_STATE_DIR
    ],
)
def test_the_fingerprint_covers_the_flags_as_it_covers_the_inputs(
    tmp_path: Path, project: Path, flag: str, value: str, changes: bool
) -> None:
    assert set(FLAG_VALUES) == set(warm_lane.FLAGS) - {"--job-id", "--state-dir"} | set(
        warm_lane.REPEATED
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    base = {"--working-directory": str(project), "--format": "sh", "--job-id": "j"}
    changed = {**base, flag: value}
    before = cli_view([word for pair in base.items() for word in pair], env)
    after = cli_view([word for pair in changed.items() for word in pair], env)
    assert before is not None
    assert after is not None
    assert (warm_lane.fingerprint(after) != warm_lane.fingerprint(before)) is changes


def test_the_cli_is_keyed_on_its_flags_not_on_input_variables(tmp_path: Path) -> None:
    """cli.py reads no INPUT_* variable: one in the environment neither changes the CLI's key
    nor stands in for a flag; the action's key is still its environment."""
    env = {"PATH": "/usr/bin", "HOME": str(tmp_path)}
    noisy = {**env, "INPUT_POETRY_VERSION": "2.4.3", "INPUT_JOB_ID": "x"}
    assert cli_view(CLI_BASE, noisy) == cli_view(CLI_BASE, env)
    assert warm_lane.fingerprint(cli_view(CLI_BASE, env) or {}) != warm_lane.fingerprint(env)
    assert warm_lane.view(["--inputs-from-env"], noisy) == (noisy, "sh")
    on_runner = {**noisy, "GITHUB_ACTIONS": "true"}
    assert warm_lane.view(["--inputs-from-env"], on_runner) == (on_runner, "github")


@pytest.mark.parametrize(
    ("argv", "extra", "replayable"),
    [
        (["--format", "sh"], {}, True),
        ([], {}, True),  # sh off a runner, as settings defaults
        (["--format", "github"], {}, False),  # no runner files: the full path says so
        ([], {"GITHUB_ACTIONS": "true"}, False),  # github on a runner, its files missing
        (["--format", "json"], {"SPP_WARM_LANE": "0"}, False),
        (["--format", "json"], {"SPP_TEST_PAUSE_AT": "x"}, False),
    ],
)
def test_the_lane_takes_a_format_it_can_deliver(
    argv: list[str], extra: dict[str, str], replayable: bool
) -> None:
    environ = {"PATH": "/usr/bin", **extra}
    assert (warm_lane.keyed([*CLI_BASE[:4], *argv], environ) is not None) is replayable


def test_a_printed_format_is_recorded_only_where_the_job_dir_prints_as_it_is() -> None:
    """The text is recorded with the job dir as JOB: put back for another job only where the
    format prints a dir as it is (control: a format that escapes `-`, a dir with a quote)."""
    job = "/state/job-1"
    exports = {"env": {"A": f"{job}/x"}, "path": [f"{job}/bin"], "outputs": {}}

    def verbatim(e: dict[str, Any]) -> str:
        return f"A={e['env']['A']}\nPATH={e['path'][0]}"

    assert warm_lane._printed(exports, job, verbatim) == (
        f"A={warm_lane.JOB}/x\nPATH={warm_lane.JOB}/bin"
    )

    def escaping(e: dict[str, Any]) -> str:
        return verbatim(e).replace("-", "\\-")

    assert warm_lane._printed(exports, job, escaping) is None
    quoted = "/state/it's"
    other = {"env": {"A": quoted}, "path": [], "outputs": {}}
    assert warm_lane._printed(other, quoted, lambda e: e["env"]["A"]) is None


def test_the_console_script_starts_within_the_lanes_budget() -> None:
    """The console entry imports what the lane does and no more (cli.py, argparse, logging,
    the engine: only once the lane declines), and it is what pyproject.toml installs."""
    import tomllib

    imported = modules_imported_by("from setup_poetry_parallel import console")
    assert "setup_poetry_parallel.startup.warm_lane" in imported
    assert {n for n in imported if not n.startswith("setup_poetry_parallel")} == {
        "__future__",
        "zlib",
    }
    assert "setup_poetry_parallel.cli" not in imported
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    scripts = pyproject["project"]["scripts"]
    assert scripts["setup-poetry-parallel"] == "setup_poetry_parallel.console:main"


# --- real: the console script, a record per format, replays and refusals ---------------------

RUNNER_FILES = ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    job_dir: Path
    files: dict[str, Path]

    @property
    def replayed(self) -> bool:
        return REPLAYED in self.stderr

    @property
    def printed(self) -> str:
        """Byte for byte, this job's dir aside."""
        return self.stdout.replace(str(self.job_dir), "<job>")

    def records(self, name: str) -> dict[str, str]:
        found = parse_records(self.files[name].read_bytes())
        return {k: v.replace(str(self.job_dir), "<job>") for k, v in found.items()}


def cli_setup(host: Host, fmt: str, job: str, *extra: str, **variables: str) -> CliRun:
    """The installed console script, as a user runs it: a job of the host's project, sharing
    its install dir (the Poetry the action's jobs built), in a state dir per format."""
    assert CONSOLE.exists(), f"{CONSOLE}: install the package (./dev) for its console script"
    state = host.root / f"cli-{fmt}"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "RUNNER_", "INPUT_", "SPP_"))
    }
    files: dict[str, Path] = {}
    if fmt == "github":
        for name in RUNNER_FILES:
            files[name] = host.root / f"cli-{job}" / name
            files[name].parent.mkdir(exist_ok=True)
            files[name].write_bytes(b"")
        env.update(GITHUB_ACTIONS="true", **{k: str(v) for k, v in files.items()})
    env.update(variables)
    argv = [
        str(CONSOLE), "--poetry-version", "2.5.1", "--working-directory", str(host.project),
        "--install-dir", str(host.root / "install"), "--state-dir", str(state),
        "--job-id", job, "--format", fmt, *extra,
    ]  # fmt: skip
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
    return CliRun(done.returncode, done.stdout, done.stderr, state / job, files)


@pytest.mark.real
@pytest.mark.network
@pytest.mark.parametrize("fmt", ["sh", "dotenv", "json", "github"])
def test_a_repeat_cli_setup_is_replayed_as_the_full_path_prints_it(host: Host, fmt: str) -> None:
    """A full setup, then another job id: replayed, and its stdout, runner files and job dir
    are what the full path (SPP_WARM_LANE=0, the control) gives that job."""
    first = cli_setup(host, fmt, "first")
    assert first.returncode == 0, first.stderr
    assert not first.replayed
    lane = cli_setup(host, fmt, "lane")
    full = cli_setup(host, fmt, "full", SPP_WARM_LANE="0")
    assert lane.returncode == full.returncode == 0, lane.stderr + full.stderr
    assert lane.replayed, lane.stderr
    assert not full.replayed
    assert "lock:" not in lane.stderr
    assert tree(lane.job_dir) == tree(full.job_dir)
    if fmt == "github":
        # stdout is the runner's log there: the full path's group, which the lane (the
        # action's too) does not open; the data is in the runner's files.
        assert lane.stdout == ""
        assert full.stdout == "::group::setup-poetry-parallel\n::endgroup::\n"
        for name in ("GITHUB_ENV", "GITHUB_OUTPUT"):
            assert lane.records(name) == full.records(name)
        paths = [parse_path(r.files["GITHUB_PATH"].read_bytes()) for r in (lane, full)]
        assert [p.replace(str(lane.job_dir), "<job>") for p in paths[0]] == [
            p.replace(str(full.job_dir), "<job>") for p in paths[1]
        ]
        assert "(warm lane)" in lane.files["GITHUB_STEP_SUMMARY"].read_text()
        return
    assert lane.printed == full.printed
    assert str(lane.job_dir) in lane.stdout
    if fmt == "sh":  # what the user evals: Poetry with the replayed job's own dirs
        shown = subprocess.run(
            ["sh", "-c", 'eval "$1" && poetry config cache-dir', "sh", lane.stdout],
            cwd=host.project, capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert shown.stdout.strip() == str(lane.job_dir / "cache")


@pytest.mark.real
@pytest.mark.network
def test_a_changed_flag_value_is_another_setup(host: Host) -> None:
    first = cli_setup(host, "json", "timeout-1", "--lock-timeout", "601")
    assert first.returncode == 0, first.stderr
    assert not first.replayed
    again = cli_setup(host, "json", "timeout-2", "--lock-timeout", "601")
    assert again.replayed, again.stderr  # the control: the same flags replay
    other = cli_setup(host, "json", "timeout-3", "--lock-timeout", "602")
    assert other.returncode == 0, other.stderr
    assert not other.replayed


@pytest.mark.real
@pytest.mark.network
@pytest.mark.parametrize(
    ("job", "extra"), [("verbose", ["-v"]), ("plan", ["--plan"]), ("command", ["--", "true"])]
)
def test_the_console_script_leaves_what_the_lane_does_not_read_to_cli_py(
    host: Host, job: str, extra: list[str]
) -> None:
    recorded = cli_setup(host, "sh", f"{job}-recorded")
    assert recorded.returncode == 0, recorded.stderr
    control = cli_setup(host, "sh", f"{job}-control")
    assert control.replayed, control.stderr  # the same flags without it: replayed
    refused = cli_setup(host, "sh", job, *extra)
    assert refused.returncode == 0, refused.stderr
    assert not refused.replayed
