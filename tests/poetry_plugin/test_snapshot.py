"""The snapshot of an env: the one thing fast install legitimately writes otherwise (INSTALLER)
compares equal, and any real difference (a module's bytes, a version, an entry point,
direct_url.json, a .pth, a launcher, REQUESTED, a RECORD line) is found and named."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from tests.poetry_plugin.snapshot import differences, snapshot

# The two launchers as Poetry 2.5.1 and uv 0.13 write them (measured, see snapshot.py).
POETRY_LAUNCHER = """#!{python}
# -*- coding: utf-8 -*-
import re
import sys
from {module} import {name}
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit({name}())
"""
UV_LAUNCHER = """#!{python}
# -*- coding: utf-8 -*-
import sys
from {module} import {name}
if __name__ == "__main__":
    if sys.argv[0].endswith("-script.pyw"):
        sys.argv[0] = sys.argv[0][:-11]
    elif sys.argv[0].endswith(".exe"):
        sys.argv[0] = sys.argv[0][:-4]
    sys.exit({name}())
"""


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_env(
    root: Path,
    *,
    uv: bool = False,
    raw_uv: bool = False,
    module: bytes = b"def main():\n    return 0\n",
    version: str = "1.0",
    entry: str = "tool:main",
    direct_url: str = "",
    pth: str = "/src\n",
    python: str = "/env/bin/python",
    record_size_of_module: int | None = None,
) -> Path:
    """A venv as Poetry leaves it after installing one wheel `tool`; with `uv`, as fast install
    leaves it (INSTALLER `uv`); with `raw_uv`, as a plain `uv pip install` (also REQUESTED and
    uv's launcher)."""
    uv = uv or raw_uv
    site = root / "lib" / "python3.12" / "site-packages"
    info = site / f"tool-{version}.dist-info"
    info.mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "bin" / "python").symlink_to("/usr/bin/python3")
    files = {
        "tool/__init__.py": module,
        f"{info.name}/METADATA": f"Metadata-Version: 2.1\nName: tool\nVersion: {version}\n".encode(),
        f"{info.name}/WHEEL": b"Wheel-Version: 1.0\n",
        f"{info.name}/entry_points.txt": f"[console_scripts]\ntool = {entry}\n".encode(),
        f"{info.name}/INSTALLER": b"uv" if uv else b"Poetry 2.5.1",
    }
    if raw_uv:
        files[f"{info.name}/REQUESTED"] = b""
    if direct_url:
        files[f"{info.name}/direct_url.json"] = direct_url.encode()
    module_name, name = entry.split(":")
    launcher = (UV_LAUNCHER if raw_uv else POETRY_LAUNCHER).format(
        python=python, module=module_name, name=name
    )
    files["../../../bin/tool"] = launcher.encode()
    lines = []
    for path, data in sorted(files.items(), reverse=uv):  # order differs: not a difference
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_bytes(data)
        size = len(data) if path != "tool/__init__.py" else (record_size_of_module or len(data))
        lines.append(f"{path},{_hash(data)},{size}")
    (root / "bin" / "tool").chmod(0o755)
    (info / "RECORD").write_text("\n".join([*lines, f"{info.name}/RECORD,,"]) + "\n")
    (site / "project.pth").write_text(pth)
    return root


def test_what_only_says_who_installed_compares_equal(tmp_path: Path) -> None:
    poetry = snapshot(make_env(tmp_path / "poetry"))
    uv = snapshot(make_env(tmp_path / "uv", uv=True))
    assert differences(poetry, uv) == []
    assert poetry == uv
    assert poetry["bin/tool"].startswith("executable #!/env/bin/python\n")
    assert poetry["tool-1.0.dist-info/version"] == "tool 1.0"
    assert poetry["tool-1.0.dist-info/RECORD/tool-1.0.dist-info/INSTALLER"] == "listed; INSTALLER"


def test_what_plain_uv_writes_otherwise_is_found(tmp_path: Path) -> None:
    """Control for the plugin's rewrite: raw uv's REQUESTED and launcher are differences."""
    found = differences(
        snapshot(make_env(tmp_path / "poetry")), snapshot(make_env(tmp_path / "uv", raw_uv=True))
    )
    assert [line.split(":")[0] for line in found] == [
        "bin/tool",
        "tool-1.0.dist-info/RECORD/../../../bin/tool",
        "tool-1.0.dist-info/RECORD/tool-1.0.dist-info/REQUESTED",
    ], found


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"module": b"def main():\n    return 1\n"}, "tool-1.0.dist-info/RECORD/tool/__init__.py"),
        ({"record_size_of_module": 1}, "tool-1.0.dist-info/RECORD/tool/__init__.py"),
        ({"version": "1.1"}, "tool-1.1.dist-info/version"),
        ({"entry": "tool:other"}, "tool-1.0.dist-info/entry_points.txt"),
        ({"direct_url": '{"url": "file:///x"}'}, "tool-1.0.dist-info/direct_url.json"),
        ({"pth": "/elsewhere\n"}, "site-packages/project.pth"),
        ({"python": "/other/bin/python"}, "bin/tool"),
    ],
)
def test_a_real_difference_is_found_and_named(
    tmp_path: Path, change: dict[str, object], where: str
) -> None:
    """Controls: each is made on uv's side, so the normalisation hides none of them."""
    poetry = snapshot(make_env(tmp_path / "poetry"))
    uv = snapshot(make_env(tmp_path / "uv", uv=True, **change))  # type: ignore[arg-type]
    found = differences(poetry, uv)
    assert any(line.startswith(f"{where}:") for line in found), found


def test_a_file_changed_after_install_is_found(tmp_path: Path) -> None:
    """RECORD alone would not show it: the file on disk is hashed too."""
    poetry = snapshot(make_env(tmp_path / "poetry"))
    env = make_env(tmp_path / "uv", uv=True)
    [module] = env.glob("lib/*/site-packages/tool/__init__.py")
    module.write_bytes(b"changed\n")
    [line] = differences(poetry, snapshot(env))
    assert line.startswith("tool-1.0.dist-info/RECORD/tool/__init__.py:"), line
    assert "on disk sha256=" in line


def test_a_stray_file_in_site_packages_is_found(tmp_path: Path) -> None:
    poetry = snapshot(make_env(tmp_path / "poetry"))
    env = make_env(tmp_path / "uv", uv=True)
    [site] = env.glob("lib/*/site-packages")
    (site / "tool" / "stray.py").write_bytes(b"")
    [line] = differences(poetry, snapshot(env))
    assert line.startswith("site-packages/tool/stray.py:"), line


def test_a_file_left_in_the_env_s_root_is_found(tmp_path: Path) -> None:
    """uv 0.13 leaves `<env>/.lock` (0666) after `uv pip install`; Poetry leaves nothing."""
    poetry = snapshot(make_env(tmp_path / "poetry"))
    env = make_env(tmp_path / "uv", uv=True)
    (env / ".lock").write_bytes(b"")
    [line] = differences(poetry, snapshot(env))
    assert line.startswith("env-root:"), line
    assert ".lock" in line


def test_any_other_bin_file_is_compared_byte_for_byte(tmp_path: Path) -> None:
    poetry = make_env(tmp_path / "poetry")
    uv = make_env(tmp_path / "uv", uv=True)
    for env, text in ((poetry, "#!/bin/sh\necho a\n"), (uv, "#!/bin/sh\necho b\n")):
        (env / "bin" / "helper").write_text(text)
    [line] = differences(snapshot(poetry), snapshot(uv))
    assert line.startswith("bin/helper:"), line
