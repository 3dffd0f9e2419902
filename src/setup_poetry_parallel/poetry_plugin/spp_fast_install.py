"""Fast install: Poetry decides what to install, uv installs it (`SPP_FAST_INSTALL=<uv>`).

Poetry's installer unpacks each wheel in Python, one thread per package: for a lock of 80
packages that is 10x the time `uv pip sync` takes for the same files (issue 21). With the
variable set to the path of a uv executable (the action's `fast-install`), the install and
update operations that Poetry's own solver and installer decided are handed, package for
package, to one `uv pip install --no-deps --require-hashes` per package source, with the
versions and hashes of the lock: uv adds nothing, resolves nothing and refuses a file whose
hash the lock does not list, as Poetry does.

What stays Poetry's, and why:
- directory, file, URL and git packages (Poetry builds them, writes their `direct_url.json`,
  clones into `src/`), the root project (not an operation of the executor at all), removals
  and the uninstall half of updates (so `installer.builtin-uninstall` and the parallel-uninstall
  protection of spp_poetry_races apply as before), and pip itself (Poetry installs it before
  everything else, to uninstall with it);
- an index package uv cannot install as Poetry would: no hash in the lock, no wheel for this
  environment among the lock's files (Poetry would build the sdist with its own settings),
  a wheel refused by `installer.no-binary`, a source with its own certificates;
- everything, when Poetry's env is not a virtualenv (uv would need --system) or when the
  executor's internals differ from the ones this module knows (one warning, Poetry's own
  installer).
If uv fails (a network error, a file whose hash the lock lacks), Poetry installs the same
packages itself after one warning, and refuses what it refuses.

Runs inside Poetry's venv: Python 3.9+, nothing but Poetry and the standard library.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import dataclasses
import hashlib
import io
import os
import re
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple
from urllib.parse import unquote, urlsplit, urlunsplit

try:  # the tests import this module from the package
    from .spp_poetry_races import DIFFERS, OFF, ON, _own_method, _replace
except ImportError:  # Poetry's venv: a top-level module, shipped beside it (plugin_wheel.py)
    from spp_poetry_races import DIFFERS, OFF, ON, _own_method, _replace

VARIABLE = "SPP_FAST_INSTALL"
PYPI = "https://pypi.org/simple"
# uv's name of the one index of a call; its credentials go in UV_INDEX_SPP_* (never argv).
UV_INDEX = "spp"
# The user's uv settings that change nothing of what is installed; every other UV_* variable
# (UV_INDEX_URL, UV_CONSTRAINT, UV_NO_BINARY, ...) is Poetry's decision to make, not uv's.
UV_KEPT = frozenset(
    {
        "UV_CACHE_DIR",
        "UV_LINK_MODE",
        "UV_CONCURRENT_DOWNLOADS",
        "UV_CONCURRENT_INSTALLS",
        "UV_HTTP_TIMEOUT",
        "UV_HTTP_RETRIES",
        "UV_NATIVE_TLS",
        "UV_NO_PROGRESS",
    }
)
_HASH = re.compile(r"^(sha256|sha384|sha512|md5):[0-9a-fA-F]+$")
_USERINFO = re.compile(r"(://)[^/@\s]+@")


@dataclasses.dataclass(frozen=True)
class Source:
    """Where uv fetches a package from: Poetry's source of it, without credentials."""

    name: str  # Poetry's name of the source, for messages
    url: str


@dataclasses.dataclass(frozen=True)
class Credentials:
    username: str = dataclasses.field(repr=False)
    password: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class Plan:
    """Operations by the source uv fetches them from; the rest stays Poetry's, with why."""

    by_source: Dict[Source, List[Any]]
    kept: List[Tuple[Any, str]]  # (operation, reason); by-design kinds are not listed

    @property
    def operations(self) -> List[Any]:
        return [op for ops in self.by_source.values() for op in ops]


# --- Pure decisions -------------------------------------------------------------------------


def wheel_name(filename: str) -> bool:
    return filename.endswith(".whl")


