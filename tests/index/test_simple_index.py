"""simple_index.py: a PEP 503 page's anchors and the PEP 503 name, one home for the bootstrap's
wheel fetch (fetch_wheels.py), the engine's release lookup (versions.py) and the plugin table
(plugins.py)."""

from __future__ import annotations

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from setup_poetry_parallel.index import simple_index
from setup_poetry_parallel.index.simple_index import Anchor, anchors, canonical
from setup_poetry_parallel.index.versions import Release, releases_from_html
from setup_poetry_parallel.poetry_venv import plugins

PAGE = """<!DOCTYPE html><html><body>
<a href="/p/poetry-2.5.0.tar.gz#sha256=aa" data-yanked="broken">poetry-2.5.0.tar.gz</a><br/>
<a href="/p/poetry-2.5.1-py3-none-any.whl#sha256=bb" data-requires-python="&gt;=3.10">
  poetry-2.5.1-py3-none-any.whl</a>
<a href="/p/other">  </a>
<a>no-href-1.0.tar.gz</a>
</body></html>"""


def test_each_anchor_with_text_gives_its_href_file_name_and_yanked() -> None:
    assert anchors(PAGE) == [
        Anchor("/p/poetry-2.5.0.tar.gz#sha256=aa", "poetry-2.5.0.tar.gz", yanked=True),
        Anchor(
            "/p/poetry-2.5.1-py3-none-any.whl#sha256=bb",
            "poetry-2.5.1-py3-none-any.whl",
            yanked=False,
        ),
        Anchor("", "no-href-1.0.tar.gz", yanked=False),
    ]


def test_the_release_lookup_reads_html_pages_through_it() -> None:
    assert releases_from_html(PAGE) == [
        Release(Version("2.5.0"), yanked=True),
        Release(Version("2.5.1"), yanked=False),
    ]


@pytest.mark.parametrize(
    "name", ["Poetry", "poetry_plugin.Export", "a-_.b", "A__B--c", "zope.interface", "x"]
)
def test_names_are_normalised_as_packaging_does(name: str) -> None:
    assert canonical(name) == canonicalize_name(name)


def test_the_plugin_table_uses_the_same_rule() -> None:
    assert plugins.canonical is simple_index.canonical
