"""Fast install from the project's private source, with Poetry's credentials (issue 21 beside
issue 18), for real: the loopback bed of tests/private_index.py (`internal` needs basic auth and
hosts an in-house package; `public`, the user's configured uv index, must never be asked).

uv does the installing here (the dist-info says `uv`, the index saw uv's user agent), with the
credentials Poetry has for the source (its POETRY_HTTP_BASIC_* variables), which reach uv only
in its environment; a refused login falls back to Poetry with one warning that names the source
and no password.
"""

from __future__ import annotations

import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine_cli import Setup, setup
from tests.index.test_private_index_real import (
    PASSWORD,
    USER,
    WRONG,
    environment,
    poetry_credentials,
    sent_credentials,
)
from tests.private_index import AUDIT, Bed, bed_or_skip
from tests.projects import make_project

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def bed() -> Iterator[Bed]:
    with bed_or_skip(USER, PASSWORD) as served:
        yield served


def in_house_dependencies(root: Path, bed: Bed) -> Path:
    """A project whose primary source is `internal`: an in-house package and a public one
    (which `internal` proxies), locked by Poetry from that source."""
    return make_project(
        root,
        plugins="",
        dependencies=f'"{AUDIT}>=1", "six"',
        source=("internal", bed.internal.url),
    )


def poetry(
    done: Setup, env: dict[str, str], root: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["poetry", *args], cwd=root, env=done.env(env), capture_output=True, text=True, check=False
    )


def installer_of(done: Setup, env: dict[str, str], root: Path, name: str) -> str:
    found = poetry(done, env, root, "env", "info", "--path")
    assert found.returncode == 0, found.stderr
    site = next(Path(found.stdout.strip()).glob("lib/python3*/site-packages"))
    (dist,) = site.glob(f"{name.replace('-', '_')}-*.dist-info")
    return (dist / "INSTALLER").read_text().strip()


def leaks(text: str, password: str) -> list[str]:
    forms = {password, urllib.parse.quote(password, safe=""), urllib.parse.quote(password)}
    return [form for form in forms if form in text]


def locked_job(bed: Bed, install_dir: Path, tmp_path: Path) -> tuple[Path, dict[str, str], Setup]:
    """A job set up with --fast-install for the in-house project, locked by its Poetry."""
    bed.reset()
    root = in_house_dependencies(tmp_path / "project", bed)
    env = environment(bed, **poetry_credentials())
    done = setup(root, install_dir, tmp_path / "state", "fast", "--fast-install", env=env)
    assert done.returncode == 0, done.stderr
    locked = poetry(done, env, root, "lock")
    assert locked.returncode == 0, locked.stdout + locked.stderr
    bed.reset()
    return root, env, done


def test_uv_installs_from_the_private_source_with_poetry_s_credentials(
    bed: Bed, shared_install_dir: Path, tmp_path: Path
) -> None:
    root, env, done = locked_job(bed, shared_install_dir, tmp_path)

    ran = poetry(done, env, root, "install")
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output
    assert "fast-install" not in output  # no fallback, no package kept back
    assert installer_of(done, env, root, AUDIT) == "uv"
    assert installer_of(done, env, root, "six") == "uv"
    downloads = bed.internal.downloads(AUDIT)
    assert downloads, "the in-house wheel was not fetched from internal"
    assert {seen.user for seen in downloads} == {USER}
    assert all(seen.headers.get("User-Agent", "").startswith("uv/") for seen in downloads)
    assert not bed.public.requests, [seen.path for seen in bed.public.requests]
    assert not sent_credentials(bed, "public", "files")
    assert not leaks(output, PASSWORD)
    # Nor in what uv keeps: its cache (the session's here, else the job's Poetry cache's uv/).
    cache = Path(env.get("UV_CACHE_DIR") or Path(done.outputs["cache-dir"]) / "uv")
    assert cache.is_dir()
    for path in cache.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert not leaks(path.read_bytes().decode("latin-1"), PASSWORD), path


def test_a_refused_login_falls_back_to_poetry_naming_the_source_not_the_password(
    bed: Bed, shared_install_dir: Path, tmp_path: Path
) -> None:
    """uv gets a 401, says so once, and Poetry (same wrong credentials) refuses as it would."""
    root, _, done = locked_job(bed, shared_install_dir, tmp_path)
    wrong = environment(bed, **poetry_credentials(WRONG))

    ran = poetry(done, wrong, root, "install")
    output = ran.stdout + ran.stderr
    assert ran.returncode != 0, output
    warnings = [line for line in output.splitlines() if "fast-install: uv could not" in line]
    assert len(warnings) == 1, output
    assert "from internal" in warnings[0]
    assert AUDIT in warnings[0]
    assert not leaks(output, WRONG)
    assert not leaks(output, PASSWORD)
    assert any(seen.user == USER for seen in bed.internal.requests)  # the wrong password was sent
