"""Our Poetry plugin as a wheel, written directly: no build backend, no download, no engine deps."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from importlib import resources
from pathlib import Path
from typing import Final

from setup_poetry_parallel import __version__

DIST: Final = "setup_poetry_parallel_plugin_cache"
MODULE: Final = "spp_project_plugin_cache"
ENTRY_POINTS: Final = (
    "[poetry.application.plugin]\n"
    f"setup-poetry-parallel-plugin-cache = {MODULE}:ProjectPluginCachePlugin\n"
)
# Zip entries get a fixed date so the same source always gives the same bytes.
_EPOCH: Final = (1980, 1, 1, 0, 0, 0)


def source() -> bytes:
    """The entry module's source (the one `ENTRY_POINTS` names)."""
    return sources()[f"{MODULE}.py"]


def sources() -> dict[str, bytes]:
    """Every module of `poetry_plugin/` (top-level modules in the wheel), sorted by name."""
    folder = resources.files("setup_poetry_parallel") / "poetry_plugin"
    names = sorted(
        entry.name for entry in folder.iterdir() if entry.name.endswith(".py") and entry.is_file()
    )
    return {name: (folder / name).read_bytes() for name in names}


def version() -> str:
    """The engine's version plus the plugin sources' hash, so a changed plugin is a new install."""
    digest = hashlib.sha256()
    for name, data in sources().items():
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return f"{__version__}+{digest.hexdigest()[:12]}"


def filename() -> str:
    return f"{DIST}-{version()}-py3-none-any.whl"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def files() -> dict[str, bytes]:
    info = f"{DIST}-{version()}.dist-info"
    metadata = (
        "Metadata-Version: 2.1\n"
        f"Name: {DIST.replace('_', '-')}\n"
        f"Version: {version()}\n"
        "Summary: Moves Poetry's project plugin cache to $POETRY_PROJECT_PLUGIN_CACHE\n"
        "Requires-Python: >=3.9\n"
    )
    wheel = (
        "Wheel-Version: 1.0\nGenerator: setup-poetry-parallel\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n"
    )
    content = {
        **sources(),
        f"{info}/METADATA": metadata.encode(),
        f"{info}/WHEEL": wheel.encode(),
        f"{info}/entry_points.txt": ENTRY_POINTS.encode(),
    }
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in content.items())
    content[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    return content


def write(directory: Path) -> Path:
    """Write the wheel into `directory` (created) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files().items():
            archive.writestr(zipfile.ZipInfo(name, _EPOCH), data)
    return path
