"""interpreters.py asks each candidate through the one subprocess seam (process.probe) and keeps
why it refused one: the error for a missing interpreter lists every candidate and its reason.
Real programs: this machine's Python and small stand-ins (a pyenv shim that cannot serve the
version, a broken interpreter, a file that is not executable), and the engine's real uv."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from setup_poetry_parallel import interpreters, process
from setup_poetry_parallel.errors import InputError
from setup_poetry_parallel.settings import Host

SHIM = '#!/bin/sh\necho "pyenv: version \\`3.99\' is not installed" >&2\nexit 127\n'
BROKEN = "#!/bin/sh\necho 'Fatal Python error: init_fs_encoding' >&2\nexit 1\n"


def script(path: Path, text: str, *, executable: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def host(tmp_path: Path) -> Host:
    """PATH: this Python as `python3` and a pyenv shim as `python3.99`; a broken 3.99 in the
    tool cache; a 3.99 under pyenv's versions that is not executable."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    script(tmp_path / "pyenv" / "shims" / "python3.99", SHIM)
    script(tmp_path / "cache" / "Python" / "3.99.1" / "x64" / "bin" / "python", BROKEN)
    script(tmp_path / "pyenv" / "versions" / "3.99.0" / "bin" / "python", "", executable=False)
    path = f"{tmp_path / 'pyenv' / 'shims'}:{bin_dir}"
    return Host(path=path, tool_cache=tmp_path / "cache", pyenv_root=tmp_path / "pyenv")


@pytest.mark.skipif(sys.platform == "win32", reason="stand-ins are sh scripts")
def test_the_error_says_why_each_candidate_was_refused(host: Host, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"python-version 3\.99: no such interpreter") as error:
        interpreters.find("3.99", host, {"PATH": host.path, "HOME": str(tmp_path)})
    details = error.value.details.splitlines()
    mine = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert details[0] == "looked at:"
    said = "\n".join(details)
    assert f"{tmp_path}/bin/python3: is Python {mine}." in said  # asked, not trusted by name
    assert "Python/3.99.1/x64/bin/python: exit 1 (Fatal Python error: init_fs_encoding)" in said
    assert "3.99.0/bin/python: could not be started (Permission denied)" in said
    assert "shims/python3.99: exit 127 (pyenv: version `3.99' is not installed)" in said
    assert "uv python find 3.99: exit 2" in said  # the engine's uv, downloads off
    # Every candidate that exists, in the order they were asked (not the absent arm64 dir).
    assert len(details) == 1 + 5


def test_a_working_candidate_is_found_through_the_seam(
    host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[list[str]] = []
    real = process.probe

    def probe(argv: list[str], **kwargs: object) -> process.Probed:
        asked.append([str(a) for a in argv])
        return real(argv, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(process, "probe", probe)
    mine = f"{sys.version_info.major}.{sys.version_info.minor}"
    found = interpreters.find(mine, host, {"PATH": host.path})
    assert found.minor == mine
    assert asked[0][0] == str(tmp_path / "bin" / "python3")  # PATH first, through process


def test_uv_discovery_runs_the_engines_uv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The installer's uv and the interpreter search's are one (process.uv); before #19 the
    search ran uv.find_uv_bin(), which prefers a uv beside the host's Python."""
    fake = script(tmp_path / "engine-uv", f"#!/bin/sh\necho {sys.executable}\n")
    monkeypatch.setattr(process, "uv", lambda: str(fake))
    empty = Host(path=str(tmp_path / "none"), tool_cache=None, pyenv_root=tmp_path / "none")
    mine = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert interpreters.find(mine, empty, {"PATH": ""}).minor == mine


def test_a_path_that_is_no_python_says_why(tmp_path: Path) -> None:
    broken = script(tmp_path / "python", BROKEN)
    refused = interpreters.probe([str(broken)], {})
    assert isinstance(refused, interpreters.Refused)
    assert refused.reason == "exit 1"
    assert "init_fs_encoding" in refused.output
    assert isinstance(interpreters.probe([str(tmp_path / "none")], {}), interpreters.Refused)
    printer = script(tmp_path / "printer", "#!/bin/sh\necho not json\n")
    assert str(interpreters.probe([str(printer)], {})).endswith(
        "its answer is not the probe's (not json)"
    )
