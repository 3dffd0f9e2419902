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
from typing import Final

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
    # jobs' warm lane under its keys (engine.py, warm_lane.view).
    remember: Callable[[dict[str, str]], None] | None = field(
        default=None, compare=False, repr=False
    )


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
        return dotenv(exports, path)
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


# GitLab's limits for a dotenv report (its default plan limits `dotenv_variables` and
# `dotenv_size`); over them GitLab drops the whole report and fails the job.
DOTENV_MAX_VARIABLES: Final = 20
DOTENV_MAX_BYTES: Final = 5 * 1024


def dotenv(exports: Exports, path: str) -> str:
    """`NAME=value` lines, taken literally: GitLab's dotenv reports and `docker run --env-file`
    strip no quotes and decode no escapes, so a value is written as it is or refused.

    GitLab reads one `NAME=value` per line, splits at the last `=` (older parsers; newer at
    the first) and strips blanks around the value; PATH is written only when the job adds to it.
    SetupError (one line, naming the format and what to do) for what it would read otherwise.
    """
    items = list(exports.env.items())
    if exports.path:
        items.append(("PATH", os.pathsep.join([*exports.path, path])))
    for name, value in items:
        if why := _dotenv_problem(value):
            raise SetupError(
                f"--format dotenv cannot carry {name}: its value {why}; use --format sh or json,"
                " or run the command with `setup-poetry-parallel ... -- CMD`",
                input="format",
            )
    text = "\n".join(f"{name}={value}" for name, value in items)
    if len(items) > DOTENV_MAX_VARIABLES:
        raise SetupError(
            f"--format dotenv would write {len(items)} variables, over GitLab's limit of"
            f" {DOTENV_MAX_VARIABLES} for a dotenv report; use --format sh or json, or -- CMD",
            input="format",
        )
    if len(text.encode("utf-8")) + 1 > DOTENV_MAX_BYTES:
        raise SetupError(
            f"--format dotenv would write {len(text.encode('utf-8')) + 1} bytes, over GitLab's"
            f" limit of {DOTENV_MAX_BYTES} for a dotenv report (a long PATH?); use --format sh"
            " or json, or -- CMD",
            input="format",
        )
    return text


def _dotenv_problem(value: str) -> str | None:
    if "\n" in value or "\r" in value:
        return "holds a line break (one line per variable)"
    if value != value.strip():
        return "starts or ends with a blank (GitLab strips it)"
    if "=" in value:
        return "holds '=' (GitLab's parser may split the line there)"
    return None


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
        # Nothing, not an empty line, where nothing changes (sh and dotenv of a --plan).
        if text := render(exports, fmt, path):
            print(text, flush=True)
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
