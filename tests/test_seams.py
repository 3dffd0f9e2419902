"""Fast tests at the seams: the exact argv the engine hands uv, pip and Poetry (the subprocess
seam faked), the installer-error classifier on real captured outputs of uv and pip (the PEP 503 page
parser: test_simple_index.py). Nothing here starts a program or reaches the network."""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from setup_poetry_parallel import process
from setup_poetry_parallel.errors import InputError, SetupError
from setup_poetry_parallel.index import release_files
from setup_poetry_parallel.interpreters import Interpreter
from setup_poetry_parallel.jobs import job
from setup_poetry_parallel.paths import VenvPaths, job_paths
from setup_poetry_parallel.poetry_venv import poetry_deps
from setup_poetry_parallel.poetry_venv.installer import Installer
from setup_poetry_parallel.poetry_venv.installer_errors import installer_error
from setup_poetry_parallel.poetry_venv.key import InstallSpec
from setup_poetry_parallel.settings import read_index

OUTPUTS = Path(__file__).parent / "fixtures" / "installer_output"
VENV = VenvPaths(PurePosixPath("/install/key/builds/b1"), windows=False)
UV = "/bin/uv"


def spec(
    installer_name: str = "uv", requirements: tuple[str, ...] = (), dependencies: str = "latest"
) -> InstallSpec:
    return InstallSpec(
        poetry_version="2.5.1",
        requirements=requirements,
        python="/usr/bin/python3.11",
        python_version="3.11.7",
        installer=installer_name,
        platform="linux-x86_64",
        plugin_wheel="1.0.0+abc",
        dependencies=dependencies,
    )


@dataclass
class Call:
    argv: list[str]
    env: dict[str, str]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    seen: list[Call] = []

    def fake_run(
        argv: Sequence[object], *, env: Mapping[str, str] | None = None, **_: object
    ) -> str:
        seen.append(Call([str(a) for a in argv], dict(env or {})))
        return '{"poetry": "2.5.1", "entry_points": [], "files": [], "sys_version": "3.11.7"}'

    monkeypatch.setattr(process, "run", fake_run)
    monkeypatch.setattr(process, "uv", lambda: UV)
    return seen


