"""A table of bad inputs. Each: the right exit code, one `error:` line that names the input,
`::error` with file and line on a runner when a file is at fault, no traceback, and nothing
written to GITHUB_ENV, GITHUB_PATH or GITHUB_OUTPUT (real temporary runner files).

Cases that only the index can judge (a release that does not exist or was yanked, a plugin
the index does not have, a constraint no release satisfies) run the real cold path against a
local index that proxies the real one (tests/fault_index.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from setup_poetry_parallel import cli
from setup_poetry_parallel.outputs import runner_files
from tests.fault_index import Fault, serve
from tests.projects import make_project

RUNNER_FILES = runner_files.NAMES
MISSING_PLUGIN = "spp-no-such-plugin-3f9c"
BROKEN_TOML = '[project]\nname = "sample"\nversion = = "0.1.0"\n'


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...] = ()
    plugins: str | None = None  # the project's requires-plugins body; None: no table
    pyproject: str | None = None  # replaces the whole pyproject.toml
    code: int = 2
    says: str = ""  # regex the error line must match
    at: str | None = None  # text on the pyproject.toml line the annotation must name
    index: str = ""  # "proxy" or "yank": run against that local index
    env: dict[str, str] = field(default_factory=dict)


CASES = [
    Case("poetry-version empty", ("--poetry-version", ""), says=r"poetry-version is required"),
    Case(
        "poetry-version malformed", ("--poetry-version", "2.5.x"), says=r"poetry-version '2\.5\.x'"
    ),
    Case("poetry-version words", ("--poetry-version", "newest"), says=r"poetry-version 'newest'"),
    Case(
        "poetry-version does not exist",
        ("--poetry-version", "2.5.99"),
        says=r"poetry-version 2\.5\.99 does not exist",
        index="proxy",
    ),
    Case(
        "poetry-version X.Y with no release",
        ("--poetry-version", "9.9"),
        says=r"poetry-version 9\.9 matches no release",
        index="proxy",
    ),
    Case(
        "poetry-version yanked",
        ("--poetry-version", "2.5.0"),
        says=r"poetry-version 2\.5\.0 was yanked",
        index="yank",
    ),
    Case(
        "poetry 1.x with requires-plugins",
        ("--poetry-version", "1.8.5"),
        plugins='poetry-dynamic-versioning = ">=1.0.0"',
        says=r"poetry-version 1\.8\.5 ignores \[tool\.poetry\.requires-plugins\]",
        at="[tool.poetry.requires-plugins]",
    ),
    Case("installer unknown", ("--installer", "conda"), says=r"installer 'conda' is unknown"),
    Case("lock-timeout words", ("--lock-timeout", "soon"), says=r"lock-timeout 'soon'"),
    Case("lock-timeout negative", ("--lock-timeout", "-5"), says=r"lock-timeout '-5'"),
    Case("lock-timeout zero", ("--lock-timeout", "0"), says=r"lock-timeout '0'"),
    Case("lock-timeout nan", ("--lock-timeout", "nan"), says=r"lock-timeout 'nan'"),
    Case(
        "python-version malformed",
        ("--python-version", "python3"),
        says=r"python-version 'python3'",
    ),
    Case(
        "python-version unknown",
        ("--python-version", "3.99"),
        says=r"3\.99.*setup-python",
    ),
    Case(
        "working-directory missing",
        ("--working-directory", "/nonexistent/spp-project"),
        says=r"working-directory '/nonexistent/spp-project' does not exist",
    ),
    Case(
        "pyproject.toml unparseable",
        pyproject=BROKEN_TOML,
        says=r"pyproject\.toml:3 is not valid TOML",
        at="version = =",
    ),
    Case(
        "requires-plugins not a table",
        pyproject='[tool.poetry]\nrequires-plugins = ["poetry-plugin-export"]\n',
        says=r"requires-plugins\] must be a table",
        at="requires-plugins = [",
    ),
    Case(
        "requires-plugins constraint of the wrong type",
        plugins="poetry-plugin-export = 3",
        says=r"requires-plugins\] poetry-plugin-export: 3 is not a constraint",
        at="poetry-plugin-export = 3",
    ),
    Case(
        "requires-plugins constraint unparseable",
        plugins='poetry-plugin-export = ">=>1"',
        says=r"requires-plugins\] poetry-plugin-export",
        at="poetry-plugin-export =",
    ),
    Case(
        "plugins input not a requirement",
        ("--plugin", "not a requirement!"),
        says=r"plugins: 'not a requirement!' is not a requirement",
    ),
    Case(
        "project-plugins not a boolean",
        ("--project-plugins", "maybe"),
        says=r"project-plugins 'maybe' must be true or false",
    ),
    Case("job-id a path", ("--job-id", "../escape"), says=r"job-id '\.\./escape'"),
    Case(
        "state-dir with a line break",
        ("--state-dir", "/tmp/a\nINJECTED=1"),
        says=r"state-dir must be a single path",
    ),
    Case(
        "poetry-python not an interpreter",
        ("--poetry-python", "/nonexistent/python3"),
        says=r"poetry-python '/nonexistent/python3' is not a working Python",
    ),
    Case(
        "plugin the index does not have (plugins input)",
        ("--plugin", MISSING_PLUGIN),
        says=rf"plugin '{MISSING_PLUGIN}' is not on the index http://127\.0\.0\.1",
        index="proxy",
    ),
    Case(
        "plugin the index does not have (requires-plugins)",
        plugins=f'{MISSING_PLUGIN} = "*"',
        says=rf"plugin '{MISSING_PLUGIN}.*' is not on the index",
        at=MISSING_PLUGIN,
        index="proxy",
    ),
    Case(
        "plugin constraint no release satisfies",
        plugins='poetry-dynamic-versioning = ">=99"',
        says=r"no release satisfies 'poetry-dynamic-versioning \(>=99\)'",
        at="poetry-dynamic-versioning =",
        index="proxy",
    ),
]


@pytest.fixture(scope="module")
def indexes() -> Iterator[dict[str, str]]:
    proxy = Fault(kind="missing", project=MISSING_PLUGIN)
    yank = Fault(kind="yank", project="poetry", version="2.5.0")
    with serve(proxy) as proxy_url, serve(yank) as yank_url:
        yield {"proxy": proxy_url, "yank": yank_url}


def _args(case: Case, project: Path, tmp_path: Path) -> list[str]:
    defaults = {
        "--poetry-version": "2.5.1",
        "--working-directory": str(project),
        "--install-dir": str(tmp_path / "install"),
        "--state-dir": str(tmp_path / "state"),
        "--job-id": "bad-input",
    }
    given = dict(zip(case.args[::2], case.args[1::2], strict=True))
    repeated = {"--python-version", "--plugin"}
    argv = [a for k, v in {**defaults, **given}.items() if k not in repeated for a in (k, v)]
    argv += [a for k, v in given.items() if k in repeated for a in (k, v)]
    return argv


# Cases judged by the index run against a local proxy of the real one: they need the network.
PARAMS = [pytest.param(c, id=c.id, marks=[pytest.mark.network] if c.index else []) for c in CASES]


@pytest.mark.parametrize("case", PARAMS)
def test_bad_input(
    case: Case,
    tmp_path: Path,
    indexes: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = make_project(tmp_path / "project", plugins=case.plugins or "")
    pyproject = project / "pyproject.toml"
    if case.plugins is None:
        pyproject.write_text(pyproject.read_text().replace("[tool.poetry.requires-plugins]\n", ""))
    if case.pyproject is not None:
        pyproject.write_text(case.pyproject)
    files = {name: tmp_path / "runner" / name for name in RUNNER_FILES}
    files["GITHUB_ENV"].parent.mkdir()
    environ = {**os.environ, "GITHUB_ACTIONS": "true", **case.env}
    for name, path in files.items():
        path.write_bytes(b"")
        environ[name] = str(path)  # handed in only: nothing reads os.environ for them (#19)
    if case.index:
        environ["UV_DEFAULT_INDEX"] = indexes[case.index]
        environ["UV_HTTP_RETRIES"] = "1"

    code = cli.main(_args(case, project, tmp_path), environ)

    out, err = capsys.readouterr()
    assert code == case.code, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert re.search(case.says, errors[0]), errors[0]
    assert "Traceback" not in out + err
    annotations = [line for line in out.splitlines() if line.startswith("::error")]
    assert len(annotations) == 1, out
    if case.at is not None:
        assert f"file={pyproject}" in annotations[0], annotations[0]
        line = int(re.findall(r",line=(\d+)", annotations[0])[0])
        assert case.at in pyproject.read_text().splitlines()[line - 1], annotations[0]
    for name, path in files.items():
        assert path.read_bytes() == b"", f"{name} was written: {path.read_text()!r}"
    # Nothing half-built is left that a later setup could take for an install.
    assert not list((tmp_path / "install").glob("*/current.json"))
    assert not [p for p in (tmp_path / "install").glob("*/builds/*") if p.is_dir()]


def test_table_counts() -> None:
    """Every kind of bad input the issue lists is in the table."""
    kinds = " ".join(c.id for c in CASES)
    for kind in (
        "malformed",
        "does not exist",
        "yanked",
        "1.x",
        "installer",
        "lock-timeout words",
        "lock-timeout negative",
        "python-version unknown",
        "working-directory",
        "unparseable",
        "wrong type",
        "does not have",
        "no release satisfies",
    ):
        assert kind in kinds, kind
    print(f"bad inputs tried: {len(CASES)}")
