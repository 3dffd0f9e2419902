"""Print one version's section of a Keep a Changelog file: the release notes of that version.

    python .github/scripts/changelog_section.py CHANGELOG.md v1.2.3 > notes.md

The section is the text under `## [1.2.3]` (a leading `v` is dropped, the date after the heading
is ignored) up to the next `## ` heading or the link references (`[1.2.3]: https://...`) that
close the file. Lines wrapped in the file are joined, since GitHub shows every line break of
release notes. A missing or empty section is an error (exit 2): a release without notes is a
release whose changelog was not written. Standard library only: it runs before anything is
installed (tests/test_release.py tests it).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

_HEADING = re.compile(r"^## \[(?P<version>[^\]]+)\]")
_LINK_REFERENCE = re.compile(r"^\[[^\]]+\]:\s")
# Lines that start a block of their own rather than continue the one above.
_BLOCK_START = re.compile(r"^\s*(#|[-*+] |\d+[.)] |```|>|\||$)")
# Lines that nothing continues: blank lines, headings, fences and table rows.
_WHOLE_LINE = re.compile(r"^\s*(#|```|\||$)")


class ChangelogError(Exception):
    pass


def section(text: str, version: str) -> str:
    """The body of `version`'s section, without its heading and surrounding blank lines."""
    wanted = version.removeprefix("v")
    body: list[str] | None = None
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if body is None:
            if heading and heading["version"] == wanted:
                body = []
            continue
        if line.startswith("## ") or _LINK_REFERENCE.match(line):
            break
        body.append(line)
    if body is None:
        raise ChangelogError(f"no '## [{wanted}]' section: add one before tagging v{wanted}")
    notes = "\n".join(unwrap(body)).strip()
    if not notes:
        raise ChangelogError(f"the '## [{wanted}]' section is empty: write its changes")
    return notes + "\n"


def unwrap(lines: Sequence[str]) -> list[str]:
    """Join each wrapped line to the line it continues; code blocks are kept as they are."""
    joined: list[str] = []
    in_code = False
    for line in lines:
        fence = line.lstrip().startswith("```")
        continues = (
            bool(joined) and not _WHOLE_LINE.match(joined[-1]) and not _BLOCK_START.match(line)
        )
        if continues and not in_code:
            joined[-1] = f"{joined[-1].rstrip()} {line.strip()}"
        else:
            joined.append(line.rstrip())
        in_code ^= fence
    return joined


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: changelog_section.py CHANGELOG.md VERSION", file=sys.stderr)
        return 2
    path, version = Path(args[0]), args[1]
    try:
        sys.stdout.write(section(path.read_text(encoding="utf-8"), version))
    except (ChangelogError, OSError) as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
