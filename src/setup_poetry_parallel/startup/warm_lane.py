"""The warm lane: a job whose setup an earlier job on this host already did, made again
without starting the engine.

A setup's result follows from its inputs, the project files it reads, a few variables and
the engine itself; two jobs that agree on all of them differ only in their job dir. So after a
successful setup of a fresh job, the engine records under `<install-dir>/warm/`, named by that
fingerprint: what it made in the job dir (dirs, links, small files), what it exported, and
what must still hold for that to be right (the build `current.json` names, its files, the link
targets). The next job with the same fingerprint checks those, makes the same and writes the
same records. It imports nothing it can do without (no json, re, typing or hashlib: each
costs as much as the work): about 2x a bare `python -I -c pass`, against 12x for the engine's
full path (the benchmark's `limits` section). Records are marshal data (read without an
import; the fingerprint covers the Python that wrote them).

Credentials (issue 18): the fingerprint covers variables that hold them (an index URL with
its password, POETRY_HTTP_BASIC_*_PASSWORD, a plugin URL in INPUT_PLUGINS). They stay in it:
a changed password must not replay a setup whose index now refuses the job (the full path
would fail), and dropping them would need the redaction's regexes here, which the import
budget has no room for. So a record is named by a keyed hash, with a random key that only this
user can read, in `warm/<uid>/` (0700, this user's, checked before use): whoever can list the
install dir cannot test a guessed password against a name, and a record's contents (what a
job made and exported, redacted when recorded) are not readable by others at all.

Anything unexpected (no record, another build current, a file gone, a job dir already there,
an error) leaves the job to the full engine, which checks everything and records again. The
lane serves the action (`--inputs-from-env`, bootstrap.py) and the console script (console.py:
the CLI's flags, keyed as the inputs they stand for), POSIX only. A command line it does not
read exactly as cli.py would (an unknown or abbreviated flag, -v, --plan, `--`) is the full
path's. The CLI's printed formats (sh, dotenv, json) are replayed as the text the full path
printed, recorded with the job dir as JOB: the lane imports none of the formatting.
"""

from __future__ import annotations

import marshal
import os
import stat
import sys
import time
import zlib

from setup_poetry_parallel.disk import dir_checks, nofollow
from setup_poetry_parallel.jobs import job_ids
from setup_poetry_parallel.outputs import runner_files
from setup_poetry_parallel.startup import defaults

# Not imported at run time: typing alone costs as much as the rest of the lane.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, Final

FORMAT: Final = 1
MAX_AGE: Final = 12 * 3600  # the full path's daily chores (pruning the downloads) still run
# Stand for the job dir and the setup's time in a record: no path or value holds a NUL.
JOB: Final = "\0job\0"
TIME: Final = "\0time\0"
MAX_ENTRIES: Final = 64  # a job dir holding more (a project env) is not recorded
MAX_FILE: Final = 16384

# What a setup reads besides the project's files: the inputs, and every variable settings.py
# or a program the full path starts for a new job (interpreter probes) reads.
# tests/startup/test_warm_lane.py checks that every variable settings.py names is here or in PER_JOB.
NAMES: Final = frozenset(
    {
        "PATH",
        "HOME",
        "GITHUB_ACTIONS",
        "RUNNER_DEBUG",
        "RUNNER_TOOL_CACHE",
        "XDG_CACHE_HOME",
        "LOCALAPPDATA",
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "CONDA_DEFAULT_ENV",
        "TOX_WORK_DIR",  # jobs/job.py exports the job's own only where it is unset
    }
)
PREFIXES: Final = ("INPUT_", "POETRY_", "UV_", "PIP_", "PYENV", "PYTHON", "SPP_")
# Per job: they only name the job's dir and the runner's files, which the lane derives itself.
PER_JOB: Final = frozenset(
    {
        "INPUT_JOB_ID",
        "INPUT_STATE_DIR",
        "SPP_JOB_INDEX",
        "GITHUB_RUN_ID",
        "GITHUB_RUN_ATTEMPT",
        "GITHUB_JOB",
        "RUNNER_TEMP",
        *runner_files.NAMES,
    }
)
PROJECT_FILES: Final = (("pyproject.toml", 1 << 20), ("poetry.toml", 1 << 16), ("poetry.lock", 512))
# The package, above this folder: the engine is every file in it, in whichever folder.
PACKAGE: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- which setups: the action's inputs, or the CLI's flags as the inputs they stand for ------


