"""Protections against Poetry's own races inside one job, applied where Poetry runs.

Three races of Poetry 2.x, each open upstream, each fixed here as narrowly as it happens:

- Parallel uninstalls (python-poetry/poetry#8159, #2658): the parallel installer runs the
  uninstall step of several updates at once; each `pip uninstall` scans site-packages while
  another one removes a `.dist-info`, and fails with FileNotFoundError. An uninstall step
  (`Executor._remove`) that fails beside others runs again alone, with no other uninstall of
  that env running; downloads, installs and the uninstalls that do not collide stay parallel.
- Files two wheels share (#9158): `WheelDestination.write_to_fs` opens its target with "wb"
  (truncate in place, no temporary file), so two threads writing one namespace `__init__.py`
  leave one's content followed by the other's tail. Serialized per target path.
- The HTTP cache (#11048, psf/cachecontrol#324): since Poetry 2.4 cachecontrol's
  SeparateBodyFileCache writes the metadata, then the body, as two files; a reader in between
  gets an empty body ("Package setuptools not found", IncompleteRead). Here the body is written
  first and the metadata last, both under one file lock per entry that readers take too, and
  metadata without a body is a miss. File locks, not thread locks: the same cache is safe for
  several Poetry processes (tox -p inside one job; one cache shared by the jobs of a host).

Three more make Poetry's artifacts cache safe to share between the jobs of a host (the
action's `download-cache`): a wheel built from an sdist or a git checkout is built beside the
cache and renamed into place (`SPP_PROTECT_BUILT_WHEELS`), a failed download no longer deletes
the archive another process has just finished (`SPP_PROTECT_DOWNLOADS`), and a cached archive
that fails Poetry's hash check is set aside and fetched again, with one warning, instead of
failing every later install (`SPP_PROTECT_CORRUPT_ARCHIVES`).

Each touch of Poetry's internals is feature-detected: a Poetry whose internals differ keeps its
own behaviour for that part, and the plugin warns once. `SPP_PROTECT_UNINSTALL=0`,
`SPP_PROTECT_SHARED_FILES=0` and `SPP_PROTECT_HTTP_CACHE=0` turn each protection off.

Runs inside Poetry's venv: imports on Python 3.9+ and uses nothing but Poetry and what Poetry
itself depends on (cachecontrol and its file lock).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

ON = "on"
OFF = "off"  # turned off by its switch
DIFFERS = "differs"  # this Poetry's internals are not the ones we know: left alone
INERT = "inert"  # no Poetry 2.x here: nothing to protect

# switch variable -> (what it protects, the upstream issue)
SWITCHES = {
    "SPP_PROTECT_UNINSTALL": "parallel uninstalls (python-poetry/poetry#8159)",
    "SPP_PROTECT_SHARED_FILES": "files two packages share (python-poetry/poetry#9158)",
    "SPP_PROTECT_HTTP_CACHE": "the HTTP cache (python-poetry/poetry#11048)",
    "SPP_PROTECT_BUILT_WHEELS": "wheels built into a shared artifacts cache",
    "SPP_PROTECT_DOWNLOADS": "a failed download deleting another process's archive",
    "SPP_PROTECT_METADATA_CACHE": "package metadata written in place in a shared cache",
    "SPP_PROTECT_CORRUPT_ARCHIVES": "an archive in a shared download cache failing its hash",
}
_OFF_VALUES = {"0", "false", "no", "off"}
# Marks our wrappers, so that a second activation in one process does not wrap twice.
_MARK = "__spp_protection__"
_log = logging.getLogger("cachecontrol.controller")
_log_retry = logging.getLogger("poetry.installation.executor")


def _parameters(function: Any) -> Optional[List[str]]:
    try:
        return list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return None


def _own_method(cls: type, name: str, parameters: List[str]) -> Optional[Callable[..., Any]]:
    """`cls.name` when the class defines it itself with exactly these parameters, else None."""
    method = cls.__dict__.get(name)
    if not callable(method) or _parameters(method) != parameters:
        return None
    return method


def _replace(
    cls: type, name: str, original: Callable[..., Any], wrapper: Callable[..., Any]
) -> str:
    if getattr(original, _MARK, False):
        return ON  # already ours
    functools.update_wrapper(wrapper, original)
    setattr(wrapper, _MARK, True)
    setattr(cls, name, wrapper)
    return ON


# --- Parallel uninstalls (#8159) ------------------------------------------------------------


class _SharedOrAlone:
    """A lock that many hold together (shared) or one holds alone (exclusive); a waiting
    exclusive holder keeps new shared ones out, so it cannot starve."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._shared = 0
        self._alone = False
        self._waiting = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: not self._alone and not self._waiting)
            self._shared += 1
        try:
            yield
        finally:
            with self._condition:
                self._shared -= 1
                self._condition.notify_all()

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        with self._condition:
            self._waiting += 1
            self._condition.wait_for(lambda: not self._alone and not self._shared)
            self._waiting -= 1
            self._alone = True
        try:
            yield
        finally:
            with self._condition:
                self._alone = False
                self._condition.notify_all()


