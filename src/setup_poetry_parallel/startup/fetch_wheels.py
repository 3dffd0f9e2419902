"""The bootstrap's fast path: the engine's locked wheels, fetched and unpacked with the stdlib.

`locks/engine.json` (written by lock_engine.py) names, with its sha256, one pure-Python wheel
per dependency and uv's wheel for every platform. This host's uv wheel is chosen by platform
tag; every file is fetched at once (threads), checked against the table's sha256 and unpacked
into the target as `pip install --target` would lay it out: packages at the top, a wheel's
`.data/scripts` in `bin/` (where `uv.find_uv_bin()` looks for a `--target` install, `uv.exe`
on Windows too). From pypi.org the table's URLs are fetched directly (no index page: uv's is
megabytes); from another index the project's page (PEP 691 JSON, else PEP 503 HTML) gives
each file's URL. Anything that stops this path raises `Refused` (the caller falls back to
pip); a file whose sha256 differs from the table raises `Mismatch`, which must not be
installed by any path. Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import platform
import shutil
import ssl
import subprocess
import sys
import sysconfig
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPMessage
from io import BytesIO
from pathlib import Path, PurePosixPath
from typing import IO, Any, NamedTuple

from setup_poetry_parallel.index.simple_index import anchors, canonical  # stdlib only too
from setup_poetry_parallel.redaction import redact_url  # stdlib only too

LOCK = Path(__file__).resolve().parents[1] / "locks" / "engine.json"
PYPI = "https://pypi.org/simple"
ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"  # fmt: skip


class Refused(Exception):
    """The fast path cannot work here; the message says why, in a few words."""


class Mismatch(Exception):
    """A file's sha256 differs from the table's: never installed."""


class Denied(Exception):
    """The index answered 401/403: pip from the same index with the same credentials would be
    refused too, so the message says which credentials to set instead of falling back."""


class Host(NamedTuple):
    system: str  # platform.system(): Linux, Darwin, Windows
    machine: str  # platform.machine()
    bits: int  # the interpreter's pointer size
    glibc: tuple[int, int] | None = None  # Linux: None means musl (or another libc)
    mac: tuple[int, int] | None = None  # macOS release
    win: str = ""  # sysconfig.get_platform() on Windows: win32, win-amd64, win-arm64


def this_host() -> Host:
    system = platform.system()
    glibc = mac = None
    if system == "Linux":
        name, version = platform.libc_ver()
        glibc = _pair(version) if name == "glibc" else None
    elif system == "Darwin":
        mac = _pair(platform.mac_ver()[0])
    bits = 64 if sys.maxsize > 2**32 else 32
    return Host(system, platform.machine(), bits, glibc, mac, sysconfig.get_platform())


def _pair(version: str) -> tuple[int, int]:
    major, _, rest = version.partition(".")
    return int(major or 0), int(rest.partition(".")[0] or 0)


def platform_tags(host: Host) -> list[str]:
    """This host's wheel platform tags for a standalone binary, best first."""
    if host.system == "Windows":
        return [host.win.replace("-", "_").replace(".", "_")]
    if host.system == "Darwin" and host.mac:
        arch = "arm64" if host.machine in ("arm64", "aarch64") else "x86_64"
        major, minor = host.mac if host.mac < (10, 16) else (max(host.mac[0], 11), 0)
        versions = [(m, 0) for m in range(major, 10, -1)] if major >= 11 else []
        if arch == "x86_64":
            versions += [(10, m) for m in range(minor if major == 10 else 16, -1, -1)]
        return [f"macosx_{a}_{b}_{kind}" for a, b in versions for kind in (arch, "universal2")]
    if host.system != "Linux":
        return []
    arch = {"amd64": "x86_64", "arm64": "aarch64", "i386": "i686", "i586": "i686"}.get(
        host.machine, host.machine
    )
    if host.bits == 32:
        arch = {"x86_64": "i686", "aarch64": "armv7l"}.get(arch, arch)
    tags = []
    if host.glibc:
        for minor in range(host.glibc[1], 4, -1):
            tags.append(f"manylinux_2_{minor}_{arch}")
            legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}.get(minor)
            tags += [f"{legacy}_{arch}"] if legacy else []
    else:  # musl: its version is not known without reading the ELF; 1.2 is every current one
        tags += [f"musllinux_1_{minor}_{arch}" for minor in (2, 1, 0)]
    return [*tags, f"linux_{arch}"]