ACTION: Final = ["--inputs-from-env"]  # action.yml's command line
# The CLI's flags that settings reads (cli.py's parser), each as the action's input it stands
# for: settings reads both alike, so the lane keys, finds and names a CLI setup as the action's.
FLAGS: Final = {
    "--poetry-version": "INPUT_POETRY_VERSION",
    "--working-directory": "INPUT_WORKING_DIRECTORY",
    "--install-dir": "INPUT_INSTALL_DIR",
    "--state-dir": "INPUT_STATE_DIR",
    "--job-id": "INPUT_JOB_ID",
    "--poetry-python": "INPUT_POETRY_PYTHON",
    "--installer": "INPUT_INSTALLER",
    "--lock-timeout": "INPUT_LOCK_TIMEOUT",
    "--download-cache": "INPUT_DOWNLOAD_CACHE",
    "--project-plugins": "INPUT_PROJECT_PLUGINS",
    "--fast-install": "INPUT_FAST_INSTALL",
    "--poetry-dependencies": "INPUT_POETRY_DEPENDENCIES",
    "--format": "INPUT_FORMAT",  # the CLI's only: the action's format is the runner's
}
REPEATED: Final = ("--python-version", "--plugin")  # action="append"
FORMATS: Final = ("github", "sh", "dotenv", "json")  # settings.FORMATS (a new one: full path)
OFF: Final = ("0", "false", "no", "off")
# A job dir that sh (shlex), JSON and dotenv all print as it is: the lane puts it in place of
# JOB in the text an earlier job printed. record() checks the format against PROBE.
PLAIN: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-")
PROBE: Final = "/spp_probe.0-9/Job_dir.A-Z"


def keyed(argv: list[str], environ: Mapping[str, str]) -> tuple[dict[str, str], str] | None:
    """view() of a setup the lane may replay here; None where the full path runs: off POSIX,
    the lane switched off, a test's pause, or the runner's files missing for `github`."""
    if os.name != "posix" or environ.get("SPP_TEST_PAUSE_AT"):
        return None
    if environ.get("SPP_WARM_LANE", "1") in OFF:
        return None
    keys = view(argv, environ)
    if keys is None or (keys[1] == "github" and not all(map(environ.get, runner_files.REQUIRED))):
        return None
    return keys


def view(argv: list[str], environ: Mapping[str, str]) -> tuple[dict[str, str], str] | None:
    """What a setup is keyed on, with its output format as settings resolves it (the
    recording side, cli.py, asks too): the action's environment as it is; for the CLI, the
    environment with its flags as the INPUT_* variables they stand for, in place of any
    INPUT_* there (the CLI reads none). None for a command line the lane leaves to cli.py."""
    default = "github" if environ.get("GITHUB_ACTIONS") == "true" else "sh"
    if argv == ACTION:
        return dict(environ), default
    flags = cli_flags(argv)
    if flags is None:
        return None
    keys = {name: value for name, value in environ.items() if not name.startswith("INPUT_")}
    keys.update(flags)
    keys["INPUT_FORMAT"] = flags.get("INPUT_FORMAT") or default
    return keys, keys["INPUT_FORMAT"]


