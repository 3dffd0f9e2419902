"""Two installs share a directory only when nothing that matters differs."""

from __future__ import annotations

import dataclasses

import pytest

from setup_poetry_parallel.poetry_venv.key import InstallSpec, install_key, merge_requirements

BASE = InstallSpec(
    poetry_version="2.5.1",
    requirements=("poetry-dynamic-versioning[plugin] (>=1.0.0,<2.0.0)",),
    python="/usr/bin/python3.11",
    python_version="3.11.2",
    installer="uv",
    platform="linux-x86_64",
    plugin_wheel="1.0.0+abc",
    dependencies="locked sha256:" + "a" * 64,
)


def test_key_is_readable_and_stable() -> None:
    key = install_key(BASE)
    assert key.startswith("poetry-2.5.1-py3.11-uv-")
    assert key == install_key(dataclasses.replace(BASE))


@pytest.mark.parametrize(
    "change",
    [
        {"poetry_version": "2.5.0"},
        {"requirements": ()},
        {"requirements": ("poetry-plugin-export",)},
        {"python": "/opt/python3.11"},
        {"python_version": "3.11.9"},
        {"installer": "pip"},
        {"platform": "darwin-arm64"},
        {"plugin_wheel": "1.0.0+def"},
        {"dependencies": "locked sha256:" + "b" * 64},  # the table file changed
        {"dependencies": "release-date"},
        {"dependencies": "latest"},
    ],
)
def test_everything_that_matters_changes_the_key(change: dict[str, object]) -> None:
    assert install_key(dataclasses.replace(BASE, **change)) != install_key(BASE)  # type: ignore[arg-type]


def test_requirement_order_does_not_matter() -> None:
    a = dataclasses.replace(BASE, requirements=("a", "b"))
    b = dataclasses.replace(BASE, requirements=("b", "a"))
    assert install_key(a) == install_key(b)


def test_merge_keeps_order_and_drops_repeats() -> None:
    assert merge_requirements(["a", "b"], ["b", "c"]) == ("a", "b", "c")


def test_pinned_puts_poetry_first() -> None:
    assert BASE.pinned == ("poetry==2.5.1", *BASE.requirements)