def source_of(package: Any) -> Optional[Source]:
    """The index a locked package comes from, or None for the kinds Poetry builds itself."""
    kind = package.source_type or None
    if kind is None:
        return Source("PyPI", PYPI)
    if kind != "legacy" or not package.source_url:
        return None
    parts = urlsplit(package.source_url)
    public = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return Source(package.source_reference or public, public.rstrip("/"))


def hashes_of(package: Any) -> Optional[List[str]]:
    found = [f.get("hash", "") for f in package.files or []]
    if not found or not all(_HASH.match(value) for value in found):
        return None
    return sorted(set(found))


def requirement_line(package: Any, hashes: Iterable[str]) -> str:
    return f"{package.name}=={package.version.text} " + " ".join(
        f"--hash={value}" for value in hashes
    )


def decide(
    operations: Iterable[Any],
    *,
    supported: Callable[[str], bool],
    wheels_allowed: Callable[[str], bool],
    own_certificates: Callable[[Source], bool],
) -> Plan:
    """Which of Poetry's operations uv takes. `supported(filename)`: a wheel this env can
    install; `wheels_allowed(name)`: installer.no-binary lets Poetry pick a wheel of it."""
    by_source: Dict[Source, List[Any]] = {}
    kept: List[Tuple[Any, str]] = []
    for op in operations:
        if op.skipped or op.job_type not in {"install", "update"}:
            continue  # removals and skipped operations are Poetry's by design
        package = op.package
        source = source_of(package)
        if source is None:
            continue  # directory, file, url, git: Poetry's by design
        reason = _refusal(package, source, supported, wheels_allowed, own_certificates)
        if reason:
            kept.append((op, reason))
        else:
            by_source.setdefault(source, []).append(op)
    return Plan(by_source, kept)


def _refusal(
    package: Any,
    source: Source,
    supported: Callable[[str], bool],
    wheels_allowed: Callable[[str], bool],
    own_certificates: Callable[[Source], bool],
) -> str:
    if package.name == "pip":
        return "Poetry installs pip first, to uninstall with it"
    if hashes_of(package) is None:
        return "the lock has no hash for each of its files"
    if not wheels_allowed(package.name):
        return "installer.no-binary"
    if not any(supported(f["file"]) for f in package.files if wheel_name(f.get("file", ""))):
        return "no wheel for this environment in the lock (Poetry builds it)"
    if own_certificates(source):
        return f"source {source.name!r} has its own certificates"
    return ""


def uv_env(
    environ: Mapping[str, str], cache_dir: str, credentials: Optional[Credentials]
) -> Dict[str, str]:
    env = {k: v for k, v in environ.items() if not k.startswith("UV_") or k in UV_KEPT}
    env.setdefault("UV_CACHE_DIR", cache_dir)
    # Poetry (requests) honours REQUESTS_CA_BUNDLE; uv reads SSL_CERT_FILE.
    if environ.get("REQUESTS_CA_BUNDLE") and not environ.get("SSL_CERT_FILE"):
        env["SSL_CERT_FILE"] = environ["REQUESTS_CA_BUNDLE"]
    if credentials is not None:
        env[f"UV_INDEX_{UV_INDEX.upper()}_USERNAME"] = credentials.username
        env[f"UV_INDEX_{UV_INDEX.upper()}_PASSWORD"] = credentials.password
    return env


def uv_command(
    uv: str, python: str, source: Source, requirements: str, *, compile_bytecode: bool
) -> List[str]:
    return [
        uv,
        "pip",
        "install",
        "--python",
        python,
        "--no-config",  # a uv.toml of the project or the user could change the index
        "--no-deps",  # Poetry resolved: uv adds nothing
        "--require-hashes",
        "--only-binary",
        ":all:",  # what has no wheel stayed Poetry's
        "--default-index",
        f"{UV_INDEX}={source.url}",
        "--color",
        "never",
        *(["--compile-bytecode"] if compile_bytecode else []),
        "-r",
        requirements,
    ]


def redact(text: str, secrets: Iterable[str]) -> str:
    text = _USERINFO.sub(r"\1***@", text)
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


# --- Running uv -----------------------------------------------------------------------------


