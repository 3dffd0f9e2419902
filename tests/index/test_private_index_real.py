"""The project's plugins resolved the way Poetry resolves them (issue 18, section 1), for real.

The bed (tests/private_index.py): `internal`, a loopback index with basic auth that serves the
in-house `acme-poetry-plugin` 1.0.0 and proxies the real index; `public`, the user's configured
index (UV_DEFAULT_INDEX) on another loopback host, serving a HOSTILE `acme-poetry-plugin`
99.0.0; `files`, a third host that `internal` may redirect downloads to. The engine runs as
users run it (a process, `--poetry-version 2.5.1`, the default locked table); every case reads
what Poetry's venv holds and what each server was asked, and by whom.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import textwrap
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from uv import find_uv_bin

from tests.engine_cli import Setup, argv, setup, start
from tests.private_index import AUDIT, MARKER_VARIABLE, PLUGIN, Bed, bed_or_skip

pytestmark = pytest.mark.real

USER = "ci-bot"
PASSWORD = "pw-9f2@K/x"  # "@" and "/" percent-encode: a leak is looked for in both forms
WRONG = "wr0ng@pw/Q"

# Variables of the outer environment that would choose an index or give credentials.
_INDEX_VARIABLES = ("UV_INDEX", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX", "PIP_INDEX", "PIP_EXTRA",
                    "POETRY_HTTP_BASIC", "POETRY_REPOSITORIES", "NETRC")  # fmt: skip


@pytest.fixture(scope="module")
def served() -> Iterator[Bed]:
    """One bed for the module: the real index is fetched through it once."""
    with bed_or_skip(USER, PASSWORD) as bed:
        yield bed


@pytest.fixture
def bed(served: Bed) -> Iterator[Bed]:
    served.reset()
    yield served
    served.reset()


def environment(bed: Bed, **extra: str) -> dict[str, str]:
    """The job's environment: the public stand-in as the user's configured index."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_INDEX_VARIABLES)}
    return {**env, "UV_DEFAULT_INDEX": bed.public.url, **extra}


def poetry_credentials(password: str = PASSWORD) -> dict[str, str]:
    """The credentials of source `internal`, as Poetry documents them."""
    return {
        "POETRY_HTTP_BASIC_INTERNAL_USERNAME": USER,
        "POETRY_HTTP_BASIC_INTERNAL_PASSWORD": password,
    }


def project(root: Path, sources: str, plugins: str) -> Path:
    """A Poetry project with these `[[tool.poetry.source]]` tables and requires-plugins."""
    (root / "src" / "sample").mkdir(parents=True)
    (root / "src" / "sample" / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [project]
            name = "sample"
            version = "0.1.0"
            requires-python = ">=3.10"
            dependencies = []

            [tool.poetry]
            packages = [{ include = "sample", from = "src" }]

            [tool.poetry.requires-plugins]
            """
        )
        + textwrap.dedent(plugins)
        + "\n"
        + textwrap.dedent(sources)
        + textwrap.dedent(
            """
            [build-system]
            requires = ["poetry-core>=2.0.0,<3.0.0"]
            build-backend = "poetry.core.masonry.api"
            """
        )
    )
    return root


def source(name: str, url: str, priority: str) -> str:
    return f'\n[[tool.poetry.source]]\nname = "{name}"\nurl = "{url}"\npriority = "{priority}"\n'


def in_house_project(root: Path, bed: Bed) -> Path:
    """The reporter's project: its index is primary (PyPI off, for Poetry) and hosts the plugin."""
    return project(root, source("internal", bed.internal.url, "primary"), f'{PLUGIN} = ">=1"')


def installed(done: Setup, name: str) -> str | None:
    """The version of `name` in Poetry's venv, None when absent."""
    python = Path(done.outputs["poetry-venv"]) / "bin" / "python"
    found = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({name!r}))"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return found.stdout.strip() if found.returncode == 0 else None


