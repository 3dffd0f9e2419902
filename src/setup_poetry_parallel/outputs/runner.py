"""Everything handed to later steps, in the runner's files or as text for other CIs, and the
runner's log commands (groups, annotations).

`github` goes through runner_files.py, the one writer of the runner's files (the warm lane
uses it too): multi-line-safe records with a random heredoc delimiter re-drawn if the value
contains it. Every record is validated and formatted before the first byte is written, so a
refused value leaves the runner files untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import PurePath

from setup_poetry_parallel.errors import InputError, SetupError
from setup_poetry_parallel.outputs import runner_files
from setup_poetry_parallel.path_errors import path_error, preparing
from setup_poetry_parallel.redaction import redact
from setup_poetry_parallel.settings import OutputFormat, Runner


@dataclass(frozen=True)
class Exports:
    outputs: dict[str, str]
    env: dict[str, str]
    path: list[str]  # prepended to PATH, first entry first
    summary: str = field(default="", compare=False)
    # Called once these are published, if nothing was warned: records the setup for the next
    # jobs' warm lane (engine.py, warm_lane.py).
    remember: Callable[[], None] | None = field(default=None, compare=False, repr=False)


def validate(exports: Exports) -> None:
    """Refuse anything that could add a record of its own to a runner file."""
    if refused := runner_files.problem(exports.env, exports.path, exports.outputs):
        raise SetupError(refused)


def render(exports: Exports, fmt: OutputFormat, path: str) -> str:
    """The text printed on stdout for the plain-CLI formats (pure)."""
    if fmt == "json":
        return json.dumps(
            {"outputs": exports.outputs, "env": exports.env, "path": exports.path}, indent=2
        )
    if fmt == "dotenv":
        lines = [f"{name}={_dotenv_quote(value)}" for name, value in exports.env.items()]
        full_path = os.pathsep.join([*exports.path, path])
        return "\n".join([*lines, f"PATH={_dotenv_quote(full_path)}"])
    lines = [f"export {name}={shlex.quote(value)}" for name, value in exports.env.items()]
    if exports.path:
        prefix = os.pathsep.join(shlex.quote(entry) for entry in exports.path)
        lines.append(f'export PATH={prefix}{os.pathsep}"$PATH"')
    return "\n".join(lines)


def redacted(exports: Exports) -> Exports:
    """What leaves the process, without credentials: the outputs (`plugins` names the
    requirements), the variables and the summary, whatever put a secret there."""
    return replace(
        exports,
        outputs={name: redact(value) for name, value in exports.outputs.items()},
        env={name: redact(value) for name, value in exports.env.items()},
        summary=redact(exports.summary),
    )


def _dotenv_quote(value: str) -> str:
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("$", "\\$")
    )
    return f'"{escaped}"'


def check_files(runner: Runner, fmt: OutputFormat) -> None:
    """Before anything else runs: every runner file the setup will write can be appended to.

    The error names the runner's variable: a setup that fails at the end must not have
    built Poetry for nothing, and one that fails must write nothing.
    """
    if fmt != "github":
        return
    missing = [name for name in runner_files.REQUIRED if name not in runner.files]
    if missing:
        raise InputError(
            f"--format github needs {', '.join(missing)}: use another --format here",
            input="format",
        )
    for name, path in runner.files.items():
        with preparing(name, PurePath(path), expects="file"), open(path, "ab"):
            pass


def publish(exports: Exports, fmt: OutputFormat, runner: Runner, path: str) -> None:
    """Write the exports where later steps find them. Validates everything first.

    On a runner every record is formatted first, then every runner file is opened, then
    appended to (runner_files.py): a refused value or an unwritable file leaves every runner
    file as it was.
    """
    exports = redacted(exports)
    validate(exports)
    if fmt != "github":
        print(render(exports, fmt, path), flush=True)
        return
    records = runner_files.records(
        env=exports.env, path=exports.path, outputs=exports.outputs, summary=exports.summary
    )
    runner_files.append(
        records,
        runner.files,
        refused=lambda name, exc: path_error(
            exc, name, PurePath(runner.files[name]), expects="file"
        ),
    )


@contextlib.contextmanager
def group(title: str, *, enabled: bool) -> Iterator[None]:
    """A collapsible log group on a runner; nothing elsewhere (stdout is data there)."""
    if not enabled:
        yield
        return
    # Our own constant titles: no escaping needed. (The toolkit writes "::group ::title".)
    print(f"::group::{title}", flush=True)
    try:
        yield
    finally:
        print("::endgroup::", flush=True)


def annotate_error(message: str, *, file: str | None, line: int | None) -> None:
    _command("error", redact(message), title="setup-poetry-parallel", file=file, line=line)


def annotate_warning(message: str, *, file: str | None = None, line: int | None = None) -> None:
    _command("warning", redact(message), title="setup-poetry-parallel", file=file, line=line)


def _command(name: str, message: str, **properties: str | int | None) -> None:
    """A workflow command on stdout, escaped as the Actions toolkit escapes it (command.ts):
    a line break cannot end the command early and start another."""
    given = ",".join(
        f"{key}={_escape(str(value), in_property=True)}"
        for key, value in properties.items()
        if value is not None
    )
    text = f"::{name} {given}::{_escape(message)}\n"
    # UTF-8, which the runner reads, whatever Python picked for a redirected stdout (a Windows
    # code page would fail on the first character outside it).
    sys.stdout.flush()
    if buffer := getattr(sys.stdout, "buffer", None):
        buffer.write(text.encode("utf-8"))
    else:
        sys.stdout.write(text)
    sys.stdout.flush()


def _escape(text: str, *, in_property: bool = False) -> str:
    """`%` first, so that a `%0A` in the text stays text; a property's `:` and `,` too."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if in_property else text