def choose(filenames: list[str], tags: list[str]) -> str | None:
    """The wheel whose platform tags rank best in `tags`; None when none fits."""
    ranked = []
    for name in filenames:
        platforms = name.removesuffix(".whl").split("-")[-1].split(".")
        ranks = [tags.index(p) for p in platforms if p in tags]
        if ranks:
            ranked.append((min(ranks), name))
    return min(ranked)[1] if ranked else None


def wanted(lock: dict[str, Any], host: Host) -> dict[str, dict[str, str]]:
    """filename -> {sha256, url, project} of every file this host needs."""
    files: dict[str, dict[str, str]] = {}
    for project, entry in lock["packages"].items():
        names = list(entry["files"])
        name = choose(names, platform_tags(host)) if project == "uv" else names[0]
        if name is None:
            raise Refused(f"the action's table has no uv wheel for this platform ({host.win})")
        files[name] = {**entry["files"][name], "project": project}
    return files


# --- the index ------------------------------------------------------------------------------


def parse_page(body: bytes, content_type: str, page_url: str) -> dict[str, tuple[str, str]]:
    """filename -> (absolute URL, sha256 or "") from a PEP 691 JSON or PEP 503 HTML page."""
    found: dict[str, tuple[str, str]] = {}
    if "json" in content_type:
        try:
            for entry in json.loads(body)["files"]:
                url = urllib.parse.urljoin(page_url, entry["url"])
                found[entry["filename"]] = (url, entry.get("hashes", {}).get("sha256", ""))
        except (ValueError, KeyError, TypeError) as exc:
            raise Refused(f"unreadable index page {page_url}") from exc
        return found
    for href, text, _ in anchors(body.decode("utf-8", "replace")):
        url, _, fragment = urllib.parse.urljoin(page_url, href).partition("#")
        path = urllib.parse.urlsplit(url).path
        name = urllib.parse.unquote(path.rsplit("/", 1)[-1]) or text
        digest = fragment.removeprefix("sha256=") if fragment.startswith("sha256=") else ""
        found[name] = (url, digest)
    return found


def origin(url: str) -> tuple[str, str, int | None]:
    """scheme, host, port: the realm credentials are for (uv's and requests' rule; a hostname
    alone would hand them to another port or to http on the same host)."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or ""), parts.port or {"http": 80, "https": 443}.get(scheme)


class Index:
    """An index URL and the timeout of every request. Its credentials (in the URL: settings.
    read_index puts the ~/.netrc entry for the index there, as uv would use it) become a Basic
    header sent to its origin only, redirects included."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url.rstrip("/"))
        self.host = parts.hostname or ""
        self.auth: dict[str, str] = {}
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            raw = f"{user}:{urllib.parse.unquote(parts.password or '')}".encode()
            self.auth = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
            parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
        self.url = urllib.parse.urlunsplit(parts)
        self.origin = origin(self.url)
        self.timeout = timeout
        # One context for every request: each new one reads the CA store again (~40 ms here),
        # and ten at once from threads took 0.3 s.
        self.context = ssl.create_default_context()
        # urllib copies a request's headers to a redirect, wherever it goes: the credentials
        # are added unredirected, and again by _Redirects only to this index's origin.
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=self.context), _Redirects(self)
        )

    @property
    def is_pypi(self) -> bool:
        return self.url == PYPI and not self.auth

    def get(self, url: str, accept: str = "*/*") -> tuple[bytes, str]:
        headers = {
            "Accept": accept,
            "Accept-Encoding": "gzip",
            "User-Agent": "setup-poetry-parallel",
        }
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https"):  # file: and the rest: pip's job
            raise Refused(f"{url}: only http(s) is fetched here")
        request = urllib.request.Request(url, headers=headers)  # noqa: S310  # http(s): above
        self.authorize(request)
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                body = response.read()
                if response.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                return body, response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            exc.close()  # its response: the socket, not left to the garbage collector
            if exc.code in (401, 403):
                raise Denied(self.refused(exc.code)) from exc
            raise Refused(f"could not fetch {redact_url(url)}: {exc}") from exc
        except (OSError, EOFError, ValueError) as exc:  # URLError, timeouts, bad gzip
            raise Refused(f"could not fetch {redact_url(url)}: {exc}") from exc

    def authorize(self, request: urllib.request.Request) -> None:
        """The credentials, to this index's origin only, and never copied to a redirect."""
        if origin(request.full_url) == self.origin:
            for name, value in self.auth.items():
                request.add_unredirected_header(name, value)

    def refused(self, code: int) -> str:
        why = "credentials from its URL or ~/.netrc sent" if self.auth else "none sent"
        return (
            f"the index refused the credentials for {self.url} (HTTP {code}: {why}): set"
            " user and password in the URL of UV_DEFAULT_INDEX, UV_INDEX_URL or PIP_INDEX_URL"
            f" (https://USER:PASSWORD@{urllib.parse.urlsplit(self.url).netloc}/...), or a"
            f" `machine {self.host}` entry in ~/.netrc ($NETRC)"
        )

    def locate(self, filename: str, project: str) -> tuple[str, str]:
        """The file's URL and sha256 (or "") as the project's page lists them."""
        page_url = f"{self.url}/{canonical(project)}/"
        body, kind = self.get(page_url, ACCEPT)
        url, digest = parse_page(body, kind, page_url).get(filename, ("", ""))
        if not url:
            raise Refused(f"the index {self.url} does not list {filename}")
        return url, digest