_env_locks: Dict[str, _SharedOrAlone] = {}
_env_locks_guard = threading.Lock()


def _env_lock(executor: Any) -> _SharedOrAlone:
    """One lock per environment. A thread lock is enough: the parallel installer's workers are
    threads of one Poetry process, and each job has its own virtualenvs (two Poetry processes
    installing into one env would race everywhere, not only here)."""
    key = str(getattr(getattr(executor, "_env", None), "path", ""))
    with _env_locks_guard:
        return _env_locks.setdefault(key, _SharedOrAlone())


def _remove_or_retry_alone(original: Callable[..., Any]) -> Callable[..., Any]:
    # Executor._remove is the uninstall step of both updates and removals, with pip (every 2.x)
    # or with 2.5's builtin uninstaller. Uninstalls run together, as Poetry runs them; one that
    # fails runs again alone, once the others are done, so that nothing removes a .dist-info
    # while it scans site-packages. Serializing every uninstall instead costs a pip start each
    # (measured: 40 updates took 2.4x as long). Retrying is safe: the race fails pip while it
    # looks for the distribution, before it removes anything, and pip rolls back a failed
    # removal; an uninstall that fails for another reason fails again, alone, and Poetry
    # reports that second failure as it would have reported the first.
    def _remove(self: Any, package: Any) -> Any:
        lock = _env_lock(self)
        try:
            with lock.shared():
                # A code (-2: the user cancelled pip) is an answer, not a collision.
                return original(self, package)
        except Exception:  # any failure: once more alone, then it is Poetry's to report
            _log_retry.debug("uninstall of %s failed beside others: again, alone", package)
        with lock.alone():
            return original(self, package)

    return _remove


def protect_uninstall() -> str:
    from poetry.installation.executor import Executor

    original = _own_method(Executor, "_remove", ["self", "package"])
    if original is None:
        return DIFFERS
    return _replace(Executor, "_remove", original, _remove_or_retry_alone(original))


# --- Files two wheels share (#9158) ---------------------------------------------------------

# Striped locks: bounded memory whatever the number of files; two paths rarely share a stripe,
# and when they do they only wait for one small file write.
_STRIPES = tuple(threading.Lock() for _ in range(64))


def _path_lock(destination: Any, scheme: Any, path: str) -> threading.Lock:
    schemes = getattr(destination, "scheme_dict", None)
    root = schemes.get(scheme, "") if isinstance(schemes, dict) else ""
    key = os.path.normcase(os.path.abspath(os.path.join(str(root), path)))
    return _STRIPES[hash(key) % len(_STRIPES)]


def protect_shared_files() -> str:
    from poetry.installation.wheel_installer import WheelDestination

    parameters = ["self", "scheme", "path", "stream", "is_executable"]
    original = _own_method(WheelDestination, "write_to_fs", parameters)
    if original is None:
        return DIFFERS

    # From the exists() check to the last byte: the later writer wins whole, as with pip.
    def write_to_fs(self: Any, scheme: Any, path: str, stream: Any, is_executable: bool) -> Any:
        with _path_lock(self, scheme, path):
            return original(self, scheme, path, stream, is_executable)

    return _replace(WheelDestination, "write_to_fs", original, write_to_fs)


# --- The HTTP cache (#11048) ----------------------------------------------------------------


