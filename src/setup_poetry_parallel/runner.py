"""Everything handed to later steps, in the runner's files or as text for other CIs.

`github` goes through github-action-utils, which writes multi-line-safe records with a
random heredoc delimiter re-drawn if the value contains it. Every record is validated
before the first byte is written, so a refused value leaves the runner files untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import PurePath

from setup_poetry_parallel.errors import InputError, SetupError
from setup_poetry_parallel.path_errors import preparing
from setup_poetry_parallel.redaction import redact
from setup_poetry_parallel.settings import RUNNER_FILES, OutputFormat, Runner

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
    for name in exports.outputs:
        if not _NAME.fullmatch(name):
            raise SetupError(f"refusing output name {name!r}")
    for name, value in exports.env.items():
        if not _ENV_NAME.fullmatch(name) or "\0" in value:
            raise SetupError(f"refusing environment variable {name!r}")
    for entry in exports.path:
        if not entry or any(c in entry for c in "\r\n\0") or os.pathsep in entry:
            raise SetupError(f"refusing PATH entry {entry!r}: it holds a line break or separator")


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
    missing = [name for name in RUNNER_FILES[:3] if name not in runner.files]
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

    On a runner every record is staged first (github-action-utils writes them, with its
    random heredoc delimiters), then each runner file is opened and appended to: a refused
    value or an unwritable file leaves every runner file as it was.
    """
    exports = redacted(exports)
    validate(exports)
    if fmt != "github":
        print(render(exports, fmt, path), flush=True)
        return
    with tempfile.TemporaryDirectory(prefix="spp-runner-") as scratch:
        staged = {name: os.path.join(scratch, name) for name in runner.files}
        _stage(exports, staged)
        with contextlib.ExitStack() as stack:
            targets = []
            for name, staged_path in staged.items():
                if os.path.exists(staged_path):
                    with preparing(name, PurePath(runner.files[name]), expects="file"):
                        targets.append(
                            (stack.enter_context(open(runner.files[name], "ab")), staged_path)
                        )
            for handle, staged_path in targets:
                with open(staged_path, "rb") as records:
                    handle.write(records.read())


def _stage(exports: Exports, staged: dict[str, str]) -> None:
    import github_action_utils as gha

    with _runner_files(staged):
        for name, value in exports.env.items():
            gha.set_env(name, value)
        for entry in reversed(exports.path):  # each add prepends: reversed keeps our order
            gha.add_system_path(entry, strict=True)
        for name, value in exports.outputs.items():
            gha.set_output(name, value)
        if exports.summary and "GITHUB_STEP_SUMMARY" in staged:
            gha.append_job_summary(exports.summary)


@contextlib.contextmanager
def _runner_files(files: Mapping[str, str]) -> Iterator[None]:
    """github-action-utils finds the runner's files in os.environ; lend it the staging files
    for the write (written, never read: settings.py reads the environment)."""
    saved = {name: os.environ.get(name) for name in RUNNER_FILES}
    os.environ.update(files)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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
    import github_action_utils as gha

    gha.error(redact(message), title="setup-poetry-parallel", file=file, line=line)


def annotate_warning(message: str, *, file: str | None = None, line: int | None = None) -> None:
    import github_action_utils as gha

    gha.warning(redact(message), title="setup-poetry-parallel", file=file, line=line)
