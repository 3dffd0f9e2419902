"""Seed the job's project plugin cache with the `config.toml` Poetry would write there.

Poetry rewrites `<plugin cache>/config.toml` whenever it finds it missing or different, and
several Poetry processes of one job (tox -p) would write and read it at the same moment: a
reader can see a half-written file. Every required plugin is already in Poetry's venv, so the
engine writes the file Poetry expects once, atomically, before any Poetry runs. Poetry then
finds the cache fresh and never writes. If our file ever differed from Poetry's (another
Poetry version hashing differently), Poetry would simply rebuild it, as it does without us.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from setup_poetry_parallel.disk import atomic


def config_text(table: dict[str, Any], poetry_version: str, python_sys_version: str) -> str:
    """Poetry's `ProjectPluginCache._config`, as TOML (JSON string escapes are valid TOML)."""
    plugins_hash = hashlib.sha256(json.dumps(table, sort_keys=True).encode()).hexdigest()
    values = {"python": python_sys_version, "poetry": poetry_version, "plugins-hash": plugins_hash}
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


def seed(cache_dir: Path, text: str) -> None:
    config = cache_dir / "config.toml"
    try:
        if config.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic.replace(config, text)
