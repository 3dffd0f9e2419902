"""The action's bootstrap: its locked wheels, chosen, fetched, checked and unpacked; pip otherwise.

Pure parts (tags, pages, layout, key) run offline; `install` runs against a local index with
small wheels made here; the `network` tests bootstrap a copy of the action from the real index
(and through a local proxy in front of it) into empty temp dirs.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tomllib
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from setup_poetry_parallel.startup import engine_deps, fetch_wheels
from setup_poetry_parallel.startup.fetch_wheels import Host, Mismatch, Refused
from tests.loopback import serving
from tests.repo import REPO

ROOT = REPO
LOCK = json.loads(fetch_wheels.LOCK.read_text(encoding="utf-8"))
UV = LOCK["packages"]["uv"]
UV_FILES = list(UV["files"])


def _uv_file(platform_part: str) -> str:
    return f"uv-{UV['version']}-py3-none-{platform_part}.whl"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (Host("Linux", "x86_64", 64, (2, 35)), "manylinux_2_17_x86_64.manylinux2014_x86_64"),
        (Host("Linux", "x86_64", 64, None), "musllinux_1_1_x86_64"),
        (Host("Linux", "x86_64", 32, (2, 35)), "manylinux_2_17_i686.manylinux2014_i686"),
        (Host("Linux", "aarch64", 64, (2, 39)), "manylinux_2_28_aarch64"),
        (
            Host("Linux", "aarch64", 64, (2, 17)),
            "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64",
        ),
        (
            Host("Linux", "aarch64", 64, None),
            "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64",
        ),
        (Host("Linux", "armv6l", 32, (2, 31)), "linux_armv6l"),
        (Host("Darwin", "arm64", 64, mac=(14, 5)), "macosx_11_0_arm64"),
        (Host("Darwin", "x86_64", 64, mac=(10, 15)), "macosx_10_12_x86_64"),
        (Host("Darwin", "x86_64", 64, mac=(13, 1)), "macosx_10_12_x86_64"),
        (Host("Darwin", "arm64", 64, mac=(10, 16)), "macosx_11_0_arm64"),  # old-SDK Pythons
        (Host("Windows", "AMD64", 64, win="win-amd64"), "win_amd64"),
        (Host("Windows", "ARM64", 64, win="win-arm64"), "win_arm64"),
        (Host("Windows", "AMD64", 32, win="win32"), "win32"),
    ],
)
def test_each_platform_gets_its_uv_wheel_from_the_table(host: Host, expected: str) -> None:
    assert fetch_wheels.choose(UV_FILES, fetch_wheels.platform_tags(host)) == _uv_file(expected)


@pytest.mark.parametrize(
    "host",
    [
        Host("Linux", "x86_64", 64, (2, 12)),  # glibc older than any uv wheel
        Host("Darwin", "x86_64", 64, mac=(10, 11)),
        Host("FreeBSD", "amd64", 64),
        Host("Linux", "mips64", 64, (2, 35)),
    ],
)
def test_a_platform_without_a_uv_wheel_is_refused(host: Host) -> None:
    assert fetch_wheels.choose(UV_FILES, fetch_wheels.platform_tags(host)) is None
    with pytest.raises(Refused, match="no uv wheel for this platform"):
        fetch_wheels.wanted(LOCK, host)


def test_the_best_ranked_tag_wins_over_the_order_of_the_files() -> None:
    files = ["x-1-py3-none-manylinux_2_17_x86_64.whl", "x-1-py3-none-manylinux_2_28_x86_64.whl"]
    tags = fetch_wheels.platform_tags(Host("Linux", "x86_64", 64, (2, 28)))
    assert fetch_wheels.choose(files, tags) == files[1]
    tags = fetch_wheels.platform_tags(Host("Linux", "x86_64", 64, (2, 27)))
    assert fetch_wheels.choose(files, tags) == files[0]


def test_this_host_needs_one_file_per_locked_package() -> None:
    files = fetch_wheels.wanted(LOCK, fetch_wheels.this_host())
    assert sorted(f["project"] for f in files.values()) == sorted(LOCK["packages"])
    pure = [n for n in files if not n.startswith("uv-")]
    assert all(n.endswith("-none-any.whl") for n in pure)


def test_the_table_is_the_closure_of_pyproject_and_satisfies_its_ranges() -> None:
    """A dependency changed in pyproject.toml without regenerating the table fails here."""
    with open(ROOT / "pyproject.toml", "rb") as handle:
        declared = tomllib.load(handle)["project"]["dependencies"]
    assert LOCK["requirements"] == sorted(declared), "run the lock_engine command in the table"
    for text in declared:
        requirement = Requirement(text)
        name = requirement.name.replace("_", "-").lower()
        assert requirement.specifier.contains(LOCK["packages"][name]["version"]), text
    for entry in LOCK["packages"].values():
        for name, file in entry["files"].items():
            assert len(file["sha256"]) == 64, name
            assert file["url"].startswith("https://files.pythonhosted.org/"), name
            assert file["url"].endswith("/" + name)


# --- pages ----------------------------------------------------------------------------------


def test_a_json_page_gives_absolute_urls_and_hashes() -> None:
    body = json.dumps(
        {
            "meta": {"api-version": "1.1"},
            "files": [
                {"filename": "a-1-py3-none-any.whl", "url": "../../f/a-1-py3-none-any.whl",
                 "hashes": {"sha256": "ab" * 32}},
                {"filename": "a-1.tar.gz", "url": "https://cdn.example/a-1.tar.gz", "hashes": {}},
            ],
        }
    ).encode()  # fmt: skip
    page = fetch_wheels.parse_page(
        body, "application/vnd.pypi.simple.v1+json", "https://idx.example/simple/a/"
    )
    assert page == {
        "a-1-py3-none-any.whl": ("https://idx.example/f/a-1-py3-none-any.whl", "ab" * 32),
        "a-1.tar.gz": ("https://cdn.example/a-1.tar.gz", ""),
    }


def test_an_html_page_gives_urls_and_fragment_hashes() -> None:
    body = (
        b"<!DOCTYPE html><html><body><h1>Links for a</h1>"
        b'<a href="/files/a-1-py3-none-any.whl#sha256=' + b"cd" * 32 + b'" '
        b'data-requires-python="&gt;=3.8">a-1-py3-none-any.whl</a><br/>'
        b'<a href="https://cdn.example/a%2B1.tar.gz?x=1&amp;y=2">a+1.tar.gz</a>'
        b"</body></html>"
    )
    page = fetch_wheels.parse_page(body, "text/html", "https://idx.example/simple/a/")
    assert page["a-1-py3-none-any.whl"] == (
        "https://idx.example/files/a-1-py3-none-any.whl",
        "cd" * 32,
    )
    assert page["a+1.tar.gz"] == ("https://cdn.example/a%2B1.tar.gz?x=1&y=2", "")


@pytest.mark.parametrize("body", [b"{not json", b'{"files": [{"url": "x"}]}', b"[]"])
def test_an_unreadable_json_page_is_refused(body: bytes) -> None:
    with pytest.raises(Refused, match="unreadable index page"):
        fetch_wheels.parse_page(body, "application/vnd.pypi.simple.v1+json", "https://i/s/a/")


def test_credentials_in_the_index_url_become_a_header_for_that_host_only() -> None:
    index = fetch_wheels.Index("https://me:s%40cret@mirror.example/simple/", 5)
    assert index.url == "https://mirror.example/simple"
    assert index.auth == {"Authorization": "Basic bWU6c0BjcmV0"}  # me:s@cret
    assert not index.is_pypi
    assert fetch_wheels.Index("https://pypi.org/simple/", 5).is_pypi


def test_an_index_url_that_is_not_http_is_refused_not_read() -> None:
    with pytest.raises(Refused, match="only http"):
        fetch_wheels.Index("file:///opt/pypi/simple", 5).get("file:///etc/hostname")


# --- layout ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "where"),
    [
        ("uv/__init__.py", "uv/__init__.py"),
        ("uv-1.0.dist-info/METADATA", "uv-1.0.dist-info/METADATA"),
        ("uv-1.0.data/scripts/uv", "bin/uv"),
        ("uv-1.0.data/scripts/uv.exe", "bin/uv.exe"),  # Windows: still bin/, as find_uv_bin
        ("x-1.data/purelib/x/a.py", "x/a.py"),
        ("x-1.data/platlib/x/b.py", "x/b.py"),
        ("x-1.data/headers/x.h", None),
        ("x-1.data/data/share/x", None),
        ("../escape.py", None),
        ("/etc/passwd", None),
        ("C:/Windows/x.dll", None),
        ("x/", None),
    ],
)
def test_wheel_members_land_where_pip_install_target_puts_them(
    member: str, where: str | None
) -> None:
    found = fetch_wheels.destination(member)
    assert (str(found) if found else None) == where


def _wheel(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_a_windows_uv_wheel_unpacks_to_bin_uv_exe(tmp_path: Path) -> None:
    fetch_wheels.unpack(
        _wheel(
            {
                "uv/__init__.py": b"",
                "uv-9.data/scripts/uv.exe": b"MZ",
                "uv-9.dist-info/METADATA": b"Name: uv\nVersion: 9\n",
            }
        ),
        tmp_path,
    )
    assert (tmp_path / "bin" / "uv.exe").read_bytes() == b"MZ"
    assert (tmp_path / "uv" / "__init__.py").exists()
    assert (tmp_path / "uv-9.dist-info" / "METADATA").exists()


# --- the engine dir key -----------------------------------------------------------------------


def test_the_engine_dir_changes_with_the_dependencies_and_the_table(tmp_path: Path) -> None:
    deps, lock = ["a>=1", "b>=2"], b'{"packages": {}}'
    key = engine_deps.engine_dir(tmp_path, deps, lock)
    assert engine_deps.engine_dir(tmp_path, list(reversed(deps)), lock) == key  # order: no
    assert engine_deps.engine_dir(tmp_path, [*deps, "c"], lock) != key
    assert engine_deps.engine_dir(tmp_path, ["a>=1", "b>=3"], lock) != key
    assert engine_deps.engine_dir(tmp_path, deps, lock + b" ") != key
    assert key.parent == tmp_path / "engine"


# --- install, against a local index -------------------------------------------------------------


@contextlib.contextmanager
def _index(
    pages: dict[str, Callable[[str], tuple[bytes, str]]], files: dict[str, bytes]
) -> Iterator[str]:
    """A loopback index: `pages[project](base)` gives the page; `/files/<name>` the bytes."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path.startswith("/files/"):
                body, kind = files.get(self.path[7:], b""), "application/octet-stream"
                status = 200 if self.path[7:] in files else 404
            else:
                project = self.path.strip("/").split("/")[-1]
                status = 200 if project in pages else 404
                body, kind = pages[project](base) if project in pages else (b"", "text/plain")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(lambda _: Handler) as base:
        yield f"{base}/simple"