def _entry_lock(cache: Any, file_cache: type, key: Optional[str]) -> Any:
    """The cross-process lock of one cache entry, or None for a cache that is not ours to lock.

    cachecontrol locks each file while writing it (`<entry>.lock`, `<entry>.body.lock`); ours
    is a third name, held around both files, so the two never nest on one lock file."""
    lock_class = getattr(cache, "lock_class", None)
    if key is None or lock_class is None or not isinstance(cache, file_cache):
        return None
    path = cache._fn(key) + ".spp-entry.lock"
    os.makedirs(os.path.dirname(path), getattr(cache, "dirmode", 0o700), exist_ok=True)
    return lock_class(path)


def _cache_set_body_first(original: Callable[..., Any], file_cache: type) -> Callable[..., Any]:
    def _cache_set(  # noqa: PLR0917 - cachecontrol's own signature, called positionally
        self: Any,
        cache_url: str,
        request: Any,
        response: Any,
        body: Optional[bytes] = None,
        expires_time: Optional[int] = None,
    ) -> None:
        lock = _entry_lock(self.cache, file_cache, cache_url)
        if lock is None:
            original(self, cache_url, request, response, body, expires_time)
            return
        with lock:
            # Body first: the metadata is what makes an entry visible to readers. body is None
            # when only the headers change (a 304 revalidation): the stored body stays.
            if body is not None:
                self.cache.set_body(cache_url, body)
            metadata = self.serializer.dumps(request, response, b"")
            self.cache.set(cache_url, metadata, expires=expires_time)

    return _cache_set


def _read_entry(cache: Any, key: str) -> Tuple[Optional[bytes], Any]:
    metadata = cache.get(key)
    return metadata, cache.get_body(key) if metadata is not None else None


def _load_complete_entry(original: Callable[..., Any], file_cache: type) -> Callable[..., Any]:
    def _load_from_cache(self: Any, request: Any) -> Any:
        key = request.url
        if "Range" in request.headers or not isinstance(self.cache, file_cache):
            return original(self, request)
        if self.cache.get(key) is None:
            return None  # a miss, decided without creating a lock file for it
        lock = _entry_lock(self.cache, file_cache, key)
        if lock is None:
            return original(self, request)
        try:
            with lock:
                metadata, body = _read_entry(self.cache, key)
        except OSError:  # a cache we may read but not lock (read-only): body-first still holds
            metadata, body = _read_entry(self.cache, key)
        if metadata is None or body is None:
            # Metadata without its body: written by a cachecontrol that writes metadata first
            # and is between the two files, or half-deleted by another process. A miss costs a
            # download; an empty body is a broken index page or wheel (#11048).
            return None
        # The open body is safe outside the lock: writers replace files, never rewrite them.
        result = self.serializer.loads(request, metadata, body)
        if result is None:
            body.close()
            _log.warning("Cache entry deserialization failed, entry ignored")
        return result

    return _load_from_cache


def protect_http_cache() -> str:
    from cachecontrol.caches.file_cache import SeparateBodyFileCache
    from cachecontrol.controller import CacheController

    set_parameters = ["self", "cache_url", "request", "response", "body", "expires_time"]
    cache_set = _own_method(CacheController, "_cache_set", set_parameters)
    load = _own_method(CacheController, "_load_from_cache", ["self", "request"])
    cache_methods = ("_fn", "get", "get_body", "set", "set_body")
    if cache_set is None or load is None:
        return DIFFERS
    if not all(callable(getattr(SeparateBodyFileCache, name, None)) for name in cache_methods):
        return DIFFERS
    # Poetry < 2.4 uses cachecontrol's FileCache (one file per entry, replaced atomically):
    # these wrappers then only pass through, as they do for any other kind of cache.
    _replace(
        CacheController,
        "_cache_set",
        cache_set,
        _cache_set_body_first(cache_set, SeparateBodyFileCache),
    )
    return _replace(
        CacheController, "_load_from_cache", load, _load_complete_entry(load, SeparateBodyFileCache)
    )


# --- A download cache shared by several processes (the host's jobs) ------------------------


