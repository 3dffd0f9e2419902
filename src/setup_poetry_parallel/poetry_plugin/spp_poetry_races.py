"""Protections against Poetry's own races inside one job, applied where Poetry runs.

Three races of Poetry 2.x, each open upstream, each fixed here as narrowly as it happens:

- Parallel uninstalls (python-poetry/poetry#8159, #2658): the parallel installer runs the
  uninstall step of several updates at once; each `pip uninstall` scans site-packages while
  another one removes a `.dist-info`, and fails with FileNotFoundError. Serialized per env:
  only `Executor._remove`, downloads and installs stay parallel.
- Files two wheels share (#9158): `WheelDestination.write_to_fs` opens its target with "wb"
  (truncate in place, no temporary file), so two threads writing one namespace `__init__.py`
  leave one's content followed by the other's tail. Serialized per target path.
- The HTTP cache (#11048, psf/cachecontrol#324): since Poetry 2.4 cachecontrol's
  SeparateBodyFileCache writes the metadata, then the body, as two files; a reader in between
  gets an empty body ("Package setuptools not found", IncompleteRead). Here the body is written
  first and the metadata last, both under one file lock per entry that readers take too, and
  metadata without a body is a miss. File locks, not thread locks: the same cache is safe for
  several Poetry processes (tox -p inside one job; one cache shared by the jobs of a host).

Each touch of Poetry's internals is feature-detected: a Poetry whose internals differ keeps its
own behaviour for that part, and the plugin warns once. `SPP_PROTECT_UNINSTALL=0`,
`SPP_PROTECT_SHARED_FILES=0` and `SPP_PROTECT_HTTP_CACHE=0` turn each protection off.

Runs inside Poetry's venv: imports on Python 3.9+ and uses nothing but Poetry and what Poetry
itself depends on (cachecontrol and its file lock).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional

ON = "on"
OFF = "off"  # turned off by its switch
DIFFERS = "differs"  # this Poetry's internals are not the ones we know: left alone
INERT = "inert"  # no Poetry 2.x here: nothing to protect

# switch variable -> (what it protects, the upstream issue)
SWITCHES = {
    "SPP_PROTECT_UNINSTALL": "parallel uninstalls (python-poetry/poetry#8159)",
    "SPP_PROTECT_SHARED_FILES": "files two packages share (python-poetry/poetry#9158)",
    "SPP_PROTECT_HTTP_CACHE": "the HTTP cache (python-poetry/poetry#11048)",
}
_OFF_VALUES = {"0", "false", "no", "off"}
# Marks our wrappers, so that a second activation in one process does not wrap twice.
_MARK = "__spp_protection__"
_log = logging.getLogger("cachecontrol.controller")


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

_env_locks: Dict[str, threading.Lock] = {}
_env_locks_guard = threading.Lock()


def _env_lock(executor: Any) -> threading.Lock:
    """One lock per environment. A thread lock is enough: the parallel installer's workers are
    threads of one Poetry process, and each job has its own virtualenvs (two Poetry processes
    installing into one env would race everywhere, not only here)."""
    key = str(getattr(getattr(executor, "_env", None), "path", ""))
    with _env_locks_guard:
        return _env_locks.setdefault(key, threading.Lock())


def protect_uninstall() -> str:
    from poetry.installation.executor import Executor

    original = _own_method(Executor, "_remove", ["self", "package"])
    if original is None:
        return DIFFERS

    # Executor._remove is the uninstall step of both updates and removals, with pip (every 2.x)
    # or with the builtin uninstaller (2.5's installer.builtin-uninstall): downloads and
    # installs of the other operations keep running in parallel.
    def _remove(self: Any, package: Any) -> Any:
        with _env_lock(self):
            return original(self, package)

    return _replace(Executor, "_remove", original, _remove)


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
        with lock:
            metadata = self.cache.get(key)
            body = self.cache.get_body(key) if metadata is not None else None
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


# --- Activation -----------------------------------------------------------------------------

PROTECTIONS: Dict[str, Callable[[], str]] = {
    "SPP_PROTECT_UNINSTALL": protect_uninstall,
    "SPP_PROTECT_SHARED_FILES": protect_shared_files,
    "SPP_PROTECT_HTTP_CACHE": protect_http_cache,
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
