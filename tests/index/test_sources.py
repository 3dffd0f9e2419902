"""The project's sources in Poetry's order, their credentials, and what uv is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from setup_poetry_parallel.errors import InputError
from setup_poetry_parallel.index import sources
from setup_poetry_parallel.redaction import SafeUrl
from setup_poetry_parallel.settings import read_index, uv_indexes

INTERNAL = {"name": "internal", "url": "https://repo.example/simple/"}


def names(found: tuple[sources.Source, ...]) -> list[str]:
    return [f"{s.name}:{s.priority}" for s in found]


def order(table: list[dict[str, str]], environ: dict[str, str] | None = None) -> list[str]:
    project = sources.parse(table, environ or {})
    setup = sources.Source("pypi", SafeUrl("https://pypi.org/simple"), "primary")
    return names(sources.search_order(project, setup))


def test_without_sources_pypi_alone() -> None:
    assert order([]) == ["pypi:primary"]


def test_a_primary_source_switches_pypi_off() -> None:
    """Poetry never asks PyPI then, and the search order never has the setup's index."""
    supplemental = {"name": "extra", "url": "https://x/simple", "priority": "supplemental"}
    assert order([INTERNAL, supplemental]) == ["internal:primary", "extra:supplemental"]


def test_supplemental_alone_comes_after_pypi() -> None:
    assert order([{**INTERNAL, "priority": "supplemental"}]) == [
        "pypi:primary",
        "internal:supplemental",
    ]


def test_pypi_declared_stands_where_the_project_puts_it() -> None:
    table = [INTERNAL, {"name": "PyPI", "priority": "supplemental"}]
    assert order(table) == ["internal:primary", "pypi:supplemental"]


def test_explicit_sources_are_never_searched() -> None:
    assert order([{**INTERNAL, "priority": "explicit"}]) == ["pypi:primary"]


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"url": "https://x"}, "needs a name"),
        ({"name": "a"}, "needs an http"),
        ({"name": "a", "url": "https://x", "priority": "default"}, "not one of Poetry 2's"),
        ({"name": "a", "url": "https://x", "priority": "secondary"}, "not one of Poetry 2's"),
    ],
)
def test_what_poetry_refuses_is_refused(entry: dict[str, str], says: str) -> None:
    with pytest.raises(sources.SourceError, match=says):
        sources.parse([entry], {})


def test_poetry_variables_give_the_credentials() -> None:
    environ = {
        "POETRY_HTTP_BASIC_MY_REPO_USERNAME": "ci",
        "POETRY_HTTP_BASIC_MY_REPO_PASSWORD": "p@ss/word",
    }
    (source,) = sources.parse([{"name": "my-repo", "url": "https://repo.example/simple"}], environ)
    assert source.url.credentials == ("ci", "p@ss/word")
    assert str(source.url) == "https://***@repo.example/simple"
    assert source.credentials_from == "POETRY_HTTP_BASIC_MY_REPO_*"
    assert "POETRY_HTTP_BASIC_MY_REPO_USERNAME" in source.variables