def protect_built_wheels() -> str:
    from poetry.installation.chef import Chef

    original = Chef.__dict__.get("_prepare")
    parameters = _parameters(original) if callable(original) else None
    if (
        original is None
        or parameters is None
        or parameters[:3] != ["self", "directory", "destination"]
    ):
        return DIFFERS

    # The build backend writes the wheel in place, into the artifacts dir where Poetry looks
    # for `*.whl`: another process sharing that dir could take it half-written. Built in a
    # scratch dir beside it (Poetry does not look into subdirectories), then renamed into place.
    def _prepare(self: Any, directory: Any, destination: Any, *args: Any, **kwargs: Any) -> Any:
        target = Path(destination)
        target.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".spp-build-", dir=str(target)))
        try:
            built = Path(original(self, directory, scratch, *args, **kwargs))
            final = target / built.name
            os.replace(str(built), str(final))
            return final
        finally:
            shutil.rmtree(str(scratch), ignore_errors=True)

    return _replace(Chef, "_prepare", original, _prepare)


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[None]:
    """An exclusive flock for as long as the block runs; no lock where flock is missing."""
    try:
        import fcntl
    except ImportError:  # Windows: the download cache is not shared there
        yield
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield  # released when the file is closed


def protect_downloads() -> str:
    from poetry.installation.executor import Executor

    parameters = ["self", "operation", "url", "dest"]
    original = _own_method(Executor, "_download_archive", parameters)
    if original is None:
        return DIFFERS

    # Poetry's artifact cache locks a download against the other threads of its process only:
    # jobs sharing the cache would each fetch the same archive. One file lock per archive makes
    # the others wait and take the finished file. And when a download fails, Poetry deletes its
    # destination: downloads are renamed into place (requests' atomic_open), so a destination
    # that exists is a whole file another process finished; keep it (Poetry checks its hash).
    def _download_archive(self: Any, operation: Any, url: str, dest: Any) -> Any:
        with _file_lock(str(dest) + ".spp-download.lock"):
            if os.path.isfile(str(dest)):
                return None
            try:
                return original(self, operation, url, dest)
            except Exception:
                if os.path.isfile(str(dest)):
                    return None
                raise

    return _replace(Executor, "_download_archive", original, _download_archive)


def protect_metadata_cache() -> str:
    from poetry.utils import cache

    parameters = ["self", "key", "value", "minutes"]
    original = _own_method(cache.FileCache, "put", parameters)
    item, expiration = getattr(cache, "CacheItem", None), getattr(cache, "_expiration", None)
    if original is None or item is None or expiration is None:
        return DIFFERS

    # Poetry's package-metadata cache (cache/repositories/<source>) writes each file in place:
    # a process sharing the cache can read it half-written ("Corrupt cache file was detected").
    # The same payload, written under a fresh name and renamed into place.
    def put(self: Any, key: str, value: Any, minutes: Optional[int] = None) -> None:
        payload = item(value, expires=expiration(minutes) if minutes is not None else None)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self._serialize(payload)
        fd, scratch = tempfile.mkstemp(prefix="." + path.name + ".", dir=str(path.parent))
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(scratch, str(path))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(scratch)
            raise

    return _replace(cache.FileCache, "put", original, put)


# --- A corrupt archive in a shared download cache -------------------------------------------

SET_ASIDE = ".spp-set-aside-"  # ends the set-aside name: no archive suffix Poetry globs for


def _corrupt_cached_archive(executor: Any, operation: Any, link: Any) -> Optional[Path]:
    """The cached archive of `link` if Poetry's own hash check refuses it, else None (the
    failure was something else, or the archive is not in the lock file to check it by)."""
    package = operation.package
    cached = executor._artifact_cache.get_cached_archive_for_link(link, strict=True)
    if cached is None or cached.name not in {f.get("file") for f in package.files or []}:
        return None
    try:
        executor._validate_archive_hash(cached, package)
    except RuntimeError:
        return cached
    return None


def _set_aside(archive: Path) -> Optional[Path]:
    """Renamed, not deleted: a job that has it open keeps reading what it read; another job
    that set it aside first wins (None). Pruned with its entry (downloads.py)."""
    aside = archive.with_name("." + archive.name + SET_ASIDE + os.urandom(4).hex())
    try:
        os.rename(str(archive), str(aside))
    except FileNotFoundError:
        return None
    return aside


