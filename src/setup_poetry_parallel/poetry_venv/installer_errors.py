"""uv's and pip's failure output, turned into one line that names the index, package or plugin.

Bad input (a Poetry version or plugin the index lacks, a constraint nothing satisfies) becomes an
InputError (exit 2); the index or the disk failing stays a SetupError (exit 1).
"""

from __future__ import annotations

import errno
import re
from pathlib import Path

from setup_poetry_parallel.errors import InputError, PathProblem, SetupError
from setup_poetry_parallel.index import refusals
from setup_poetry_parallel.paths import VenvPaths
from setup_poetry_parallel.poetry_venv import poetry_deps
from setup_poetry_parallel.poetry_venv.key import InstallSpec
from setup_poetry_parallel.settings import Index


def installer_error(
    exc: SetupError,
    spec: InstallSpec,
    venv: VenvPaths,
    index: str,
    *,
    sources: Index | None = None,
) -> SetupError:
    """Turn uv's or pip's output into one line that names the index, package or plugin.
    `sources`: the setup's index and the project's sources, to name the one that refused a
    login."""
    text = exc.details
    install_dir = Path(venv.root).parent.parent.parent
    if found := _login_problem(text, sources):
        found.details = text
        return found
    for classify in (_disk_problem, _python_problem, _hash_problem, _index_problem):
        if found := classify(text, spec, index, install_dir):
            found.details = text
            return found
    searched = _searched(spec, sources) or f"the index {index}"
    if found := _resolution_problem(text, spec, index, searched):
        found.details = text
        return found
    return exc


def _searched(spec: InstallSpec, sources: Index | None) -> str | None:
    """Where uv looked for the plugins, for a plugin it did not find: the project's sources in
    order, or the one a plugin names (never the setup's index alone where it was not asked)."""
    if sources is None:
        return None
    pinned = {name for _, name in spec.sourced}
    named = [s for s in sources.project_sources if s.uv_name in pinned]
    where = [*sources.search, *(s for s in named if s not in sources.search)]
    own = {s.name for s in sources.project_sources}
    described = [f"source {s.name!r} ({s.url})" if s.name in own else str(s.url) for s in where]
    return ("the index " if len(where) == 1 else "the indexes ") + ", then ".join(described)


# uv and pip on a 401/403: an index refusing the credentials is no missing release and no
# conflict (uv says "not found in the package registry" and hints at the refusal).
_REFUSALS = (
    re.compile(
        r"hint: An index URL \((?P<url>[^)\s]+)\) could not be queried due to a lack of"
        r" valid authentication credentials \((?P<code>40[13])"
    ),
    re.compile(r"hint: An index \((?P<url>[^)\s]+)\) returned a (?P<code>40[13]) "),
    re.compile(r"HTTP status client error \((?P<code>40[13]) [^)]*\) for url \((?P<url>[^)\s]+)\)"),
    re.compile(r"(?P<code>40[13]) Error, Credentials not correct for (?P<url>\S+)"),
    re.compile(r"(?P<code>40[13]) Client Error: [\w ]+ for url: (?P<url>\S+)"),
)


def _login_problem(text: str, sources: Index | None) -> SetupError | None:
    for pattern in _REFUSALS:
        if found := pattern.search(text):
            return refusals.refused(found["url"], int(found["code"]), sources)
    return None


def _disk_problem(text: str, spec: InstallSpec, index: str, install_dir: Path) -> SetupError | None:
    if "No space left on device" in text or "Disk quota exceeded" in text:
        return disk_error(OSError(errno.ENOSPC, "No space left on device"), install_dir)
    if "Read-only file system" in text:
        return disk_error(OSError(errno.EROFS, "Read-only file system"), install_dir)
    return None


def _python_problem(
    text: str, spec: InstallSpec, index: str, install_dir: Path
) -> SetupError | None:
    """Poetry (or a plugin) needs a newer Python than the one that would run it."""
    uv = re.search(
        r"the current Python version \(([\d.]+)\) does not satisfy Python\s*([^\s,]+)", text
    )
    pip = "Requires-Python" in text and "No matching distribution found for poetry==" in text
    if not (uv or pip):
        return None
    needs = uv.group(2).rstrip(".") if uv else ""
    return InputError(
        f"poetry-python {spec.python_version} ({spec.python}) is too old for"
        f" poetry=={spec.poetry_version}{f' (it needs Python {needs})' if needs else ''}:"
        " set poetry-python to a newer interpreter, or leave it empty",
        input="poetry-python",
    )


def _hash_problem(text: str, spec: InstallSpec, index: str, install_dir: Path) -> SetupError | None:
    """A downloaded file whose sha256 is not the locked one (or not the index's own)."""
    uv = re.search(r"Hash mismatch for `([^`=]+)==([^`]+)`", text)
    pip = "DO NOT MATCH THE HASHES" in text and re.search(r"^\s+(\S+)==(\S+) from ", text, re.M)
    found = uv or pip
    if not found:
        return None
    name, version = found.group(1), found.group(2)
    if poetry_deps.kind(spec.dependencies) == "locked":
        return SetupError(
            f"{name} {version} from the index {index} does not match the sha256 locked for"
            f" Poetry {spec.poetry_version} ({poetry_deps.lock_name(spec.poetry_version)}):"
            " the index served another file; check the index or proxy, and report it if it is"
            " the public one"
        )
    return SetupError(
        f"{name} {version} from the index {index} does not match the sha256 the index lists:"
        " retry later, or check the index or proxy"
    )