def cli_flags(argv: list[str]) -> dict[str, str] | None:
    """The CLI's flags as INPUT_* variables, read as cli.py's raw_inputs reads them; None for
    a command line argparse could read otherwise or cli.py does more with: a flag not in
    FLAGS (an abbreviation, -v, --plan, --version, --help, --inputs-from-env with others),
    `--` (a command to run), a flag given twice, a value that could be taken for a flag, a
    format not in FORMATS, or a value the lane would read otherwise than settings (blanks
    around it: the lane strips the action's; a line break: one plugin would read as two)."""
    given: dict[str, str] = {}
    lists: dict[str, list[str]] = {flag: [] for flag in REPEATED}
    args = iter(argv)
    for arg in args:
        flag, joined, value = arg.partition("=")
        if flag not in FLAGS and flag not in lists:
            return None
        if not joined:
            value = next(args, "-")  # none: argparse's error
            if value.startswith("-"):
                return None
        if any(c in value for c in "\r\n\0"):
            return None
        if flag in lists:
            lists[flag].append(value)
            continue
        if FLAGS[flag] in given or value != value.strip():
            return None
        given[FLAGS[flag]] = value
    if given.get("INPUT_FORMAT", "") not in ("", *FORMATS):
        return None
    # cli.py: the words of every --python-version; one of them alone is the project env's.
    versions = [word for value in lists["--python-version"] for word in value.split()]
    if len(versions) == 1:
        given["INPUT_PYTHON_VERSION"] = versions[0]
    elif versions:
        given["INPUT_PYTHON_VERSIONS"] = " ".join(versions)
    if plugins := [value.strip() for value in lists["--plugin"] if value.strip()]:
        given["INPUT_PLUGINS"] = "\n".join(plugins)
    return given


# --- where: the job dir, the install dir, the record ----------------------------------------


def job_dir(environ: Mapping[str, str]) -> str | None:
    """As settings.py derives it; None where it would refuse the input (it says why)."""
    given = environ.get("INPUT_STATE_DIR", "").strip()
    state = _given_dir(given) if given else _default(defaults.state_dir, environ)
    job = environ.get("INPUT_JOB_ID", "").strip() or job_ids.default_job_id(environ)
    return os.path.join(state, job) if state and job_ids.valid(job) else None


def install_dir(environ: Mapping[str, str]) -> str | None:
    if given := environ.get("INPUT_INSTALL_DIR", "").strip():
        return _given_dir(given)
    return _default(defaults.install_dir, environ)


def _default(rule: Callable[[Mapping[str, str]], str], environ: Mapping[str, str]) -> str | None:
    """The default settings.py takes (defaults.py); None where there is none (no home)."""
    try:
        return rule(environ)
    except RuntimeError:
        return None


def _given_dir(text: str) -> str | None:
    if any(c in text for c in "\r\n\0"):
        return None
    path = os.path.expanduser(text)
    if os.path.islink(path) and not os.path.exists(path):
        return None  # dangling: settings.py reports it
    return os.path.realpath(path)


def record_path(install: str, print_: str, *, create: bool = False) -> str | None:
    """This user's record for the fingerprint `print_`; None without a trusted key (`create`:
    make the dir and the key first, as the full path does before it records)."""
    mine = os.path.join(install, "warm", str(os.getuid()))
    key = _key(mine, create=create)
    if key is None:
        return None
    # A keyed hash (the key inside, twice, as HMAC nests it; hmac itself costs 3 ms to import).
    inner = job_ids.sha256(key + print_.encode()).digest()
    return os.path.join(mine, f"{job_ids.sha256(key + inner).hexdigest()}.rec")


KEY_SIZE: Final = 32


def _key(mine: str, *, create: bool) -> bytes | None:
    """The random key of `warm/<uid>/key`, if the dir and the key are this user's alone."""
    path = os.path.join(mine, "key")
    if create:
        _make_key(mine, path)
    try:
        info = os.lstat(mine)
        fd = os.open(path, nofollow.READ)
    except OSError:
        return None
    try:
        if not _private(info) or not _private(os.fstat(fd)):
            return None
        key = os.read(fd, KEY_SIZE + 1)
    finally:
        os.close(fd)
    return key if len(key) == KEY_SIZE else None


def _private(info: os.stat_result) -> bool:
    return info.st_uid == os.getuid() and not info.st_mode & 0o077


