"""Maintenance: lock the engine's own dependencies for the action's bootstrap.

    python -m setup_poetry_parallel.lock_engine [--exclude-newer TIME]

resolves pyproject.toml's `dependencies` with uv's universal resolution (Python 3.11+, every
platform) and writes `locks/engine.json`: for uv, every wheel of the resolved release (one per
platform); for every other package, its one pure-Python wheel (the closure must have no
platform markers and every package a `py3-none-any` wheel, or this refuses). Each file with its
sha256 and its URL on the index (PEP 691 JSON) named by UV_DEFAULT_INDEX/UV_INDEX_URL/
PIP_INDEX_URL (default pypi.org). Rerunning the recorded command reproduces the file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
import sys
import tempfile
import tomllib
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from setup_poetry_parallel.settings import current_environment, read_index

SRC = Path(__file__).resolve().parent
LOCK = SRC / "locks" / "engine.json"
PYPROJECT = SRC.parents[1] / "pyproject.toml"
JSON = "application/vnd.pypi.simple.v1+json"
PURE = re.compile(r"-py(2\.py)?3-none-any\.whl$")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m setup_poetry_parallel.lock_engine")
    p.add_argument("--exclude-newer", default="", metavar="TIME", help="RFC 3339 (default: now)")
    p.add_argument("--output", type=Path, default=LOCK, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    when = args.exclude_newer or datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    index = read_index(current_environment())
    with open(PYPROJECT, "rb") as handle:
        requirements = tomllib.load(handle)["project"]["dependencies"]
    pins = resolve(requirements, when, {**current_environment(), **index.uv_env})
    packages = {
        name: files(name, version, index.url.secret) for name, version in sorted(pins.items())
    }
    document = {
        "comment": "Generated, do not edit; regenerate with the command below.",
        "command": f"python -m setup_poetry_parallel.lock_engine --exclude-newer {when}",
        "requirements": sorted(requirements),
        "packages": packages,
    }
    args.output.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(args.output)
    return 0


def resolve(requirements: list[str], when: str, env: dict[str, str]) -> dict[str, str]:
    """name -> exact version of the closure, for every platform and Python 3.11+."""
    from setup_poetry_parallel.process import uv  # the engine's uv, so the table is its view

    with tempfile.TemporaryDirectory() as tmp:
        request = Path(tmp) / "engine.in"
        request.write_text("\n".join(requirements) + "\n", encoding="utf-8")
        argv = [uv(), "pip", "compile", "--quiet", "--universal", "--python-version"]
        argv += ["3.11", "--exclude-newer", when, "--no-header", "--no-annotate", str(request)]
        out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    pins = {}
    for line in out.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if ";" in line:
            raise SystemExit(f"lock_engine: {line!r} has a marker; the bootstrap locks no markers")
        name, _, version = line.strip().partition("==")
        pins[name] = version
    return pins


def files(name: str, version: str, index: str) -> dict[str, Any]:
    # The maintainer's own index setting; file: indexes are fine here.
    request = urllib.request.Request(f"{index}/{name}/", headers={"Accept": JSON})  # noqa: S310
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        page = json.load(response)
    release = [f for f in page["files"] if _version_of(f["filename"]) == version]
    wheels = [f for f in release if f["filename"].endswith(".whl")]
    chosen = wheels if name == "uv" else [f for f in wheels if PURE.search(f["filename"])]
    if name != "uv" and len(chosen) != 1:
        raise SystemExit(f"lock_engine: {name} {version} has no single pure-Python wheel")
    return {
        "version": version,
        "files": {
            f["filename"]: {"sha256": f["hashes"]["sha256"], "url": f["url"]} for f in chosen
        },
    }


def _version_of(filename: str) -> str:
    stem = filename.removesuffix(".whl").removesuffix(".tar.gz")
    return stem.split("-")[1] if "-" in stem else ""


if __name__ == "__main__":
    sys.exit(main())
