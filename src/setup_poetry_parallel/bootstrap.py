"""Start the engine from the action's own checkout; action.yml runs this file with `python -I`.

Standard library only, and as little of it as can be: the warm lane (warm_lane.py) first,
which makes a job whose setup an earlier job on this host made again from its record, in a few
milliseconds; else the engine's dependencies (installed once per host: engine_deps.py), then
the engine.
"""

from __future__ import annotations

import os
import sys
import time

STARTED = time.monotonic()


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036  # this file may be started by any python3
        print(
            "error: the engine needs Python 3.11 or newer; set poetry-python is not enough,"
            " make python3.11+ available to the action",
            file=sys.stderr,
        )
        return 1
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from setup_poetry_parallel.startup import warm_lane

    if warm_lane.replay(argv, os.environ, STARTED):
        return 0
    from setup_poetry_parallel.startup import engine_deps

    return engine_deps.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
