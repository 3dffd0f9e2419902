"""The console script `setup-poetry-parallel` (pyproject.toml): the warm lane first, as the
action's bootstrap.py does, then cli.py.

A repeat setup on a host (same flags, environment and project, another job id) is made again
from the record of an earlier one without importing the engine (warm_lane.py): standard library
only until the lane declines, so such a setup costs about what starting Python does (the
benchmark's `warm_cli` row). Whatever the lane does not read exactly as cli.py would (-v,
--plan, `--`, an unknown flag) goes to cli.py untouched.
"""

from __future__ import annotations

import os
import sys
import time

STARTED = time.monotonic()

from setup_poetry_parallel.startup import warm_lane  # noqa: E402  # after STARTED: its cost counts


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if warm_lane.replay(argv, os.environ, STARTED):
        return 0
    from setup_poetry_parallel import cli

    return cli.main(argv)