def _warn(executor: Any, message: str) -> None:
    io = getattr(executor, "_io", None)
    if io is not None and callable(getattr(io, "write_error_line", None)):
        io.write_error_line("<warning>Warning: " + message + "</warning>")
    else:
        _log_retry.warning(message)


def _heal_and_retry(original: Callable[..., Any]) -> Callable[..., Any]:
    # Poetry checks a cached archive against the lock file's hashes every time it installs it
    # (Executor._download_link -> _populate_hashes_dict -> _validate_archive_hash), and never
    # fetches it again: one bad file in a cache that every job of the host shares (a bad write,
    # a bad mirror, a neighbour with the same uid) fails every later install until someone
    # deletes it. A failure whose archive fails that same check is healed once: the archive is
    # set aside and Poetry fetches it again, and checks the new one as it always does.
    def _download_link(self: Any, operation: Any, link: Any) -> Any:
        try:
            return original(self, operation, link)
        except Exception:
            corrupt = _corrupt_cached_archive(self, operation, link)
            if corrupt is None:
                raise
        aside = _set_aside(corrupt)
        # The artifacts dir: a link into the host's shared cache when the setup shares it.
        where = os.path.realpath(str(getattr(self._artifact_cache, "_cache_dir", corrupt.parent)))
        _warn(
            self,
            f"{corrupt.name} in the download cache {where} (shared with other jobs when the"
            " setup's download-cache is on) failed its hash check: "
            + (f"set aside as {aside.name} and " if aside else "")
            + "downloaded again",
        )
        return original(self, operation, link)

    return _download_link


def protect_corrupt_archives() -> str:
    from poetry.installation.executor import Executor
    from poetry.utils.cache import ArtifactCache

    original = _own_method(Executor, "_download_link", ["self", "operation", "link"])
    validate = Executor.__dict__.get("_validate_archive_hash")
    lookup = _parameters(getattr(ArtifactCache, "get_cached_archive_for_link", None))
    if (
        original is None
        or not isinstance(validate, staticmethod)
        or not lookup
        or not {"link", "strict"} <= set(lookup)
    ):
        return DIFFERS
    return _replace(Executor, "_download_link", original, _heal_and_retry(original))


# --- Activation -----------------------------------------------------------------------------

PROTECTIONS: Dict[str, Callable[[], str]] = {
    "SPP_PROTECT_UNINSTALL": protect_uninstall,
    "SPP_PROTECT_SHARED_FILES": protect_shared_files,
    "SPP_PROTECT_HTTP_CACHE": protect_http_cache,
    "SPP_PROTECT_BUILT_WHEELS": protect_built_wheels,
    "SPP_PROTECT_DOWNLOADS": protect_downloads,
    "SPP_PROTECT_METADATA_CACHE": protect_metadata_cache,
    "SPP_PROTECT_CORRUPT_ARCHIVES": protect_corrupt_archives,
}


def _poetry_2() -> bool:
    try:
        from poetry.__version__ import __version__
    except ImportError:
        return False
    return __version__.split(".")[0] == "2"


def _apply(switch: str, environ: Mapping[str, str]) -> str:
    if environ.get(switch, "").strip().lower() in _OFF_VALUES:
        return OFF
    try:
        return PROTECTIONS[switch]()
    except (ImportError, AttributeError, TypeError):  # a module or class moved or renamed
        return DIFFERS


def protect(environ: Mapping[str, str], warn: Callable[[str], None]) -> Dict[str, str]:
    """Apply every protection not switched off; warn once about those this Poetry cannot take."""
    if not _poetry_2():
        return {switch: INERT for switch in PROTECTIONS}
    states = {switch: _apply(switch, environ) for switch in PROTECTIONS}
    differing = [switch for switch, state in states.items() if state == DIFFERS]
    if differing:
        warn(
            "this Poetry's internals differ from what setup-poetry-parallel knows; it keeps "
            "Poetry's own behaviour, unprotected against "
            + ", ".join(SWITCHES[switch] for switch in differing)
            + " (set "
            + ", ".join(switch + "=0" for switch in differing)
            + " to silence this)"
        )
    return states