def _credentials(executor: Any, source: Source, package: Any) -> Optional[Credentials]:
    """Poetry's own credentials of the source (its variables, auth.toml, keyring, netrc via
    requests is not Poetry's), or the userinfo of the source URL."""
    found = None
    authenticator = getattr(executor, "_authenticator", None)
    if authenticator is not None and source.url != PYPI:
        found = authenticator.get_credentials_for_url(source.url)
    if found is not None and found.username is not None:
        return Credentials(found.username, found.password or "")
    userinfo = urlsplit(package.source_url or "").netloc.rpartition("@")[0]
    if userinfo:
        user, _, password = userinfo.partition(":")
        return Credentials(unquote(user), unquote(password))
    return None


class Batch:
    """The uv calls of one `execute`: run once by the first operation that needs them, while
    the others wait; afterwards each operation only reports itself done."""

    def __init__(self, executor: Any, plan: Plan, uv: str, warn: Callable[[str], None]) -> None:
        self._executor = executor
        self._plan = plan
        self._uv = uv
        self._warn = warn
        self._ids = {id(op) for op in plan.operations}
        self._lock = threading.Lock()
        self._done: Optional[bool] = None

    def takes(self, operation: Any) -> bool:
        return id(operation) in self._ids

    def installed(self) -> bool:
        """Whether uv installed every operation of the plan (run on first call)."""
        with self._lock:
            if self._done is None:
                self._done = self._run()
            return self._done

    def _run(self) -> bool:
        executor = self._executor
        # The uninstall half of updates, as Poetry's `_install` does it (builtin-uninstall,
        # the race protection), in parallel as Poetry runs them.
        updates = [op for op in self._plan.operations if op.job_type == "update"]
        if updates:
            with ThreadPoolExecutor(max_workers=getattr(executor, "_max_workers", 1)) as pool:
                codes = list(pool.map(lambda op: executor._remove(op.initial_package), updates))
            if any(codes):
                return False
        for source, operations in self._plan.by_source.items():
            error = self._install(source, operations)
            if error is not None:
                names = ", ".join(op.package.name for op in operations)
                self._warn(
                    f"fast-install: uv could not install from {source.name} ({error}); "
                    f"Poetry installs {names} itself"
                )
                return False
        env = executor._env
        installed = dist_infos({env.paths["purelib"], env.paths["platlib"]})
        for op in self._plan.operations:
            for dist_info in installed.get(canonical(op.package.name), []):
                as_poetry_writes_it(dist_info, str(env.python))
        return True

    def _install(self, source: Source, operations: List[Any]) -> Optional[str]:
        executor = self._executor
        env = executor._env
        credentials = _credentials(executor, source, operations[0].package)
        secrets = [credentials.password, credentials.username] if credentials else []
        cache = os.environ.get("UV_CACHE_DIR") or str(_poetry_cache_dir() / "uv")
        levels = getattr(executor._wheel_installer, "_bytecode_optimization_levels", ())
        # uv's lock of the env, made 0666 whatever the umask; Poetry leaves none.
        env_lock = Path(env.path) / ".lock"
        had_lock = env_lock.exists()
        with tempfile.TemporaryDirectory(prefix="spp-fast-install-") as scratch:
            requirements = os.path.join(scratch, "requirements.txt")
            with open(requirements, "w", encoding="utf-8") as handle:
                for op in operations:
                    line = requirement_line(op.package, hashes_of(op.package) or [])
                    handle.write(line + "\n")
            command = uv_command(
                self._uv, str(env.python), source, requirements, compile_bytecode=bool(levels)
            )
            try:
                done = subprocess.run(
                    command,
                    cwd=scratch,  # nothing of the project's directory is read
                    env=uv_env(os.environ, cache, credentials),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    check=False,
                )
            except OSError as exc:
                return f"{self._uv}: {exc.strerror}"
            finally:
                if not had_lock:
                    with contextlib.suppress(OSError):
                        env_lock.unlink()
        output = redact(done.stdout.decode("utf-8", "replace"), secrets)
        if executor._io.is_debug():
            executor._io.write_line(output.rstrip())
        if done.returncode != 0:
            return failure(output) or f"exit code {done.returncode}"
        return None