def _make_key(mine: str, path: str) -> None:
    os.makedirs(os.path.dirname(mine), mode=0o755, exist_ok=True)
    os.makedirs(mine, mode=0o700, exist_ok=True)  # one made by someone else: _key refuses it
    if os.path.lexists(path):
        return
    # Written whole under a fresh name, then linked into place: a reader never sees half a key,
    # and of two recorders at once one key wins (link fails if the name exists).
    scratch = f"{path}.{os.getpid()}.{os.urandom(4).hex()}"
    fd = os.open(scratch, nofollow.NEW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(os.urandom(KEY_SIZE))
        os.link(scratch, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(scratch)


# --- the fingerprint ---------------------------------------------------------------------------


def fingerprint(environ: Mapping[str, str]) -> str:
    digest = job_ids.sha256(b"")

    def add(*parts: str | bytes) -> None:
        for part in parts:
            digest.update(part if isinstance(part, bytes) else part.encode("utf-8", "replace"))
            digest.update(b"\0")

    # Not the working directory: runners give each job its own checkout path (act does), and
    # what the setup reads there, the project's files, is hashed below by content.
    add(str(FORMAT), sys.executable, sys.version)
    for name in sorted(environ):
        if name not in PER_JOB and (name in NAMES or name.startswith(PREFIXES)):
            add(name, environ[name])
    add(*engine_stamp())
    if environ.get("INPUT_PYTHON_VERSION", "").strip():
        # The project env's route looks at the file the job's `python` is (project_env.py):
        # the same PATH can name another interpreter tomorrow (a link switched, a reinstall).
        add(_which_python(environ.get("PATH", "")))
    project = environ.get("INPUT_WORKING_DIRECTORY", "").strip() or "."
    for name, limit in PROJECT_FILES:
        add(name, _head(os.path.join(project, name), limit))
    return str(digest.hexdigest())


def _which_python(path: str) -> str:
    for directory in path.split(os.pathsep):
        candidate = os.path.join(directory or ".", "python")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.realpath(candidate)
    return ""


def engine_stamp() -> list[str]:
    """The engine's own files and the action's pyproject.toml (its dependencies), by content:
    an updated action never replays an old engine's record, and the same action downloaded
    again for another job (runners and act unpack it per job: new paths, new times) still
    does. CRC-32, not SHA-256: a change of our own files is not an attack to resist (whoever
    can change them owns the action), and it costs 0.2 ms against 3 ms for the 0.9 MB."""
    stamp = [f"{os.path.relpath(path, PACKAGE)}:{_crc(path)}" for path in engine_files()]
    stamp.append(f"pyproject.toml:{_crc(os.path.join(PACKAGE, '..', '..', 'pyproject.toml'))}")
    return stamp


def engine_files(directory: str = PACKAGE) -> list[str]:
    """Every file of the package, at any depth (bytecode aside), sorted: a module moved into
    a new folder is covered as it was at the top."""
    found = []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
            found += engine_files(entry.path)
        elif entry.is_file() and not entry.name.endswith(".pyc"):
            found.append(entry.path)
    return found


def _crc(path: str) -> int:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return -1
    try:
        crc = 0
        while chunk := os.read(fd, 1 << 20):
            crc = zlib.crc32(chunk, crc)
        return crc
    finally:
        os.close(fd)


def _head(path: str, limit: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(limit)
    except OSError:
        return b"\0missing"


# --- recording (the full path, after a setup of a fresh job) -----------------------------------


def snapshot(root: str) -> list[list[str]] | None:
    """What the setup made in the job dir, with the job dir as JOB; None if it made more
    than links, dirs and small files (a project env: its files name their own path).
    An executable file (the job's `poetry` launcher, jobs/launcher.py) is kind "x", made
    0755 again. A job dir with a quote is not recorded: the launcher names it in quotes,
    escaped, where the plain job dir is not found to be put back."""
    if "'" in root:
        return None
    tree: list[list[str]] = []
    for directory, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, root)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                tree.append(["l", rel, _substitute(os.readlink(path), {root: JOB})])
                dirnames[:] = [d for d in dirnames if d != name]
            elif stat.S_ISDIR(info.st_mode):
                tree.append(["d", rel])
            elif stat.S_ISREG(info.st_mode) and info.st_size <= MAX_FILE:
                kind = "x" if info.st_mode & 0o111 else "f"
                with open(path, encoding="utf-8") as handle:
                    tree.append([kind, rel, _substitute(handle.read(), {root: JOB})])
            else:
                return None
        if len(tree) > MAX_ENTRIES:
            return None
    return tree


def record(
    environ: Mapping[str, str],
    *,
    job: str,
    current: str,
    build: str,
    superseded: str,
    checks: list[str],
    exports: dict[str, Any],
    message: str,
    output_format: str = "github",
    render: Callable[[dict[str, Any]], str] | None = None,
) -> str | None:
    """Write the record for this job's fingerprint (best effort: the caller logs a failure).
    Returns its path, or None when this setup cannot be replayed. `environ`: view()'s keys.
    `render`: for a printed format, the text the full path prints for `exports`."""
    install = install_dir(environ)
    if install is None or job_dir(environ) != job:
        return None
    tree = snapshot(job)
    if tree is None:
        return None
    links = [entry[2] for entry in tree if entry[0] == "l" and JOB not in entry[2]]
    from setup_poetry_parallel.redaction import redact  # the full path's, as every export

    document = {
        "format": FORMAT,
        "recorded": time.time(),
        "current": current,
        "current_is": _naming(current, build),
        "superseded": superseded,
        "checks": sorted(set(checks) | set(links)),
        "tree": tree,
        "exports": _redact(_substitute(exports, {job: JOB}), redact),
        "message": redact(message),
        "output_format": output_format,
    }
    if output_format != "github":
        printed = _printed(exports, job, render) if render else None
        if printed is None:
            return None
        document["printed"] = printed
    path = record_path(install, fingerprint(environ), create=True)
    if path is None:
        return None  # warm/<uid> is not this user's alone: no record there
    from pathlib import Path

    from setup_poetry_parallel.disk import atomic  # the full path's: never through a planted link

    atomic.replace(Path(path), marshal.dumps(document))
    return path


def _printed(
    exports: dict[str, Any], job: str, render: Callable[[dict[str, Any]], str]
) -> str | None:
    """What the full path prints for `exports`, with the job dir as JOB; None unless the
    format prints a PLAIN job dir as it is, so that another job's dir put in its place is what
    the full path prints for that job (checked by rendering again with PROBE as the dir)."""
    if not PLAIN.issuperset(job):
        return None
    text = render(exports)
    if render(_substitute(exports, {job: PROBE})) != text.replace(job, PROBE):
        return None
    return text.replace(job, JOB)


def _naming(current: str, build: str) -> list[int]:
    """Which file `current.json` is while it names `build`: a publish replaces it (a new
    file), so the lane compares this identity instead of parsing JSON."""
    import json

    fd = os.open(current, nofollow.READ)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if json.loads(handle.read()).get("build") != build:
            raise ValueError(f"{current} no longer names build {build}")
    return [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns]


def _redact(value: Any, redact: Any) -> Any:
    """Every string in `value` (lists and dicts walked) redacted, as runner.publish does."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redact(v, redact) for v in value]
    if isinstance(value, dict):
        return {k: _redact(v, redact) for k, v in value.items()}
    return value


def _substitute(value: Any, pairs: dict[str, str]) -> Any:
    """Every string in `value` (lists and dicts walked) with each key of `pairs` replaced by
    its value: the job dir by JOB when recording, JOB and TIME by this job's when replaying."""
    if isinstance(value, str):
        for old, new in pairs.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [_substitute(v, pairs) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, pairs) for k, v in value.items()}
    return value


# --- replaying (bootstrap.py, before the engine) -----------------------------------------------


def replay(argv: list[str], environ: Mapping[str, str], started: float) -> bool:
    """Make this job's setup from the record of an earlier one; False: use the full path.
    `started`: time.monotonic() when the process began, for the summary's time."""
    keys = keyed(argv, environ)
    if keys is None:
        return False
    lane, fmt = keys
    job, install = job_dir(lane), install_dir(lane)
    # A printed format holds an earlier job's dir as it is: this one's must print so too.
    printable = fmt == "github" or (job is not None and PLAIN.issuperset(job))
    if job is None or install is None or os.path.lexists(job) or not printable:
        return False
    try:
        if dir_checks.problem(install):  # as the full path checks it; it says why
            return False
        path = record_path(install, fingerprint(lane))
        document = _read_record(path) if path else None
        if document is None or document.get("output_format") != fmt or not _still_true(document):
            return False
        seconds = f"{time.monotonic() - started:.2f} s (warm lane)"
        exports = _substitute(document["exports"], {JOB: job, TIME: seconds})
        # Checked and formatted before the job dir is made, as runner.publish does.
        records = runner_files.records(
            env=exports["env"],
            path=exports["path"],
            outputs=exports["outputs"],
            summary=exports.get("summary", ""),
        )
        printed = "" if fmt == "github" else _substitute(document["printed"], {JOB: job})
        _make_tree(document["tree"], job)
        if fmt == "github":
            runner_files.append(records, environ)
        else:
            print(printed, flush=True)  # as runner.publish prints it
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        return False
    print(_substitute(document["message"], {JOB: job}), file=sys.stderr)
    return True


def _read_record(path: str) -> dict[str, Any] | None:
    """Only a record this user (or root) wrote, never through a link (trust.py's rule)."""
    try:
        fd = os.open(path, nofollow.READ)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not dir_checks.trusted_owner(os.fstat(fd).st_uid):
            return None
        data = marshal.load(handle)  # noqa: S302  # our own record, this user's, by name
    return data if isinstance(data, dict) else None


def _still_true(document: dict[str, Any]) -> bool:
    if document.get("format") != FORMAT:
        return False
    if not 0 <= time.time() - float(document["recorded"]) <= MAX_AGE:
        return False
    info = os.stat(document["current"], follow_symlinks=False)
    if [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns] != document["current_is"]:
        return False  # published again since (another build): the full path decides
    if os.path.lexists(document["superseded"]):
        return False
    return all(os.path.exists(path) for path in document["checks"])


def _make_tree(tree: list[list[str]], job: str) -> None:
    """Made beside, then renamed into place: a job dir is whole or not there."""
    if "'" in job:  # the launcher quotes the job dir: snapshot() says why
        raise ValueError(f"{job} holds a quote: the full path makes it")
    parent = os.path.dirname(job)
    dir_checks.make(parent, dir_checks.PRIVATE)  # the state dir: as job.make_dirs makes it
    if dir_checks.problem(parent, private=True):
        raise ValueError(f"{parent} is not this user's own: the full path says why")
    scratch = os.path.join(parent, f".{os.path.basename(job)}.{os.getpid()}.tmp")
    os.mkdir(scratch, dir_checks.PRIVATE)  # the job dir: 0700, as the full path makes it
    try:
        for kind, rel, *rest in tree:
            if os.path.isabs(rel) or ".." in rel.split(os.sep):
                raise ValueError(f"record names {rel!r} outside the job dir")
            path = os.path.join(scratch, rel)
            if kind == "d":
                os.mkdir(path)
            elif kind == "l":
                os.symlink(_substitute(rest[0], {JOB: job}), path)
            elif kind == "x":  # 0755 whatever the umask, as launcher.write makes it
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755)
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    os.fchmod(fd, 0o755)
                    handle.write(_substitute(rest[0], {JOB: job}))
            else:
                with open(path, "x", encoding="utf-8") as handle:
                    handle.write(_substitute(rest[0], {JOB: job}))
        os.rename(scratch, job)
    except BaseException:
        import shutil  # only here: 5 ms to import, more than the whole lane otherwise

        shutil.rmtree(scratch, ignore_errors=True)
        raise
