"""Poetry application plugin installed by setup-poetry-parallel into Poetry's own venv.

Poetry 2.x keeps the plugins of `[tool.poetry.requires-plugins]` in `<project>/.poetry/plugins`
and deletes that directory whenever its `config.toml` was written by another Python or Poetry.
Jobs that share a project directory therefore delete it under each other. This plugin moves
that cache to `$POETRY_PROJECT_PLUGIN_CACHE` (the name proposed upstream in
python-poetry/poetry#10618), a directory of the job's own.

It runs inside Poetry's venv, so it must import on every Python Poetry supports (3.9+) and
depend on nothing but Poetry. It is inert when the variable is unset and on Poetry < 2.
"""

import os
import sys
from pathlib import Path

try:
    from poetry.plugins.application_plugin import ApplicationPlugin
except ImportError:  # Poetry < 1.2 has no plugins at all
    ApplicationPlugin = object  # type: ignore[assignment,misc]

VARIABLE = "POETRY_PROJECT_PLUGIN_CACHE"
_warned = []


def _warn_once(message):
    if not _warned:
        _warned.append(message)
        sys.stderr.write("Warning: setup-poetry-parallel: " + message + "\n")


def relocate(value):
    """Point ProjectPluginCache.PATH at `value`; return whether the cache was moved."""
    if not value:
        return False
    try:
        from poetry.plugins.plugin_manager import ProjectPluginCache
    except ImportError:  # Poetry < 2 has no project plugin cache: nothing to move
        return False
    current = getattr(ProjectPluginCache, "PATH", None)
    if current is not None and str(current) == value:
        return True  # Poetry honours the variable itself
    if not isinstance(current, Path):
        _warn_once(
            "this Poetry keeps its project plugin cache differently; "
            + VARIABLE
            + " is ignored and parallel jobs may rebuild <project>/.poetry"
        )
        return False
    # Absolute: used as is. Relative: under the project, as in the upstream proposal.
    ProjectPluginCache.PATH = Path(value)
    return True


class ProjectPluginCachePlugin(ApplicationPlugin):  # type: ignore[misc,valid-type]
    def activate(self, application):
        relocate(os.environ.get(VARIABLE))
