"""Test-only `sitecustomize`: forces Poetry's races deterministically. Never installed anywhere.

The race tests copy this file as `sitecustomize.py` into a temporary directory and put that
directory on PYTHONPATH of the Poetry processes they start, so it runs at the start of Poetry
and of every `pip` Poetry starts in the project env. It changes no code of Poetry's; it only
waits at the one point where each race happens, which turns a window of microseconds into one
that a reproduction hits every time. Each hook is off unless its variable is set:

- SPP_FORCE_UNINSTALL=<name> (with SPP_FORCE_DIR): a `pip uninstall` of another package,
  about to list `<name>-*.dist-info` (pip's pkg_resources scan: isdir, then listdir), says so
  (`<dir>/scanning`) and waits until that directory is gone; the `pip uninstall <name>`
  waits for that word before it goes on to remove it. Either waits SPP_FORCE_WAIT seconds at
  most, so two uninstalls that do not overlap both finish (#8159).
- SPP_FORCE_SHARED_FILE=<relative path>: two threads writing that file meet after both opened
  it (open "wb" truncates), then the longer content is written first (#9158). The first one
  waits for the second as long as the second wheel's install has not started, then at most
  SPP_FORCE_WAIT seconds more (when the second is held back before its open, it never comes).
- SPP_FORCE_HTTP_HOLD=<dir>: the writer's first body written to cachecontrol's
  SeparateBodyFileCache waits (after `<dir>/held` names its URL) until `<dir>/release` exists
  (the test creates it once the reader is done), or `<dir>/missed` does, or SPP_FORCE_WAIT
  seconds passed (#11048).
- SPP_FORCE_HTTP_READ=<dir>: the reader creates `<dir>/missed` when it looks up the held URL
  and finds no entry at all (with the protection: no metadata before its body). It then fetches
  the page itself and would only wait for the writer's entry lock: no reason to hold longer.
- SPP_FORCE_HIDE=write_to_fs: Poetry's WheelDestination loses its own write_to_fs (a Poetry
  whose internals differ; the base class's method still installs).
- SPP_FORCE_RECORD_UNINSTALLS=<file>: each uninstall Poetry's executor runs is appended to the
  file as "builtin <name>" (2.5's uninstall_distribution) or "pip <name>" (pip uninstall).
- SPP_FORCE_HIDE=execute_update: Executor._execute_update takes another parameter (a Poetry
  whose installer differs from what fast install knows; it still updates).

Imports on Python 3.9 (the project env's pip runs it).
"""

import importlib.machinery
import io
import os
import sys
import threading
import time

WAIT = float(os.environ.get("SPP_FORCE_WAIT") or 4)


def _deadline_wait(condition):
    deadline = time.monotonic() + WAIT
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


class _AfterImport:
    """Runs `hook(module)` right after `name` is first imported."""

    def __init__(self, name, hook):
        self.name, self.hook = name, hook

    def find_spec(self, name, path, target=None):
        if name != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module, hook = spec.loader.exec_module, self.hook

        def run(module):
            exec_module(module)
            hook(module)

        spec.loader.exec_module = run
        return spec


def _after_import(name, hook):
    sys.meta_path.insert(0, _AfterImport(name, hook))


# --- #8159: pip uninstall lists a .dist-info another pip is removing ------------------------


def _force_uninstall(victim, directory):
    try:
        with open("/proc/self/cmdline", "rb") as handle:
            argv = handle.read().decode(errors="replace").split("\0")
    except OSError:
        return
    if "uninstall" not in argv or not any("pip" in arg for arg in argv):
        return
    listdir, once, scanning = os.listdir, [], os.path.join(directory, "scanning")

    def wait_for_scanner(path):
        _deadline_wait(lambda: os.path.exists(scanning))

    def scan_while_removed(path):
        open(scanning, "w").close()
        _deadline_wait(lambda: not os.path.exists(path))

    wait = wait_for_scanner if victim in argv else scan_while_removed

    def slow_listdir(path="."):
        name = os.path.basename(str(path))
        if not once and name.startswith(victim + "-") and name.endswith(".dist-info"):
            once.append(name)
            wait(path)
        return listdir(path)

    os.listdir = slow_listdir


# --- #9158: two wheels write one file -------------------------------------------------------

_meeting = threading.Condition()
_arrivals = []  # [length, written] per writer of the shared file
_sharing_installs = []  # monotonic start time of each install of a wheel that has the file
FIRST_WAIT = 30  # for the second wheel's install to start at all (a slow machine)


def _second_may_still_come():
    if len(_arrivals) >= 2:
        return False
    started = _sharing_installs[1:]
    return not started or time.monotonic() < started[0] + WAIT