def _json_page(entries: dict[str, str]) -> Callable[[str], tuple[bytes, str]]:
    """filename -> sha256 listed, each served from /files/."""

    def page(base: str) -> tuple[bytes, str]:
        files = [
            {"filename": n, "url": f"{base}/files/{n}", "hashes": {"sha256": h}}
            for n, h in entries.items()
        ]
        return json.dumps({"files": files}).encode(), "application/vnd.pypi.simple.v1+json"

    return page


def _fake_table(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A table of two packages: a pure one and a `uv` whose binary is a shell script."""
    uv_name = fetch_wheels.choose(
        ["uv-9-py3-none-" + t + ".whl" for t in fetch_wheels.platform_tags(fetch_wheels.this_host())[:1]],
        fetch_wheels.platform_tags(fetch_wheels.this_host()),
    )  # fmt: skip
    assert uv_name
    files = {
        "pure-1-py3-none-any.whl": _wheel({"pure/__init__.py": b"X = 1\n"}),
        uv_name: _wheel({"uv/__init__.py": b"", "uv-9.data/scripts/uv": b"#!/bin/sh\necho uv 9\n"}),
    }
    table = {
        "packages": {
            "pure": {"version": "1", "files": {"pure-1-py3-none-any.whl": {}}},
            "uv": {"version": "9", "files": {uv_name: {}}},
        }
    }
    for entry in table["packages"].values():
        for name in entry["files"]:
            entry["files"][name] = {
                "sha256": hashlib.sha256(files[name]).hexdigest(),
                "url": "https://unused.example/" + name,
            }
    lock = tmp_path / "engine.json"
    lock.write_text(json.dumps(table), encoding="utf-8")
    return lock, files


posix_only = pytest.mark.skipif(os.name == "nt", reason="the fake uv is a shell script")


@posix_only
def test_install_fetches_checks_and_unpacks_every_file(tmp_path: Path) -> None:
    lock, files = _fake_table(tmp_path)
    listed = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
    pages = {p: _json_page({n: h for n, h in listed.items() if n.startswith(p)}) for p in ("pure", "uv")}  # fmt: skip
    target = tmp_path / "target"
    target.mkdir()
    with _index(pages, files) as url:
        fetch_wheels.install(target, url, 10, lock)
    assert (target / "pure" / "__init__.py").read_text() == "X = 1\n"
    assert os.access(target / "bin" / "uv", os.X_OK)


@posix_only
@pytest.mark.parametrize("how", ["lists", "serves"])
def test_a_file_whose_sha256_differs_from_the_table_is_refused(tmp_path: Path, how: str) -> None:
    lock, files = _fake_table(tmp_path)
    uv_name = next(n for n in files if n.startswith("uv-"))
    listed = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
    altered = _wheel({"uv/__init__.py": b"", "uv-9.data/scripts/uv": b"#!/bin/sh\necho evil\n"})
    if how == "lists":  # a mirror that lists its altered file with the altered file's hash
        listed[uv_name] = hashlib.sha256(altered).hexdigest()
    files = {**files, uv_name: altered}  # `serves`: the page keeps the table's hash
    pages = {p: _json_page({n: h for n, h in listed.items() if n.startswith(p)}) for p in ("pure", "uv")}  # fmt: skip
    target = tmp_path / "target"
    target.mkdir()
    with _index(pages, files) as url, pytest.raises(Mismatch, match=f"{how} {uv_name}"):
        fetch_wheels.install(target, url, 10, lock)
    assert not (target / "bin" / "uv").exists()


def test_an_index_without_the_file_is_refused(tmp_path: Path) -> None:
    lock, files = _fake_table(tmp_path)
    pages = {"pure": _json_page({}), "uv": _json_page({})}
    with _index(pages, files) as url, pytest.raises(Refused, match="does not list"):
        fetch_wheels.install(tmp_path, url, 10, lock)


def test_an_unreachable_index_is_refused(tmp_path: Path) -> None:
    lock, _ = _fake_table(tmp_path)
    with pytest.raises(Refused, match="could not fetch"):
        fetch_wheels.install(tmp_path, "http://127.0.0.1:9/simple", 5, lock)


# --- the real thing ---------------------------------------------------------------------------


def _checkout(parent: Path) -> Path:
    """What a job downloads for `uses:` (as benchmarks.cases.action_checkout), no bytecode."""
    root = parent / "action"
    shutil.copytree(ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No index or pip settings of this machine; caches and home in tmp_path."""
    keep = ("PIP_CERT",)
    env = {
        k: v
        for k, v in os.environ.items()
        if k in keep or not k.startswith(("PIP_", "UV_", "INPUT_", "GITHUB_", "RUNNER_"))
    }
    env.update(
        HOME=str(tmp_path / "home"),
        PIP_CACHE_DIR=str(tmp_path / "pip-cache"),
        UV_CACHE_DIR=str(tmp_path / "uv-cache"),
        PIP_CONFIG_FILE=os.devnull,
        INPUT_INSTALL_DIR=str(tmp_path / "install"),
    )
    env.update(extra)
    return env


def _host_python() -> str:
    """What action.yml picks here: /usr/bin/python3 when it is 3.11+ with pip, else the base one."""
    probe = "import sys, pip; sys.exit(sys.version_info < (3, 11))"
    system = "/usr/bin/python3"
    if Path(system).exists() and subprocess.run([system, "-c", probe], check=False).returncode == 0:
        return system
    return str(getattr(sys, "_base_executable", sys.executable))


def _bootstrap(checkout: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = checkout / "src/setup_poetry_parallel/bootstrap.py"
    return subprocess.run(
        [_host_python(), "-I", str(script), "--version"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def _engine_dir(tmp_path: Path) -> Path:
    (found,) = [p for p in (tmp_path / "install" / "engine").iterdir() if p.is_dir()]
    return found


@pytest.mark.network
def test_a_fresh_host_bootstraps_from_the_locked_wheels_and_runs(tmp_path: Path) -> None:
    checkout, env = _checkout(tmp_path), _env(tmp_path)
    first = _bootstrap(checkout, env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("setup-poetry-parallel "), first.stdout
    assert "installing the engine's dependencies into" in first.stderr
    assert "with pip from" not in first.stderr
    assert "Traceback" not in first.stderr
    engine = _engine_dir(tmp_path)
    assert not _installed_by_pip(engine)
    # Everything the engine imports is there, and uv is found where the engine looks.
    probe = (
        "import sys, sysconfig; sys.path[:0] = sys.argv[1:]\n"
        "import requests, packaging.version, filelock, poetry.core\n"
        "from uv import find_uv_bin; print(sysconfig.get_path('scripts')); print(find_uv_bin())\n"
    )
    scripts, found = subprocess.run(
        [_host_python(), "-I", "-c", probe, str(checkout / "src"), str(engine)],
        capture_output=True, text=True, check=True, env=env,
    ).stdout.split()  # fmt: skip
    if (Path(scripts) / "uv").exists():  # find_uv_bin prefers the interpreter's own uv
        pytest.skip(f"{scripts}/uv shadows the engine's uv on this machine")
    assert Path(found) == engine / "bin" / "uv"
    version = subprocess.run([found, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.split()[1] == UV["version"]
    again = _bootstrap(_checkout(tmp_path / "later"), env)
    assert again.returncode == 0, again.stderr
    assert "installing" not in again.stderr


class _Proxy(BaseHTTPRequestHandler):
    """The real index's JSON pages, uv's changed by `change(document)`; files stay upstream."""

    change: Callable[[dict[str, Any]], None]

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        project = self.path.strip("/").split("/")[-1]
        request = urllib.request.Request(
            f"https://pypi.org/simple/{project}/",
            headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            document = json.load(response)
        if project == "uv":
            type(self).change(document)
        body = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def _proxy(change: Callable[[dict[str, Any]], None]) -> Iterator[str]:
    handler = type("Handler", (_Proxy,), {"change": staticmethod(change)})
    with serving(lambda _: handler) as base:
        yield f"{base}/simple/"


@pytest.mark.network
def test_an_index_without_the_locked_uv_falls_back_to_pip_in_one_line(tmp_path: Path) -> None:
    def lagging(document: dict[str, Any]) -> None:  # a mirror a release behind
        document["files"] = [
            f for f in document["files"] if f"-{UV['version']}" not in f["filename"]
        ]

    with _proxy(lagging) as url:
        done = _bootstrap(_checkout(tmp_path), _env(tmp_path, PIP_INDEX_URL=url))
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "with pip from" in line]
    assert len(lines) == 1, done.stderr
    assert "does not list uv-" in lines[0]
    assert "Traceback" not in done.stderr
    engine = _engine_dir(tmp_path)
    assert (engine / "bin" / "uv").exists()
    assert not list(engine.glob(f"uv-{UV['version']}.dist-info"))  # pip's older uv, not ours
    assert _installed_by_pip(engine) >= {"uv", "requests", "poetry_core"}


@pytest.mark.network
def test_an_index_listing_another_sha256_for_the_locked_uv_stops_the_bootstrap(
    tmp_path: Path,
) -> None:
    def altered(document: dict[str, Any]) -> None:  # a mirror serving its own uv under our name
        for entry in document["files"]:
            entry["hashes"] = {"sha256": "0" * 64}

    with _proxy(altered) as url:
        done = _bootstrap(_checkout(tmp_path), _env(tmp_path, UV_DEFAULT_INDEX=url))
    assert done.returncode == 1
    assert "error: could not install the engine's dependencies" in done.stderr
    assert "differs from the action's table" in done.stderr
    assert "Traceback" not in done.stderr
    assert "with pip from" not in done.stderr
    assert [p.name for p in (tmp_path / "install" / "engine").iterdir()] == [
        _engine_dir_name(tmp_path) + ".lock"
    ]  # no engine dir, no scratch left behind (and pip never ran: it would have made one)


def _installed_by_pip(engine: Path) -> set[str]:
    """Projects whose dist-info pip marked as its own (a wheel itself carries no INSTALLER)."""
    return {
        p.parent.name.split("-")[0]
        for p in engine.glob("*.dist-info/INSTALLER")
        if p.read_text().strip() == "pip"
    }


def _engine_dir_name(tmp_path: Path) -> str:
    (lock,) = (tmp_path / "install" / "engine").glob("*.lock")
    return lock.name.removesuffix(".lock")
