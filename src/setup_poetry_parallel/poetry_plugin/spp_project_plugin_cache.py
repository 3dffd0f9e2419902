"""Poetry application plugin installed by setup-poetry-parallel into Poetry's own venv.

Poetry 2.x keeps the plugins of `[tool.poetry.requires-plugins]` in `<project>/.poetry/plugins`
and deletes that directory whenever its `config.toml` was written by another Python or Poetry.
Jobs that share a project directory therefore delete it under each other. This plugin moves
that cache to `$POETRY_PROJECT_PLUGIN_CACHE` (the name proposed upstream in
python-poetry/poetry#10618), a directory of the job's own.

It also honours `SPP_REFUSE_PROJECT_PLUGINS=1` (exported when the action's `project-plugins`
input is false): `poetry install` then installs none of the project's `requires-plugins`,
which is code from the repository that would run inside Poetry (untrusted pull requests).

It also protects every Poetry process against three of Poetry's own races inside one job
(parallel uninstalls, files two packages share, the HTTP cache): see spp_poetry_races.py, and
its switches SPP_PROTECT_UNINSTALL, SPP_PROTECT_SHARED_FILES and SPP_PROTECT_HTTP_CACHE.

It runs inside Poetry's venv, so it must import on every Python Poetry supports (3.9+) and
depend on nothing but Poetry. It is inert when the variables are unset and on Poetry < 2.
"""

import os
import sys
from pathlib import Path

try:
    from poetry.plugins.application_plugin import ApplicationPlugin
except ImportError:  # Poetry < 1.2 has no plugins at all
    ApplicationPlugin = object  # type: ignore[assignment,misc]

VARIABLE = "POETRY_PROJECT_PLUGIN_CACHE"
REFUSE_VARIABLE = "SPP_REFUSE_PROJECT_PLUGINS"
REFUSED_NOTICE = (
    "setup-poetry-parallel: project-plugins is false: not installing"
    " [tool.poetry.requires-plugins] from this project"
)
_warned = []


def _warn_once(message):
    if not _warned:
        _warned.append(message)
        sys.stderr.write("Warning: setup-poetry-parallel: " + message + "\n")


def _warn(message):
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


def refuse(value):
    """Make `poetry install`'s project plugin step a no-op; return whether it was replaced."""
    if value != "1":
        return False
    try:
        from poetry.plugins.plugin_manager import PluginManager
    except ImportError:  # Poetry < 2 never installs project plugins
        return False
    if not hasattr(PluginManager, "ensure_project_plugins"):
        _warn_once(
            "this Poetry installs project plugins differently; "
            + REFUSE_VARIABLE
            + " cannot stop it"
        )
        return False

    def ensure_project_plugins(cls, poetry, io):
        io.write_error_line(REFUSED_NOTICE)

    PluginManager.ensure_project_plugins = classmethod(ensure_project_plugins)
    return True


class ProjectPluginCachePlugin(ApplicationPlugin):  # type: ignore[misc,valid-type]
    def activate(self, application):
        relocate(os.environ.get(VARIABLE))
        refuse(os.environ.get(REFUSE_VARIABLE))
        try:  # shipped beside this module by plugin_wheel.py
            import spp_fast_install
            import spp_poetry_races
        except ImportError:
            _warn_once("spp_poetry_races is missing: Poetry runs without its race protections")
            return
        spp_poetry_races.protect(os.environ, _warn_once)
        spp_fast_install.enable(os.environ, _warn)