def _meet_then_write_longest_first(copy, source, dest, *args, **kwargs):
    data = source.read()
    me = [len(data), False]
    deadline = time.monotonic() + FIRST_WAIT
    with _meeting:
        _arrivals.append(me)
        _meeting.notify_all()
        while _second_may_still_come() and time.monotonic() < deadline:
            _meeting.wait(0.05)
        _meeting.wait_for(
            lambda: all(a[1] for a in _arrivals if a is not me and a[0] > me[0]), timeout=WAIT
        )
    try:
        return copy(io.BytesIO(data), dest, *args, **kwargs)
    finally:
        with _meeting:
            me[1] = True
            _meeting.notify_all()


def _force_shared_file(relative):
    def utils_hook(utils):
        copy = utils.copyfileobj_with_hashing

        def copyfileobj_with_hashing(source, dest, *args, **kwargs):
            if str(getattr(dest, "name", "")).replace(os.sep, "/").endswith("/" + relative):
                return _meet_then_write_longest_first(copy, source, dest, *args, **kwargs)
            return copy(source, dest, *args, **kwargs)

        utils.copyfileobj_with_hashing = copyfileobj_with_hashing

    def installer_hook(installer):
        install = installer.install

        def counting_install(source, *args, **kwargs):
            names = source._zipfile.namelist() if hasattr(source, "_zipfile") else []
            if relative in names:
                with _meeting:
                    _sharing_installs.append(time.monotonic())
                    _meeting.notify_all()
            return install(source, *args, **kwargs)

        installer.install = counting_install

    _after_import("installer", installer_hook)
    _after_import("installer.utils", utils_hook)


# --- #11048: a reader between cachecontrol's metadata and body ------------------------------


def _force_http_hold(directory):
    """The writer: wait in the first set_body until the test releases it, or until the reader
    found no entry for that URL (it then fetches it itself and waits for nothing we hold)."""
    held = os.path.join(directory, "held")

    def released():
        return any(os.path.exists(os.path.join(directory, n)) for n in ("release", "missed"))

    def hook(file_cache):
        cls = file_cache.SeparateBodyFileCache
        set_body = cls.set_body

        def held_set_body(self, key, body):
            if not os.path.exists(held):
                with open(held, "w") as marker:
                    marker.write(key)
                _deadline_wait(released)
            return set_body(self, key, body)

        cls.set_body = held_set_body

    _after_import("cachecontrol.caches.file_cache", hook)


def _force_http_read(directory):
    """The reader: say when it looked up the held URL and found nothing (`<dir>/missed`)."""
    held = os.path.join(directory, "held")

    def hook(file_cache):
        cls = file_cache.SeparateBodyFileCache
        get = cls.get

        def watched_get(self, key):
            value = get(self, key)
            if value is None and os.path.exists(held):
                with open(held) as marker:
                    if marker.read() == key:
                        open(os.path.join(directory, "missed"), "w").close()
            return value

        cls.get = watched_get

    _after_import("cachecontrol.caches.file_cache", hook)


def _hide_write_to_fs(module):
    del module.WheelDestination.write_to_fs


if os.environ.get("SPP_FORCE_UNINSTALL"):
    _force_uninstall(os.environ["SPP_FORCE_UNINSTALL"], os.environ["SPP_FORCE_DIR"])
if os.environ.get("SPP_FORCE_SHARED_FILE"):
    _force_shared_file(os.environ["SPP_FORCE_SHARED_FILE"])
if os.environ.get("SPP_FORCE_HTTP_HOLD"):
    _force_http_hold(os.environ["SPP_FORCE_HTTP_HOLD"])
if os.environ.get("SPP_FORCE_HTTP_READ"):
    _force_http_read(os.environ["SPP_FORCE_HTTP_READ"])


def _change_execute_update(module):
    original = module.Executor._execute_update

    def _execute_update(self, operation, *_more):
        return original(self, operation)

    module.Executor._execute_update = _execute_update


def _record_uninstalls(path):
    def note(line):
        with open(path, "a") as out:
            out.write(line + "\n")

    def hook(module):
        builtin = getattr(module, "uninstall_distribution", None)
        if builtin is not None:

            def uninstall_distribution(env, name, *args, **kwargs):
                note("builtin " + name)
                return builtin(env, name, *args, **kwargs)

            module.uninstall_distribution = uninstall_distribution
        run_pip = module.Executor.run_pip

        def recorded_run_pip(self, *args, **kwargs):
            if args[:1] == ("uninstall",):
                note("pip " + args[1])
            return run_pip(self, *args, **kwargs)

        module.Executor.run_pip = recorded_run_pip

    _after_import("poetry.installation.executor", hook)


if os.environ.get("SPP_FORCE_RECORD_UNINSTALLS"):
    _record_uninstalls(os.environ["SPP_FORCE_RECORD_UNINSTALLS"])
if os.environ.get("SPP_FORCE_HIDE") == "write_to_fs":
    _after_import("poetry.installation.wheel_installer", _hide_write_to_fs)
if os.environ.get("SPP_FORCE_HIDE") == "execute_update":
    _after_import("poetry.installation.executor", _change_execute_update)