def _index_problem(
    text: str, spec: InstallSpec, index: str, install_dir: Path
) -> SetupError | None:
    # uv: "Failed to fetch: <url>" then "cause:" lines down to the root cause.
    if fetch := re.search(r"Failed to (?:fetch|download):? `?([^\s`]+)`?", text):
        reason = _last_cause(text)
        return SetupError(
            f"could not download {_package_of(fetch.group(1))} from the index {index}"
            f" ({reason}): check the index, or retry later"
        )
    if broken := re.search(r"The structure of `([^`]+)` \(v([^)]+)\) was invalid", text):
        return SetupError(
            f"the index {index} served a broken or cut-off file for {broken.group(1)}"
            f" {broken.group(2)}: retry later, or check the index"
        )
    # pip: retries are logged as warnings, then it reports "no versions" for what it could not read.
    pip_network = re.search(
        r"(Connection refused|Read timed out|ConnectTimeoutError|NewConnectionError"
        r"|HTTPError|status code 5\d\d|Max retries exceeded|IncompleteRead|hash.*do not match)",
        text,
        re.IGNORECASE,
    )
    if pip_network:
        missing = re.search(r"No matching distribution found for (\S+)", text)
        package = missing.group(1) if missing else "Poetry and its plugins"
        return SetupError(
            f"could not download {package} from the index {index}"
            f" ({pip_network.group(1)}): check the index, or retry later"
        )
    return None


def _resolution_problem(
    text: str, spec: InstallSpec, index: str, searched: str
) -> SetupError | None:
    """`index`: the setup's (Poetry and its table); `searched`: where the plugins were looked
    for (the project's sources)."""
    if re.search(r"there is no version of poetry==", text, re.IGNORECASE):
        return InputError(
            f"poetry-version {spec.poetry_version} does not exist on the index {index}:"
            " pin a released version"
        )
    if gone := _locked_file_missing(text, spec):
        name, version = gone
        return SetupError(
            f"the index {index} has no file of {name} {version}, which the locked table for"
            f" Poetry {spec.poetry_version} names ({poetry_deps.lock_name(spec.poetry_version)}):"
            " the index or its mirror is behind or incomplete; sync the mirror (or ask whoever"
            " runs it), or set poetry-dependencies: latest to resolve afresh from what it has"
        )
    missing = re.search(r"Because (\S+) was not found in the package registry", text) or re.search(
        r"No matching distribution found for (\S+)[^\n]*\n?(?:.*from versions: none)?", text
    )
    plugin = _plugin_named(missing.group(1), spec) if missing else None
    if missing and plugin and ("not found" in missing.group(0) or "from versions: none" in text):
        return InputError(
            f"plugin {plugin!r} is not on {searched}: check its name in"
            " [tool.poetry.requires-plugins] or the plugins input",
            plugin=plugin,
        )
    if "No solution found" in text or "ResolutionImpossible" in text or missing:
        plugins = [r for r in spec.requirements if _mentions(text, r)] or list(spec.requirements)
        locked = poetry_deps.kind(spec.dependencies) == "locked"
        with_lock = f" and its locked dependencies ({poetry_deps.lock_name(spec.poetry_version)})"
        return InputError(
            f"no release satisfies {', '.join(repr(p) for p in plugins) or 'the plugins'} together"
            f" with poetry=={spec.poetry_version}{with_lock if locked else ''} on {searched}"
            f" ({_last_cause(text)}): relax the plugin constraint or pin another poetry-version"
            f"{', or set poetry-dependencies: latest' if locked else ''}",
            plugin=plugins[0] if len(plugins) == 1 else None,
        )
    return None


def _locked_file_missing(text: str, spec: InstallSpec) -> tuple[str, str] | None:
    """A pin of the locked table the index does not have (a lagging mirror): uv says there is
    no version of `name==version`, pip that no distribution matches it."""
    if poetry_deps.kind(spec.dependencies) != "locked":
        return None
    found = re.search(r"there is no version of ([\w.-]+)==([\w.+!-]+)", text) or re.search(
        r"No matching distribution found for ([\w.-]+)==([\w.+!-]+)", text
    )
    lock = poetry_deps.lock_path(spec.poetry_version)
    if not found or lock is None:
        return None
    name, version = found.group(1), found.group(2).rstrip(".,")
    pinned = re.search(
        rf"^{re.escape(name)}=={re.escape(version)}\b",
        lock.read_text(encoding="utf-8"),
        re.M | re.I,
    )
    return (name, version) if pinned else None


def _last_cause(text: str) -> str:
    causes = re.findall(r"^\s*(?:cause:|error:|ERROR:)\s*(.+)$", text, re.MULTILINE)
    last = causes[-1] if causes else text.strip().splitlines()[-1] if text.strip() else "no output"
    last = re.sub(r" for url \(.*\)$", "", last)
    return last[:200]


def _package_of(url: str) -> str:
    parts = [p for p in url.split("/") if p]
    if "simple" in parts and parts.index("simple") + 1 < len(parts):
        return parts[parts.index("simple") + 1]
    name = parts[-1] if parts else url
    return re.split(r"-\d", name, maxsplit=1)[0]  # a file: its project name


def _name(requirement: str) -> str:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        return canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement:
        return canonicalize_name(requirement)


def _plugin_named(name: str, spec: InstallSpec) -> str | None:
    wanted = _name(name.strip("'\"`"))
    return next((r for r in spec.requirements if _name(r) == wanted), None)


def _mentions(text: str, requirement: str) -> bool:
    return (
        re.search(rf"(?<![\w-]){re.escape(_name(requirement))}(?![\w-])", text.lower()) is not None
    )


def disk_error(exc: OSError, install_dir: Path) -> SetupError:
    """The installer's disk failures are about the install dir: named by the caller's
    `path_errors.preparing`, which knows the input that gave it."""
    return PathProblem(f"{install_dir} failed: {exc.strerror}", error=exc)
