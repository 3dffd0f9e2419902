"""A virtual environment read into a comparable snapshot: what `poetry install` left there.

A snapshot is a flat mapping `where: what`, so that two of them compare with `==` and a
difference names its file and field (`differences`). It holds, for every distribution in
site-packages: its name and version (METADATA), every RECORD line (path, hash, size) beside the
hash and size of that file as it is on disk now, `entry_points.txt` and `direct_url.json`; every
`.pth` file of site-packages (the root project's and the develop path dependencies'), the path
of every file there that no RECORD lists; and every file of `bin/` (console scripts, links).

Measured what Poetry 2.5.1 (its `installer` library) and uv 0.13 write for the same wheels into
an env at the same path (tabulate, markupsafe, six). Raw uv differs in three things, each about
who installed, not what:

- `INSTALLER` holds the tool's name (`Poetry 2.5.1`, `uv`; PEP 376 says so).
- `REQUESTED` (PEP 376: the user asked for it by name): uv writes it for every package of a
  `uv pip install`, Poetry never does.
- Console scripts: each writes its own launcher for an entry point (Poetry strips a
  `-script.pyw`/`.exe` suffix with `re.sub`, uv with `endswith`).

Our plugin rewrites the last two as Poetry writes them (spp_fast_install: Poetry's launchers, no
REQUESTED) and keeps INSTALLER "uv" on purpose. So only INSTALLER is normalised here: its content
and the hash and size of its RECORD line are dropped, its presence kept. REQUESTED files and
launchers are compared byte for byte (test_snapshot.py shows raw uv's would be found).

Not normalised either: `__pycache__` (neither compiles by default; a `.pyc` in RECORD shows),
and the order of RECORD lines (kept as a mapping: order carries no meaning). Both envs must be at
the same path: absolute paths (shebangs, the root project's RECORD, `.pth` files,
`direct_url.json`) are compared as they are. Outside site-packages and bin/ nothing is read.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
from email.parser import HeaderParser
from pathlib import Path

Snapshot = dict[str, str]

# Written by the installer about itself; see the module's docstring.
ABOUT_THE_INSTALLER = "INSTALLER"


def snapshot(env: Path) -> Snapshot:
    """Read the environment at `env` (a venv's root): see the module's docstring."""
    found: Snapshot = {}
    [site] = env.glob("lib/python3*/site-packages")
    for info in sorted(site.glob("*.dist-info")):
        found.update(_distribution(site, info))
    # A file no RECORD lists (a stray one, or the venv's own) shows by its path.
    listed = {
        os.path.normpath(site / key.split("/RECORD/", 1)[1]) for key in found if "/RECORD/" in key
    }
    for file in sorted(site.rglob("*")):
        if not file.is_dir() and os.path.normpath(file) not in listed:
            found[f"site-packages/{file.relative_to(site)}"] = "in no RECORD"
    for pth in sorted(site.glob("*.pth")):
        found[f"site-packages/{pth.name}"] = pth.read_text()
    for path in sorted((env / "bin").iterdir()):
        found[f"bin/{path.name}"] = _bin_file(path)
    # The env's root: what else an installer left there (uv's `.lock` of the env, say). But
    # `src/`: Poetry clones a git dependency there only while its built wheel is not yet in
    # the artifacts cache, so the first of two installs has it and the second not.
    found["env-root"] = " ".join(sorted(p.name for p in env.iterdir() if p.name != "src"))
    return found


def differences(without: Snapshot, with_: Snapshot) -> list[str]:
    """One line per key whose value differs or is missing on one side, both values shown."""
    lines = []
    for key in sorted(without.keys() | with_.keys()):
        a, b = without.get(key, "<absent>"), with_.get(key, "<absent>")
        if a != b:
            lines.append(f"{key}:\n  without fast install: {a!r}\n  with fast install:    {b!r}")
    return lines


def _distribution(site: Path, info: Path) -> Snapshot:
    where = info.name
    metadata = HeaderParser().parsestr((info / "METADATA").read_text(errors="replace"))
    found = {f"{where}/version": f"{metadata['Name']} {metadata['Version']}"}
    record = info / "RECORD"
    if not record.is_file():
        found[f"{where}/RECORD"] = "<absent>"
        return found
    with record.open(newline="") as rows:
        for row in csv.reader(rows):
            if not row:
                continue
            path, digest, size = [*row, "", ""][:3]
            # RECORD's own line: its lines are compared one by one, not its bytes.
            name = Path(path).name
            if Path(path).parent.name == where and name in (ABOUT_THE_INSTALLER, "RECORD"):
                found[f"{where}/RECORD/{path}"] = f"listed; {name}"
                continue
            found[f"{where}/RECORD/{path}"] = f"{digest},{size}; on disk {_on_disk(site, path)}"
    for name in ("entry_points.txt", "direct_url.json"):
        if (info / name).is_file():
            found[f"{where}/{name}"] = _canonical(info / name)
    return found


def _on_disk(site: Path, path: str) -> str:
    """The file's RECORD-style hash and size now, or `missing`."""
    file = (site / path) if not Path(path).is_absolute() else Path(path)
    if not file.is_file():
        return "missing"
    data = file.read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest},{len(data)}"


def _canonical(file: Path) -> str:
    text = file.read_text()
    if file.suffix == ".json":
        return json.dumps(json.loads(text), sort_keys=True)
    return text


def _bin_file(path: Path) -> str:
    if path.is_symlink():
        return f"link to {path.readlink()}"
    mode = "executable " if os.access(path, os.X_OK) else ""
    return mode + path.read_bytes().decode(errors="replace")