def failure(output: str) -> str:
    """uv's error, from its `error:` line on, as one line (its labels and values kept)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.startswith("error:")), 0)
    text = " ".join(lines[start:])
    return text if len(text) <= 500 else text[:497] + "..."


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_infos(directories: Iterable[str]) -> Dict[str, List[Path]]:
    """The `.dist-info` dirs of these site-packages by canonical name, in one listing each
    (asking Poetry per package reads every distribution's metadata each time)."""
    found: Dict[str, List[Path]] = {}
    for directory in directories:
        with contextlib.suppress(OSError):
            for entry in os.scandir(directory):
                if entry.name.endswith(".dist-info") and entry.is_dir():
                    name = entry.name[: -len(".dist-info")].rpartition("-")[0]
                    found.setdefault(canonical(name), []).append(Path(entry.path))
    return found


def as_poetry_writes_it(dist_info: Path, python: str) -> None:
    """Make what uv installed the files Poetry's installer writes for the same wheel, where
    they differ: Poetry's script launchers (the `installer` library's, shebang to the env's
    Python), no REQUESTED file, and none of the wheel's own `__pycache__` files (Poetry refuses
    them as a security risk). INSTALLER stays "uv": it says who installed the files."""
    record = dist_info / "RECORD"
    site = str(dist_info.parent)
    scripts_dir = os.path.dirname(python)
    scripts = _scripts(dist_info, python)
    kept = []
    for line in record.read_text(encoding="utf-8").splitlines():
        # Most lines name a file inside site-packages that stays as uv wrote it: kept as
        # they are, unparsed (a RECORD of numpy or pandas has thousands).
        if not (line.startswith("..") or "__pycache__" in line or "REQUESTED," in line):
            if line:
                kept.append(line)
            continue
        row = next(csv.reader([line]))
        path = os.path.normpath(os.path.join(site, row[0]))
        name = os.path.basename(path)
        if path == str(dist_info / "REQUESTED") or (
            "__pycache__" in Path(row[0]).parts and name.endswith(".pyc")
        ):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            continue
        if name in scripts and os.path.dirname(path) == scripts_dir and os.path.isfile(path):
            row = _write_script(path, row[0], scripts[name])
        kept.append(_csv_line(row))
    scratch = record.with_name(".RECORD.spp")
    scratch.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    os.replace(str(scratch), str(record))


def _csv_line(row: List[str]) -> str:
    text = io.StringIO()
    csv.writer(text, lineterminator="").writerow(row)
    return text.getvalue()


def _write_script(path: str, relative: str, data: bytes) -> List[str]:
    """Poetry's launcher in place of uv's; its RECORD row."""
    with open(path, "wb") as out:
        out.write(data)
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return [relative, "sha256=" + digest.decode(), str(len(data))]


def _scripts(dist_info: Path, python: str) -> Dict[str, bytes]:
    """Poetry's launchers of the distribution's entry points, by file name."""
    try:
        from installer.scripts import Script
        from installer.utils import parse_entrypoints
    except ImportError:  # an installer library that moved: uv's launchers stay
        return {}
    entry_points = dist_info / "entry_points.txt"
    if os.name == "nt" or not entry_points.is_file():
        return {}
    found = {}
    for name, module, attr, section in parse_entrypoints(entry_points.read_text("utf-8")):
        file_name, data = Script(name, module, attr, section).generate(python, "posix")
        found[file_name] = data
    return found


def _poetry_cache_dir() -> Path:
    from poetry.locations import DEFAULT_CACHE_DIR

    return Path(os.environ.get("POETRY_CACHE_DIR") or DEFAULT_CACHE_DIR)


# --- Hooks into Poetry's executor -----------------------------------------------------------


def _plan_for(executor: Any, operations: List[Any]) -> Optional[Plan]:
    from poetry.utils.env import VirtualEnv
    from poetry.utils.wheel import Wheel

    env = executor._env
    if os.name == "nt":
        return None  # uv's and Poetry's .exe launchers differ: Poetry installs as ever
    if not isinstance(env, VirtualEnv) or not _installs_into_itself(env):
        return None  # a system env (uv would need --system), or Poetry's own env installing
        # project plugins into their cache (set_paths): Poetry installs as ever
    policy = getattr(getattr(executor, "_chooser", None), "_no_binary_policy", None)
    authenticator = executor._authenticator

    def own_certificates(source: Source) -> bool:
        if source.url == PYPI:
            return False
        certs = authenticator.get_certs_for_url(source.url)
        return bool(certs.cert or certs.client_cert or not certs.verify)

    return decide(
        operations,
        supported=lambda name: _supported(Wheel, name, env),
        wheels_allowed=lambda name: policy is None or policy.allows(name),
        own_certificates=own_certificates,
    )


def _supported(wheel: Any, filename: str, env: Any) -> bool:
    try:
        return bool(wheel(filename).is_supported_by_environment(env))
    except Exception:  # a file name Poetry cannot parse: Poetry's to install
        return False


def _installs_into_itself(env: Any) -> bool:
    import sys

    root = Path(env.path).resolve()
    if root == Path(sys.prefix).resolve():
        return False
    purelib = Path(env.paths.get("purelib", "")).resolve()
    return root in purelib.parents


def _notice(executor: Any, plan: Plan) -> None:
    if not plan.kept:
        return
    reasons = "; ".join(f"{op.package.name}: {why}" for op, why in plan.kept)
    executor._io.write_error_line(
        f"setup-poetry-parallel: fast-install: Poetry installs {len(plan.kept)} "
        f"package(s) itself ({reasons})"
    )


def _wrap_execute(original: Callable[..., Any], uv: str, warn: Callable[[str], None]) -> Any:
    def execute(self: Any, operations: List[Any]) -> Any:
        self.__dict__.pop("_spp_batch", None)
        if self._enabled and not self._dry_run and operations:
            plan = _plan_for(self, operations)
            if plan is not None and plan.by_source:
                _notice(self, plan)
                self.__dict__["_spp_batch"] = Batch(self, plan, uv, warn)
        try:
            return original(self, operations)
        finally:
            self.__dict__.pop("_spp_batch", None)

    return execute


def _wrap_operation(original: Callable[..., Any]) -> Any:
    def run(self: Any, operation: Any) -> Any:
        batch = self.__dict__.get("_spp_batch")
        if batch is not None and batch.takes(operation) and batch.installed():
            return 0  # Poetry writes the "Installing x (1.0)" line and counts it
        return original(self, operation)

    return run


def enable(environ: Mapping[str, str], warn: Callable[[str], None]) -> str:
    """Install the hooks when the variable names a uv; return "on", "off" or "differs"."""
    uv = environ.get(VARIABLE, "").strip()
    if not uv:
        return OFF
    if not (os.path.isabs(uv) and os.access(uv, os.X_OK)):
        warn(f"{VARIABLE}={uv} is not an executable uv; Poetry installs as usual")
        return DIFFERS
    try:
        from poetry.installation.executor import Executor
        from poetry.utils.env import VirtualEnv  # noqa: F401 - feature detection
        from poetry.utils.wheel import Wheel  # noqa: F401 - feature detection
    except ImportError:
        return _differs(warn)
    # The methods wrapped, and `_remove` (the uninstall half of updates), as we know them.
    known = {
        "execute": ["self", "operations"],
        "_execute_install": ["self", "operation"],
        "_execute_update": ["self", "operation"],
        "_remove": ["self", "package"],
    }
    # _remove may already be spp_poetry_races' wrapper: its signature is the original's.
    methods = {name: _own_method(Executor, name, parameters) for name, parameters in known.items()}
    if any(method is None for method in methods.values()):
        return _differs(warn)
    wrappers = {
        "execute": _wrap_execute(methods["execute"], uv, warn),
        "_execute_install": _wrap_operation(methods["_execute_install"]),
        "_execute_update": _wrap_operation(methods["_execute_update"]),
    }
    for name, wrapper in wrappers.items():  # a second activation finds ours: left as it is
        _replace(Executor, name, methods[name], wrapper)
    return ON


def _differs(warn: Callable[[str], None]) -> str:
    warn(
        "fast-install: this Poetry's installer differs from what setup-poetry-parallel knows;"
        " Poetry installs as usual"
    )
    return DIFFERS
