"""Where the setup keeps things when the inputs do not say: one rule for settings.py, the
bootstrap (engine_deps.py) and the warm lane, so that they agree on and off a runner.

Imports nothing but `os`: the warm lane uses it (warm_lane.py's import budget). Paths are
strings, joined and not normalised; settings.py makes them Paths.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs the warm lane more than this module
    from collections.abc import Mapping
    from typing import Final

NAME: Final = "setup-poetry-parallel"


def install_dir(environ: Mapping[str, str]) -> str:
    """Shared by every job that can see it: the runner's tool cache, else the user's cache."""
    if tool_cache := environ.get("RUNNER_TOOL_CACHE"):
        return os.path.join(tool_cache, NAME)
    return _user_cache(environ, NAME, "Cache")


def state_dir(environ: Mapping[str, str]) -> str:
    """Per-job state, this user's only: the runner's temp dir (per job, emptied after it), else
    beside the user's cache. Never a predictable name in the shared temp dir: another user
    could make it first and replace the job's `bin/poetry`. Not $XDG_RUNTIME_DIR either: a
    small tmpfs that CI services often lack, and the job's project envs live here.
    job.make_dirs makes it 0700 and refuses it unless it is this user's and private."""
    if runner_temp := environ.get("RUNNER_TEMP"):
        return os.path.join(runner_temp, NAME)
    return _user_cache(environ, f"{NAME}-state", "State")


def _user_cache(environ: Mapping[str, str], name: str, windows: str) -> str:
    """`name` in $XDG_CACHE_HOME, else `setup-poetry-parallel/<windows>` in %LOCALAPPDATA%,
    else in ~/.cache."""
    if xdg := environ.get("XDG_CACHE_HOME"):
        return os.path.join(xdg, name)
    if local := environ.get("LOCALAPPDATA"):
        return os.path.join(local, NAME, windows)
    home = os.path.expanduser("~")
    if home == "~":  # no $HOME and no passwd entry: as pathlib's Path.home() says it
        raise RuntimeError("Could not determine home directory.")
    return os.path.join(home, ".cache", name)
