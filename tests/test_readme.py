"""The README as a front door: its table of contents lists every section, every `#anchor` link
lands on a heading, and the Inputs and Outputs tables are action.yml's (names, and defaults
where action.yml has one)."""

from __future__ import annotations

import re

import yaml

from tests.repo import REPO

README = (REPO / "README.md").read_text()
ACTION = yaml.safe_load((REPO / "action.yml").read_text())


def headings(text: str) -> list[tuple[int, str]]:
    """(level, title) of every ## and ### heading outside code fences."""
    out, fence = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and (m := re.match(r"(#{2,3}) (.+)", line)):
            out.append((len(m.group(1)), m.group(2).strip()))
    return out


def anchor(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but '-' and '_' dropped."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def table(section: str) -> dict[str, str]:
    """First column (the name, in backticks) -> second column of the section's table."""
    body = README.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return {
        m.group(1): m.group(2).strip()
        for m in re.finditer(r"^\| `([^`]+)` \|([^|]*)\|", body, re.M)
    }


def test_the_contents_list_every_section_in_order() -> None:
    contents = README.split("## Contents", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\s*- \[([^\]]+)\]\(#([^)]+)\)", contents, re.M)
    sections = [t for _, t in headings(README) if t != "Contents"]
    assert [title for title, _ in listed] == sections
    assert all(link == anchor(title) for title, link in listed)


def test_every_internal_link_lands_on_a_heading() -> None:
    anchors = {anchor(t) for _, t in headings(README)}
    links = set(re.findall(r"\]\(#([^)]+)\)", README))
    assert links - anchors == set()


def test_the_sections_others_link_to_keep_their_names() -> None:
    titles = {t for _, t in headings(README)}
    for kept in ("Environment for later steps", "Outside GitHub Actions", "Benchmark"):
        assert kept in titles


def test_user_material_comes_before_the_internals() -> None:
    order = [t for level, t in headings(README) if level == 2]
    for user in ("Quickstart", "Install", "Inputs", "Outputs", "Troubleshooting"):
        assert order.index(user) < order.index("How it works"), user


def test_inputs_table_is_action_yml() -> None:
    rows = table("Inputs")
    assert list(rows) == list(ACTION["inputs"])
    for name, spec in ACTION["inputs"].items():
        default = str(spec.get("default", ""))
        if default and re.fullmatch(r"[\w.-]+", default):  # a literal, not an expression
            assert rows[name] == f"`{default}`", name


def test_outputs_table_is_action_yml() -> None:
    assert list(table("Outputs")) == list(ACTION["outputs"])