class _Redirects(urllib.request.HTTPRedirectHandler):
    """A redirect back to the index's own origin keeps the credentials (uv does the same);
    one to anywhere else gets none."""

    def __init__(self, index: Index) -> None:
        self.index = index

    def redirect_request(  # noqa: PLR0917  # urllib's signature
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            self.index.authorize(new)
        return new


def fetch(index: Index, filename: str, entry: dict[str, str]) -> bytes:
    """The file, its sha256 checked against the table's (and the page's, if it names one)."""
    url, listed = (entry["url"], "") if index.is_pypi else index.locate(filename, entry["project"])
    if listed and listed != entry["sha256"]:
        raise _mismatch(filename, index, "lists")
    data, _ = index.get(url)
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise _mismatch(filename, index, "serves")
    return data


def _mismatch(filename: str, index: Index, how: str) -> Mismatch:
    return Mismatch(
        f"the index {index.url} {how} {filename} with a sha256 that differs from the action's"
        " table; refusing it (a corrupted or altered file is never installed)"
    )


# --- unpacking ------------------------------------------------------------------------------


def destination(member: str) -> PurePosixPath | None:
    """Where a wheel member goes under a `--target` directory; None for what is left out."""
    path = PurePosixPath(member)
    if path.is_absolute() or ".." in path.parts or ":" in member or member.endswith("/"):
        return None
    if path.parts[0].endswith(".data"):
        if len(path.parts) < 3:
            return None
        kind, rest = path.parts[1], path.parts[2:]
        if kind == "scripts":
            return PurePosixPath("bin", *rest)
        return PurePosixPath(*rest) if kind in ("purelib", "platlib") else None
    return path


def unpack(data: bytes, target: Path) -> None:
    with zipfile.ZipFile(BytesIO(data)) as wheel:
        for info in wheel.infolist():
            where = destination(info.filename)
            if where is None:
                continue
            path = target.joinpath(*where.parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            with wheel.open(info) as source, open(path, "wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
            if where.parts[0] == "bin" and os.name != "nt":
                path.chmod(0o755)


def install(
    target: Path,
    index_url: str,
    timeout: float,
    lock: Path = LOCK,
) -> None:
    """Fetch, check and unpack every locked file for this host into `target`; check uv runs."""
    files = wanted(json.loads(lock.read_text(encoding="utf-8")), this_host())
    index = Index(index_url, timeout)

    def one(filename: str) -> None:
        unpack(fetch(index, filename, files[filename]), target)

    with ThreadPoolExecutor(max_workers=len(files)) as pool:
        failures = [f.exception() for f in [pool.submit(one, name) for name in files]]
    errors = [e for e in failures if e is not None]
    if errors:  # a mismatch or a refusal first: it must stop the caller, not send it elsewhere
        raise next((e for e in errors if isinstance(e, Mismatch | Denied)), errors[0])
    uv = target / "bin" / ("uv" + (sysconfig.get_config_var("EXE") or ""))
    try:
        subprocess.run([str(uv), "--version"], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise Refused(f"the uv binary of the action's table does not run here ({exc})") from exc