def activated(done: Setup, env: dict[str, str], where: Path, tmp_path: Path) -> str:
    """What the acme plugins' activate() wrote when the job's `poetry --version` ran."""
    marker = tmp_path / "activated.txt"
    run_env = {**done.env(env), MARKER_VARIABLE: str(marker)}
    poetry = shutil.which("poetry", path=run_env["PATH"])
    assert poetry is not None
    ran = subprocess.run(
        [poetry, "--version"], cwd=where, env=run_env, capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stderr
    return marker.read_text() if marker.exists() else ""


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def sent_credentials(bed: Bed, *names: str) -> list[str]:
    """Requests to these servers that carried an Authorization header."""
    servers = {"public": bed.public, "files": bed.files, "internal": bed.internal}
    return [f"{n} {s.path}" for n in names for s in servers[n].requests if s.authorization]


def assert_never_public(bed: Bed, name: str) -> None:
    """The public stand-in was never asked for an in-house name, so it supplied nothing."""
    assert not bed.public.asked_for(name), [s.path for s in bed.public.asked_for(name)]
    assert not bed.public.downloads(name)


# 1. Dependency confusion: the project's primary source, credentials in Poetry's variables.


def test_primary_source_supplies_the_in_house_plugin_never_the_public_one(
    bed: Bed, tmp_path: Path
) -> None:
    """Before (b2d1cb9): the plugin is resolved on UV_DEFAULT_INDEX alone and the public
    99.0.0 is installed into the shared Poetry venv, where every Poetry process runs it."""
    root = in_house_project(tmp_path / "project", bed)
    env = environment(bed, **poetry_credentials())
    done = setup(root, tmp_path / "install", tmp_path / "state", "primary", env=env)
    assert done.returncode == 0, done.stderr
    assert installed(done, PLUGIN) == "1.0.0"
    assert_never_public(bed, PLUGIN)
    # The in-house wheel came from internal, with the source's credentials.
    assert {s.user for s in bed.internal.downloads(PLUGIN)} == {USER}
    assert not sent_credentials(bed, "public", "files")
    activations = activated(done, env, root, tmp_path)
    assert "in-house acme-poetry-plugin 1.0.0" in activations
    assert "HOSTILE" not in activations


def test_plain_poetry_takes_the_in_house_plugin_with_the_same_project(
    bed: Bed, tmp_path: Path
) -> None:
    """The reference: Poetry 2.5.1 itself (no setup) installs the project's plugins from the
    project's sources, with the same project and variables: the in-house 1.0.0. And when the
    primary source lacks the plugin, Poetry fails rather than ask any other index."""
    venv = tmp_path / "poetry"
    uv = find_uv_bin()
    env = environment(bed, **poetry_credentials(), POETRY_VIRTUALENVS_IN_PROJECT="true")
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, env=env)
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "poetry==2.5.1"],
        check=True, env=env,
    )  # fmt: skip
    root = in_house_project(tmp_path / "project", bed)
    ran = subprocess.run(
        [str(venv / "bin" / "poetry"), "install", "--no-interaction"],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    plugins = sorted(p.name for p in (root / ".poetry" / "plugins").glob("acme_*.dist-info"))
    assert plugins == ["acme_poetry_plugin-1.0.0.dist-info"]
    bed.internal.switches.hide_plugin = True
    root = in_house_project(tmp_path / "lacking", bed)
    ran = subprocess.run(
        [str(venv / "bin" / "poetry"), "install", "--no-interaction"],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ran.returncode != 0, ran.stdout
    assert f"depends on {PLUGIN} (>=1) which doesn't match any versions" in ran.stdout + ran.stderr
    assert not list(root.glob(".poetry/**/acme_*"))
    assert_never_public(bed, PLUGIN)
    assert not sent_credentials(bed, "public")


def test_primary_source_without_the_plugin_never_falls_back_to_the_public_index(
    bed: Bed, tmp_path: Path
) -> None:
    """A primary source switches PyPI off for Poetry: when it lacks the plugin (404), Poetry
    fails; so must the setup, not take the public 99.0.0 (uv's first-index strategy would go
    on to the next index). Before: 99.0.0 installed, exit 0."""
    bed.internal.switches.hide_plugin = True
    root = in_house_project(tmp_path / "project", bed)
    env = environment(bed, **poetry_credentials())
    done = setup(root, tmp_path / "install", tmp_path / "state", "hidden", env=env)
    assert done.returncode != 0, f"installed {PLUGIN} {installed(done, PLUGIN)}"
    assert_never_public(bed, PLUGIN)
    [line] = error_lines(done.stderr)
    assert PLUGIN in line, line
    # Where it was looked for: the source, not the index that was never asked for it.
    assert "internal" in line or bed.internal.base.removeprefix("http://") in line, line
    assert bed.public.url not in line, line
    assert not list((tmp_path / "install").glob("**/acme_poetry_plugin-99.0.0.dist-info"))


# 2. Credentials from ~/.netrc.


@pytest.fixture
def netrc(bed: Bed) -> Iterator[Path]:
    """$HOME/.netrc (the session's temp home) with internal's login, restored afterwards."""
    path = Path(os.environ["HOME"]) / ".netrc"
    saved = path.read_bytes() if path.exists() else None
    host = urllib.parse.urlsplit(bed.internal.url).hostname
    path.write_text(f"machine {host}\nlogin {USER}\npassword {PASSWORD}\n")
    path.chmod(0o600)
    try:
        yield path
    finally:
        if saved is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(saved)


def test_credentials_from_netrc(bed: Bed, netrc: Path, tmp_path: Path) -> None:
    """Before: exit 2, "not on the index ...: check its name", internal never contacted (or,
    with the hostile stand-in answering, 99.0.0)."""
    root = in_house_project(tmp_path / "project", bed)
    done = setup(root, tmp_path / "install", tmp_path / "state", "netrc", env=environment(bed))
    assert done.returncode == 0, done.stderr
    assert installed(done, PLUGIN) == "1.0.0"
    assert {s.user for s in bed.internal.downloads(PLUGIN)} == {USER}
    assert_never_public(bed, PLUGIN)
    assert not sent_credentials(bed, "public", "files")


# 3. A plugin's own source; the others from the default index.


def test_explicit_source_serves_only_the_plugin_that_names_it(bed: Bed, tmp_path: Path) -> None:
    """`priority = "explicit"`: only packages that name the source come from it. The plugin
    that does is the in-house one; poetry-plugin-export, naming none, comes from the default
    index (the user's UV_DEFAULT_INDEX) and internal is never asked for it."""
    plugins = f"""\
        {PLUGIN} = {{ version = ">=1", source = "internal" }}
        poetry-plugin-export = ">=1.8"
        """
    root = project(tmp_path / "project", source("internal", bed.internal.url, "explicit"), plugins)
    env = environment(bed, **poetry_credentials())
    done = setup(root, tmp_path / "install", tmp_path / "state", "explicit", env=env)
    assert done.returncode == 0, done.stderr
    assert installed(done, PLUGIN) == "1.0.0"
    assert installed(done, "poetry-plugin-export") is not None
    assert_never_public(bed, PLUGIN)
    assert bed.public.asked_for("poetry-plugin-export")
    asked_internal = {s.path for s in bed.internal.requests if s.path.startswith("/simple/")}
    assert asked_internal == {f"/simple/{PLUGIN}/"}, "explicit: asked for nothing else"
    assert not sent_credentials(bed, "public", "files")


# 4. A supplemental source.


def test_supplemental_source_supplies_a_name_the_primary_lacks(bed: Bed, tmp_path: Path) -> None:
    """Primary `mirror` (the public stand-in), supplemental `internal`: acme-audit-plugin is
    not on the mirror (404) and comes from internal, with its credentials."""
    sources = source("mirror", bed.public.url, "primary")
    sources += source("internal", bed.internal.url, "supplemental")
    root = project(tmp_path / "project", sources, f'{AUDIT} = ">=1"')
    env = environment(bed, **poetry_credentials())
    done = setup(root, tmp_path / "install", tmp_path / "state", "supplemental", env=env)
    assert done.returncode == 0, done.stderr
    assert installed(done, AUDIT) == "1.0.0"
    assert {s.user for s in bed.internal.downloads(AUDIT)} == {USER}
    assert not sent_credentials(bed, "public", "files")


# 5. A refused login: said so, and the password nowhere.


def leaks(secret: str, texts: list[str], *dirs: Path) -> list[str]:
    """Where `secret` shows, raw, percent-encoded or inside a basic-auth header value."""
    forms = {secret, urllib.parse.quote(secret), urllib.parse.quote(secret, safe="")}
    forms.add(base64.b64encode(f"{USER}:{secret}".encode()).decode())
    found = [f"text {i}" for i, text in enumerate(texts) for form in forms if form in text]
    for path in (p for d in dirs for p in d.rglob("*") if p.is_file() and not p.is_symlink()):
        data = path.read_bytes()
        found += [str(path) for form in forms if form.encode() in data]
    return found


def runner_files(tmp_path: Path) -> dict[str, str]:
    """The files a GitHub runner hands a step, empty; the setup runs as on a runner."""
    names = ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY")
    files = {name: tmp_path / "runner" / name.lower() for name in names}
    (tmp_path / "runner").mkdir()
    for path in files.values():
        path.write_text("")
    return {"GITHUB_ACTIONS": "true", **{name: str(path) for name, path in files.items()}}


def test_a_refused_login_names_the_source_and_leaks_no_password(bed: Bed, tmp_path: Path) -> None:
    """A wrong password: internal answers 401. Before: "no release satisfies ... relax the
    plugin constraint" (or the public 99.0.0, when it answers for the name)."""
    root = in_house_project(tmp_path / "project", bed)
    runner = runner_files(tmp_path)
    env = environment(bed, **poetry_credentials(WRONG), **runner)
    command = argv(root, tmp_path / "install", tmp_path / "state", "refused")
    command[command.index("--format") + 1] = "github"
    process = start(command, env=env)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode != 0, stderr
    assert bed.internal.requests, "the internal index was asked"
    assert not bed.public.downloads(PLUGIN)
    outputs = [Path(path).read_text() for name, path in runner.items() if name != "GITHUB_ACTIONS"]
    assert not leaks(WRONG, [stdout, stderr, *outputs], tmp_path / "state", tmp_path / "install")
    [line] = error_lines(stderr)
    assert "refused the credentials" in line, line
    assert "internal" in line, line
    assert "POETRY_HTTP_BASIC_INTERNAL_" in line, f"says what to set: {line}"


# 6. A first request answered 503: the warning names the index, never its credentials.


def test_a_retried_503_warns_without_the_credentials(bed: Bed, tmp_path: Path) -> None:
    """Credentials as URL userinfo in UV_DEFAULT_INDEX (uv's way). Before: the warning (and,
    on a runner, its ::warning annotation) printed http://ci-bot:pw-9f2%40K%2Fx@..."""
    bed.internal.switches.outage = 1
    root = project(tmp_path / "project", "", "")
    env = environment(bed, UV_DEFAULT_INDEX=bed.internal_with_userinfo())
    # `2.5`, not `2.5.1`: the engine reads the index for the release before uv starts, so the
    # one 503 is the engine's to retry and report (with an exact version its release check
    # runs beside uv, and whichever asks first gets the 503: uv retries without a word).
    command = argv(root, tmp_path / "install", tmp_path / "state", "outage", "--poetry-version")
    process = start([*command, "2.5"], env=env)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    warnings = [line for line in stderr.splitlines() if line.startswith("warning:")]
    where = bed.internal.url.removeprefix("http://")
    assert any(where in line and "503" in line for line in warnings), stderr
    assert not leaks(PASSWORD, [stdout, stderr], tmp_path / "state", tmp_path / "install")


# 7. Downloads redirected to another host: the credentials stay with their host.


def test_redirected_downloads_carry_no_credentials_to_the_other_host(
    bed: Bed, tmp_path: Path
) -> None:
    """Every download from internal (Poetry, its locked dependencies and the plugin: internal
    is the default index too) is answered 302 to 127.0.0.2, which records what it got."""
    bed.internal.switches.redirect_files = True
    root = in_house_project(tmp_path / "project", bed)
    env = environment(bed, UV_DEFAULT_INDEX=bed.internal_with_userinfo(), **poetry_credentials())
    done = setup(root, tmp_path / "install", tmp_path / "state", "redirect", env=env)
    assert done.returncode == 0, done.stderr
    assert installed(done, PLUGIN) == "1.0.0"
    assert bed.files.downloads(PLUGIN), "the plugin was fetched from the other host"
    assert bed.files.downloads("poetry"), "so was Poetry"
    assert not sent_credentials(bed, "files", "public")