def test_netrc_gives_the_credentials_for_its_host(tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine repo.example login bot password t0ken\n", encoding="utf-8")
    netrc.chmod(0o600)
    (source,) = sources.parse([INTERNAL], {"NETRC": str(netrc)})
    assert source.url.credentials == ("bot", "t0ken")
    (other,) = sources.parse(
        [{"name": "o", "url": "https://other.example/simple"}], {"NETRC": str(netrc)}
    )
    assert other.url.credentials is None  # never sent to another host


def test_uv_gets_urls_without_credentials_and_credentials_by_index_name() -> None:
    environ = {
        "POETRY_HTTP_BASIC_INTERNAL_USERNAME": "ci",
        "POETRY_HTTP_BASIC_INTERNAL_PASSWORD": "s3cret",
    }
    supplemental = {**INTERNAL, "priority": "supplemental"}
    project = sources.parse([supplemental], environ)
    setup = sources.Source("pypi", SafeUrl("https://pypi.org/simple"), "primary")
    env = uv_indexes(sources.search_order(project, setup), project)
    assert env == {
        "UV_INDEX_STRATEGY": "first-index",
        "UV_INDEX": "pypi=https://pypi.org/simple",
        "UV_DEFAULT_INDEX": "internal=https://repo.example/simple",
        "UV_INDEX_INTERNAL_USERNAME": "ci",
        "UV_INDEX_INTERNAL_PASSWORD": "s3cret",
    }


def write_project(root: Path, toml: str) -> Path:
    root.mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text(toml, encoding="utf-8")
    return root


PRIMARY_PROJECT = """
[tool.poetry]
name = "p"
[[tool.poetry.source]]
name = "internal"
url = "https://repo.example/simple"
priority = "primary"
"""


def test_without_an_index_variable_the_primary_source_is_the_setup_index(tmp_path: Path) -> None:
    """An air-gapped CI reaches only its internal index; PyPI is never asked."""
    project = write_project(tmp_path / "p", PRIMARY_PROJECT)
    index = read_index({"POETRY_HTTP_BASIC_INTERNAL_PASSWORD": "tok"}, project)
    assert index.url.public == "https://repo.example/simple"
    assert index.url.credentials == ("", "tok")
    assert [s.name for s in index.search] == ["internal"]
    assert "pypi.org" not in str(index.uv_env)


def test_an_index_variable_serves_only_poetry_where_primary_sources_replace_pypi(
    tmp_path: Path,
) -> None:
    """The user's index is not searched for plugins (Poetry would not ask PyPI): it serves
    Poetry and its locked table, pinned by name (installer.py), with its credentials."""
    project = write_project(tmp_path / "p", PRIMARY_PROJECT)
    index = read_index({"UV_DEFAULT_INDEX": "https://bot:t0ken@mirror.example/simple"}, project)
    assert index.url.public == "https://mirror.example/simple"
    assert [s.name for s in index.search] == ["internal"]
    assert index.pins_poetry
    assert index.uv_env["UV_DEFAULT_INDEX"] == "internal=https://repo.example/simple"
    assert index.uv_env["UV_INDEX_UV_DEFAULT_INDEX_PASSWORD"] == "t0ken"
    assert "UV_INDEX" not in index.uv_env


def test_a_bad_source_is_an_input_error(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", '[[tool.poetry.source]]\nname = "x"\n')
    with pytest.raises(InputError, match="needs an http"):
        read_index({}, project)


def test_pip_is_refused_where_it_would_merge_indexes(tmp_path: Path) -> None:
    from setup_poetry_parallel.cli import parser, raw_inputs
    from setup_poetry_parallel.settings import validate

    project = write_project(tmp_path / "p", PRIMARY_PROJECT)
    raw = raw_inputs(
        parser().parse_args(["--working-directory", str(project), "--installer", "pip"]), {}
    )
    with pytest.raises(InputError, match="installer pip cannot keep the project's sources apart"):
        validate(raw, {"UV_DEFAULT_INDEX": "https://mirror.example/simple"})
    validate(raw, {})  # one index: pip is fine


def plan_for(project: Path, environ: dict[str, str], *flags: str) -> object:
    from setup_poetry_parallel.cli import parser, raw_inputs
    from setup_poetry_parallel.poetry_venv import plan
    from setup_poetry_parallel.settings import validate

    argv = ["--working-directory", str(project), "--poetry-version", "2.5.1", *flags]
    argv += ["--install-dir", str(project.parent / "install")]
    return plan.make(validate(raw_inputs(parser().parse_args(argv), {}), environ))


PLUGIN_FROM_SOURCE = """
[tool.poetry]
name = "p"
[tool.poetry.requires-plugins]
acme-poetry-plugin = { version = ">=1", source = "internal" }
[[tool.poetry.source]]
name = "internal"
url = "https://repo.example/simple"
priority = "explicit"
"""


def test_the_key_names_where_plugins_come_from_never_the_credentials(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", PLUGIN_FROM_SOURCE)
    first = plan_for(project, {"POETRY_HTTP_BASIC_INTERNAL_PASSWORD": "one-s3cret"})
    again = plan_for(project, {"POETRY_HTTP_BASIC_INTERNAL_PASSWORD": "two-s3cret"})
    assert first.spec.sourced == (("acme-poetry-plugin (>=1)", "internal"),)  # type: ignore[attr-defined]
    assert first.key == again.key  # type: ignore[attr-defined]
    assert "s3cret" not in repr(first.spec.indexes)  # type: ignore[attr-defined]
    elsewhere = PLUGIN_FROM_SOURCE.replace("repo.example", "other.example")
    moved = plan_for(write_project(tmp_path / "q", elsewhere), {})
    assert moved.key != first.key  # type: ignore[attr-defined]


def test_a_source_the_project_does_not_declare_is_refused(tmp_path: Path) -> None:
    text = PLUGIN_FROM_SOURCE.replace('source = "internal"', 'source = "nowhere"')
    with pytest.raises(InputError, match="names the source 'nowhere', which no"):
        plan_for(write_project(tmp_path / "p", text), {})


def test_pip_cannot_pin_a_plugin_to_its_source(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="installer pip cannot take acme-poetry-plugin"):
        plan_for(write_project(tmp_path / "p", PLUGIN_FROM_SOURCE), {}, "--installer", "pip")


def test_a_source_at_pypis_url_is_pypi_and_the_setup_index_stands_there() -> None:
    """A project may name PyPI's simple API as a primary source (where Poetry's implicit JSON
    source is out of reach): the user's mirror of PyPI serves it, as it serves PyPI."""
    pypi = {"name": "simple", "url": "https://pypi.org/simple/", "priority": "primary"}
    assert order([pypi]) == ["pypi:primary"]
    assert order([INTERNAL, pypi]) == ["internal:primary", "pypi:primary"]