PDV = "poetry-dynamic-versioning[plugin] (>=1.0.0,<2.0.0)"
ARGV_TABLE = [
    (
        "uv",
        (),
        [
            [UV, "venv", "--quiet", "--no-project", "--python", "/usr/bin/python3.11", str(VENV.root)],
            [UV, "pip", "install", "--python", str(VENV.python), "poetry==2.5.1", "/w/plugin.whl"],
        ],
    ),
    (
        "uv",
        (PDV,),
        [
            [UV, "venv", "--quiet", "--no-project", "--python", "/usr/bin/python3.11", str(VENV.root)],
            [UV, "pip", "install", "--python", str(VENV.python), "poetry==2.5.1", PDV, "/w/plugin.whl"],
        ],
    ),
    (
        "pip",
        (PDV, "poetry-plugin-export>=1.8"),
        [
            ["/usr/bin/python3.11", "-m", "venv", str(VENV.root)],
            [str(VENV.python), "-m", "pip", "install", "--disable-pip-version-check", "poetry==2.5.1", PDV, "poetry-plugin-export>=1.8", "/w/plugin.whl"],
        ],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("installer_name", "requirements", "expected"), ARGV_TABLE)
def test_installer_argv(
    installer_name: str,
    requirements: tuple[str, ...],
    expected: list[list[str]],
    calls: list[Call],
) -> None:
    chosen = spec(installer_name, requirements)
    tool = Installer(chosen, read_index({}), {"PATH": "/bin"})
    tool.create_venv(VENV)
    tool.install(VENV, [*chosen.pinned, "/w/plugin.whl"])
    tool.verify(VENV)
    assert [c.argv for c in calls[:2]] == expected
    assert calls[2].argv[:2] == [str(VENV.python), "-c"]  # loads every plugin entry point


FIRST_INDEX = {"UV_INDEX_STRATEGY": "first-index"}
PYPI_FOR_PIP = {"PIP_INDEX_URL": "https://pypi.org/simple"}


@pytest.mark.parametrize(
    ("environ", "uv_adds", "pip_adds"),
    [
        (
            {},
            {"UV_DEFAULT_INDEX": "pypi=https://pypi.org/simple", **FIRST_INDEX},
            {**PYPI_FOR_PIP, "PIP_TIMEOUT": "30", "PIP_RETRIES": "3"},
        ),
        (
            {"PIP_INDEX_URL": "http://mirror/simple/"},
            # uv does not read pip's variable: it gets the same index as its own
            {"UV_DEFAULT_INDEX": "pip_index_url=http://mirror/simple", **FIRST_INDEX},
            {"PIP_INDEX_URL": "http://mirror/simple", "PIP_TIMEOUT": "30", "PIP_RETRIES": "3"},
        ),
        (
            {
                "UV_DEFAULT_INDEX": "http://u:s3cret@uv/simple",
                "UV_HTTP_TIMEOUT": "5",
                "UV_HTTP_RETRIES": "1",
            },
            # the credentials in uv's own variable, never in a URL it prints
            {
                "UV_DEFAULT_INDEX": "uv_default_index=http://uv/simple",
                "UV_INDEX_UV_DEFAULT_INDEX_USERNAME": "u",
                "UV_INDEX_UV_DEFAULT_INDEX_PASSWORD": "s3cret",
                **FIRST_INDEX,
            },
            {"PIP_INDEX_URL": "http://u:s3cret@uv/simple", "PIP_TIMEOUT": "5", "PIP_RETRIES": "1"},
        ),
        (
            {"PIP_TIMEOUT": "9"},
            {"UV_DEFAULT_INDEX": "pypi=https://pypi.org/simple", **FIRST_INDEX},
            {**PYPI_FOR_PIP, "PIP_TIMEOUT": "9", "PIP_RETRIES": "3"},
        ),
    ],
)
def test_installers_read_one_index_and_one_timeout(
    environ: dict[str, str], uv_adds: dict[str, str], pip_adds: dict[str, str], calls: list[Call]
) -> None:
    for name, adds in (("uv", uv_adds), ("pip", pip_adds)):
        calls.clear()
        Installer(spec(name), read_index(environ), {"PATH": "/bin"}).create_venv(VENV)
        assert calls[0].env == {"PATH": "/bin", **adds}, name


def test_poetry_env_use_argv(calls: list[Call], tmp_path: Path) -> None:
    paths = job_paths(tmp_path / "state", "j", windows=False)
    python = Interpreter(Path("/opt/py312/bin/python3.12"), "3.12.4")
    job._use_python(paths, python, {"PATH": "/bin"}, tmp_path)
    assert calls[-1].argv == [
        str(paths.poetry_shim), "env", "use", "--no-interaction", "/opt/py312/bin/python3.12"
    ]  # fmt: skip


def test_uv_never_compiles_the_whole_venv(calls: list[Call]) -> None:
    """Not even for jobs that cannot write bytecode: what Poetry imports is compiled beside the
    check instead (tests/poetry_venv/test_bytecode.py)."""
    chosen = spec("uv", ())
    for value in ("1", ""):
        Installer(chosen, read_index({}), {"PYTHONDONTWRITEBYTECODE": value}).install(
            VENV, ["poetry==2.5.1"]
        )
    assert ["--compile-bytecode" in c.argv for c in calls] == [False, False]


def test_python_version_starts_no_poetry_unless_the_path_cannot_decide(
    calls: list[Call], tmp_path: Path
) -> None:
    """No `python` on the job's PATH: a link to the requested one, no Poetry started; on
    Windows (no links) `poetry env use`. project_env.py decides; these are the acts."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\n')
    python = Interpreter(Path("/opt/py312/bin/python3.12"), "3.12.4")
    for windows in (False, True):
        paths = job_paths(tmp_path / "state", "j", windows=windows)
        Path(paths.pythons).mkdir(parents=True, exist_ok=True)
        job._give_python(
            paths,
            python,
            {"PATH": str(tmp_path / "empty")},
            project=tmp_path,
            env_choice={},
            state_dir=tmp_path / "state",
        )
    assert (tmp_path / "state" / "j" / "pythons" / "python").readlink() == python.path
    assert [c.argv[1:3] for c in calls] == [["env", "use"]]  # Windows only


# --- Poetry's dependencies held to the locked table, or to the release's date --------------

LOCKED = poetry_deps.choose("locked", "2.5.1")
LOCK = str(poetry_deps.LOCKS / "poetry-2.5.1.txt")


def test_locked_uv_checks_the_table_hashes_in_the_one_resolution(
    calls: list[Call], tmp_path: Path
) -> None:
    venv = VenvPaths(tmp_path / "b1", windows=False)
    chosen = spec("uv", (PDV,), LOCKED)
    Installer(chosen, read_index({}), {}).install(venv, [*chosen.pinned, "/w/plugin.whl"])
    assert [c.argv for c in calls] == [
        [UV, "pip", "install", "--verify-hashes", "--constraint", LOCK,
         "--python", str(venv.python), "poetry==2.5.1", PDV, "/w/plugin.whl"],
    ]  # fmt: skip


def test_locked_pip_installs_the_table_with_hashes_then_the_plugins_within_its_pins(
    calls: list[Call], tmp_path: Path
) -> None:
    venv = VenvPaths(tmp_path / "b1", windows=False)
    (tmp_path / "b1").mkdir()
    chosen = spec("pip", (PDV,), LOCKED)
    Installer(chosen, read_index({}), {}).install(venv, [*chosen.pinned, "/w/plugin.whl"])
    pins = tmp_path / "b1" / "spp-poetry-pins.txt"
    pip = [str(venv.python), "-m", "pip", "install", "--disable-pip-version-check"]
    hashed = tmp_path / "b1" / "spp-poetry-lock.txt"
    assert [c.argv for c in calls] == [
        [*pip, "--require-hashes", "-r", str(hashed)],
        [*pip, "--constraint", str(pins), "poetry==2.5.1", PDV, "/w/plugin.whl"],
    ]
    assert pins.read_text() == poetry_deps.pins(Path(LOCK).read_text())
    lock = Path(LOCK).read_text()
    assert hashed.read_text().startswith("poetry==2.5.1 \\\n    --hash=sha256:")
    assert sorted(poetry_deps.pins(hashed.read_text()).splitlines()) == sorted(
        poetry_deps.pins(lock).splitlines()
    )
    assert hashed.read_text().count("--hash=") == lock.count("--hash=")


def test_release_missing_from_the_table_is_pinned_as_of_its_upload(
    calls: list[Call], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uploaded = datetime.datetime(2026, 8, 29, 19, 18, 37, 398274, tzinfo=datetime.UTC)
    monkeypatch.setattr(
        release_files, "read", lambda *_: release_files.ReleaseFiles(uploaded, ">=3.10")
    )
    venv = VenvPaths(tmp_path / "b1", windows=False)
    (tmp_path / "b1").mkdir()
    chosen = dataclasses.replace(spec("uv", (PDV,), "release-date"), poetry_version="2.4.2")
    Installer(chosen, read_index({}), {}).install(venv, [*chosen.pinned, "/w/plugin.whl"])
    request, pins = tmp_path / "b1" / "spp-poetry.in", tmp_path / "b1" / "spp-poetry-pins.txt"
    assert [c.argv for c in calls] == [
        [UV, "pip", "compile", "--quiet", "--no-header", "--no-annotate", "--python",
         str(venv.python), "--exclude-newer", "2026-08-29T19:19:37Z", str(request), "-o", str(pins)],
        [UV, "pip", "install", "--constraint", str(pins), "--python",
         str(venv.python), "poetry==2.4.2", PDV, "/w/plugin.whl"],
    ]  # fmt: skip
    assert request.read_text() == "poetry==2.4.2\n"


def test_release_date_with_pip_resolves_with_uv_on_the_same_index(
    calls: list[Call], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uploaded = datetime.datetime(2026, 8, 29, 19, 18, 39, tzinfo=datetime.UTC)
    monkeypatch.setattr(
        release_files, "read", lambda *_: release_files.ReleaseFiles(uploaded, ">=3.10")
    )
    venv = VenvPaths(tmp_path / "b1", windows=False)
    (tmp_path / "b1").mkdir()
    chosen = spec("pip", (), "release-date")
    index = read_index({"PIP_INDEX_URL": "http://mirror/simple"})
    Installer(chosen, index, {}).install(venv, list(chosen.pinned))
    compile_call, install_call = calls
    assert compile_call.argv[:3] == [UV, "pip", "compile"]
    # uv ignores pip's variable: it gets the same index under its own
    assert compile_call.env["UV_DEFAULT_INDEX"] == "pip_index_url=http://mirror/simple"
    pins = str(tmp_path / "b1" / "spp-poetry-pins.txt")
    assert install_call.argv == [
        str(venv.python), "-m", "pip", "install", "--disable-pip-version-check",
        "--constraint", pins, "poetry==2.5.1",
    ]  # fmt: skip


def test_a_locked_spec_without_its_table_file_is_an_error_not_an_unlocked_install(
    calls: list[Call], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poetry_deps, "LOCKS", tmp_path / "empty")
    chosen = spec("uv", (), LOCKED)
    with pytest.raises(SetupError, match=r"^the locked table for Poetry 2\.5\.1 is gone from"):
        Installer(chosen, read_index({}), {}).install(VENV, list(chosen.pinned))
    assert calls == []


def test_release_without_an_upload_time_falls_back_to_the_newest(
    calls: list[Call], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(release_files, "read", lambda *_: release_files.ReleaseFiles(None, None))
    venv = VenvPaths(tmp_path / "b1", windows=False)
    chosen = spec("uv", (), "release-date")
    Installer(chosen, read_index({}), {}).install(venv, list(chosen.pinned))
    assert calls[-1].argv == [
        UV, "pip", "install", "--python", str(venv.python), "poetry==2.5.1"
    ]  # fmt: skip


def test_pins_are_the_table_without_hashes() -> None:
    lock = Path(LOCK).read_text()
    pins = poetry_deps.pins(lock).splitlines()
    assert len(pins) == len(re.findall(r"^\S+==", lock, re.MULTILINE)) == 65
    assert "poetry==2.5.1" in pins
    assert "colorama==0.4.6 ; os_name == 'nt'" in pins  # markers kept: pip evaluates them
    assert not [p for p in pins if "hash" in p or p.startswith("#")]


def classified(output: str, chosen: InstallSpec) -> tuple[str, SetupError]:
    """A captured installer output, as the installer's failure, through the classifier."""
    text = (OUTPUTS / output).read_text()
    raw = SetupError("installing Poetry and plugins failed (exit 1): uv pip install", details=text)
    return text, installer_error(raw, chosen, VENV, "https://pypi.org/simple")


LOCK_CLASSIFIED = [
    ("uv-hash-mismatch.txt", "uv", (), SetupError, r"^crashtest 0\.4\.1 from the index \S+ does not match the sha256 locked for Poetry 2\.5\.1 \(poetry-2\.5\.1\.txt\)", None),
    ("pip-hash-mismatch.txt", "pip", (), SetupError, r"^crashtest 0\.4\.1 from the index \S+ does not match the sha256 locked for Poetry 2\.5\.1", None),
    # uv's real output for a pin the index lacks (captured with the table's idna pin moved to a
    # version no index has, then written back as 3.20: what a mirror without idna 3.20 gives)
    ("uv-locked-file-missing.txt", "uv", (), SetupError, r"^the index \S+ has no file of idna 3\.20, which the locked table for Poetry 2\.5\.1 names \(poetry-2\.5\.1\.txt\).*sync the mirror", None),
    ("uv-locked-conflict.txt", "uv", ("dulwich<1",), InputError, r"^no release satisfies 'dulwich<1' together with poetry==2\.5\.1 and its locked dependencies \(poetry-2\.5\.1\.txt\) .*because you require dulwich<1 and dulwich==1\.2\.21.*or set poetry-dependencies: latest$", "dulwich<1"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("output", "installer_name", "requirements", "kind", "says", "plugin"),
    LOCK_CLASSIFIED,
    ids=[c[0] for c in LOCK_CLASSIFIED],
)
def test_locked_install_failures_classified(
    output: str,
    installer_name: str,
    requirements: tuple[str, ...],
    kind: type[SetupError],
    says: str,
    plugin: str | None,
) -> None:
    _, found = classified(output, spec(installer_name, requirements, LOCKED))
    assert type(found) is kind
    assert re.search(says, found.message, re.IGNORECASE), found.message
    assert "\n" not in found.message
    assert found.plugin == plugin
    assert found.exit_code == (2 if kind is InputError else 1)


# --- the classifier on what uv and pip really print ---------------------------------------

MISSING = "spp-no-such-plugin-3f9c"
CLASSIFIED = [
    ("uv-python-too-old.txt", "uv", (), InputError, r"^poetry-python 3\.11\.7 .* too old for poetry==2\.5\.1 \(it needs Python >=3\.10\)", None),
    ("pip-python-too-old.txt", "pip", (), InputError, r"^poetry-python 3\.11\.7 .* too old for poetry==2\.5\.1", None),
    ("uv-plugin-missing.txt", "uv", (MISSING,), InputError, rf"^plugin '{MISSING}' is not on the index", MISSING),
    ("pip-plugin-missing.txt", "pip", (MISSING,), InputError, rf"^plugin '{MISSING}' is not on the index", MISSING),
    ("uv-no-solution.txt", "uv", ("poetry-dynamic-versioning>=99",), InputError, r"^no release satisfies 'poetry-dynamic-versioning>=99' together with poetry==2\.5\.1", "poetry-dynamic-versioning>=99"),
    ("uv-refused.txt", "uv", (), SetupError, r"^could not download poetry from the index .* \(Connection refused \(os error 111\)\)", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("output", "installer_name", "requirements", "kind", "says", "plugin"),
    CLASSIFIED,
    ids=[c[0] for c in CLASSIFIED],
)
def test_installer_output_classified(
    output: str,
    installer_name: str,
    requirements: tuple[str, ...],
    kind: type[SetupError],
    says: str,
    plugin: str | None,
) -> None:
    text, found = classified(output, spec(installer_name, requirements))
    assert type(found) is kind
    assert re.search(says, found.message), found.message
    assert found.plugin == plugin
    assert found.details == text
    assert "\n" not in found.message
    if kind is InputError:
        assert found.exit_code == 2


def test_unknown_output_is_passed_through() -> None:
    raw = SetupError("uv failed", details="something nobody has seen")
    assert installer_error(raw, spec(), VENV, "https://pypi.org/simple") is raw


def test_a_plugin_that_names_its_source_is_pinned_to_it_by_an_explicit_index(
    calls: list[Call], tmp_path: Path
) -> None:
    """`uv pip install -r pyproject.toml` honours `tool.uv.sources`: the plugin comes from its
    source alone, the other requirements from the search order; no credential in the file."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "pyproject.toml").write_text(
        '[[tool.poetry.source]]\nname = "In-House"\nurl = "https://repo.example/simple"\n'
        'priority = "explicit"\n',
        encoding="utf-8",
    )
    index = read_index({"POETRY_HTTP_BASIC_IN_HOUSE_PASSWORD": "s3cret-tok"}, tmp_path / "p")
    acme = "acme-poetry-plugin>=1"
    chosen = dataclasses.replace(spec("uv", (acme, PDV)), sourced=((acme, "in-house"),))
    venv = VenvPaths(tmp_path / "b1", windows=False)
    (tmp_path / "b1").mkdir()
    Installer(chosen, index, {"UV_EXTRA_INDEX_URL": "https://elsewhere/simple"}).install(
        venv, list(chosen.pinned)
    )
    project = tmp_path / "b1" / "spp-sources" / "pyproject.toml"
    assert calls[0].argv == [
        UV, "pip", "install", "--python", str(venv.python), "-r", str(project), "poetry==2.5.1", PDV,
    ]  # fmt: skip
    text = project.read_text(encoding="utf-8")
    assert '"acme-poetry-plugin" = { index = "in-house" }' in text
    assert 'url = "https://repo.example/simple"\nexplicit = true' in text
    assert "s3cret-tok" not in text
    assert calls[0].env["UV_INDEX_IN_HOUSE_PASSWORD"] == "s3cret-tok"
    assert "UV_EXTRA_INDEX_URL" not in calls[0].env  # the job's extra index is not searched first


def test_where_primary_sources_replace_pypi_the_setup_index_serves_only_poetry_by_name(
    calls: list[Call], tmp_path: Path
) -> None:
    """Poetry and every pin of its locked table come from the setup's index alone; the plugins
    and everything else from the project's sources, never from that index."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "pyproject.toml").write_text(
        '[[tool.poetry.source]]\nname = "internal"\nurl = "https://repo.example/simple"\n',
        encoding="utf-8",
    )
    index = read_index({"UV_DEFAULT_INDEX": "https://mirror.example/simple"}, tmp_path / "p")
    chosen = spec("uv", (PDV,), LOCKED)
    venv = VenvPaths(tmp_path / "b1", windows=False)
    (tmp_path / "b1").mkdir()
    Installer(chosen, index, {}).install(venv, list(chosen.pinned))
    project = tmp_path / "b1" / "spp-sources" / "pyproject.toml"
    assert calls[0].argv[-3:] == ["-r", str(project), PDV]  # poetry==2.5.1 only through the file
    text = project.read_text(encoding="utf-8")
    assert '"poetry==2.5.1",' in text
    assert '"poetry" = { index = "uv_default_index" }' in text
    assert '"dulwich" = { index = "uv_default_index" }' in text  # a locked dependency
    assert "poetry-dynamic-versioning" not in text
    assert calls[0].env["UV_DEFAULT_INDEX"] == "internal=https://repo.example/simple"
