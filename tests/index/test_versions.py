"""Which Poetry release a spec names, from an index's simple-API page (no network here)."""

from __future__ import annotations

import pytest
from packaging.version import Version

from setup_poetry_parallel.errors import InputError
from setup_poetry_parallel.index.versions import Release, choose, releases_from_json
from setup_poetry_parallel.settings import read_index

PAGE = {
    "files": [
        {"filename": "poetry-2.4.0-py3-none-any.whl", "yanked": False},
        {"filename": "poetry-2.4.1.tar.gz", "yanked": "broken"},
        {"filename": "poetry-2.4.1-py3-none-any.whl", "yanked": True},
        {"filename": "poetry-2.5.0-py3-none-any.whl"},
        {"filename": "poetry-2.5.1-py3-none-any.whl"},
        {"filename": "poetry-2.5.1.tar.gz"},
        {"filename": "poetry-2.6.0b1-py3-none-any.whl"},
        {"filename": "poetry_core-9.0.0-py3-none-any.whl"},
        {"filename": "not-a-dist.zip"},
    ]
}
RELEASES = releases_from_json(PAGE)


def test_page_is_grouped_by_version() -> None:
    assert [str(r.version) for r in RELEASES] == ["2.4.0", "2.4.1", "2.5.0", "2.5.1", "2.6.0b1"]
    assert Release(Version("2.4.1"), yanked=True) in RELEASES


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("2.5.1", "2.5.1"), ("2.5", "2.5.1"), ("2.4", "2.4.0"), ("latest", "2.5.1")],
)
def test_choose(spec: str, expected: str) -> None:
    assert choose(spec, RELEASES) == expected


@pytest.mark.parametrize(
    ("spec", "says"),
    [("2.4.1", "yanked"), ("2.9.9", "does not exist"), ("3.0", "matches no release")],
)
def test_choose_refuses(spec: str, says: str) -> None:
    with pytest.raises(InputError, match=says):
        choose(spec, RELEASES)


def test_index_follows_uv_then_pip() -> None:
    assert read_index({}).url.secret == "https://pypi.org/simple"
    assert read_index({"PIP_INDEX_URL": "http://pip/simple/"}).url.secret == "http://pip/simple"
    assert (
        read_index({"PIP_INDEX_URL": "http://pip", "UV_INDEX_URL": "http://uv"}).url.secret
        == "http://uv"
    )
