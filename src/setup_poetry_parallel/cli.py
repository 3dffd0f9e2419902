"""`setup-poetry-parallel`: flags in, exports out; error_handler.py turns failures into exit codes.

`setup-poetry-parallel [flags] -- CMD ARGS...` sets up, then becomes CMD with the job's
environment applied: no `eval`, so a failed setup cannot be hidden by one (`eval ""` is 0).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final

from setup_poetry_parallel import __version__
from setup_poetry_parallel.error_handler import guarded
from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.settings import (
    FORMATS,
    RawInputs,
    current_environment,
    inputs_from_env,
    read_runner,
    validate,
)

if TYPE_CHECKING:
    from setup_poetry_parallel.outputs.runner import Exports

log = logging.getLogger("setup_poetry_parallel")

# What a shell returns for a command it cannot find, or cannot execute.
NOT_FOUND: Final = 127
NOT_EXECUTABLE: Final = 126


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="setup-poetry-parallel",
        description="Install a pinned Poetry once per host and give this job its own Poetry dirs.",
        usage="%(prog)s [flags] [-- CMD ARGS...]",
        epilog="-- CMD ARGS...: after the setup, run CMD with the job's environment (its exit"
        " code passed through, signals reaching it); nothing is printed then.",
    )
    p.add_argument(
        "--poetry-version", default="", help="exact release, e.g. 2.5.1 (or X.Y, latest)"
    )
    p.add_argument(
        "--python-version",
        action="append",
        default=[],
        metavar="VERSION",
        help="the project's Python for this job (also `python` on PATH); repeat for several (tox: PATH only)",
    )
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="REQUIREMENT",
        help="an extra plugin requirement; repeatable",
    )
    p.add_argument("--working-directory", default=".", help="where pyproject.toml is (default .)")
    p.add_argument("--install-dir", default="", help="where shared Poetry installs live")
    p.add_argument("--state-dir", default="", help="root of the per-job directories")
    p.add_argument("--job-id", default="", help="this job's directory name under --state-dir")
    p.add_argument("--poetry-python", default="", help="interpreter that runs Poetry itself")
    p.add_argument("--installer", default="auto", help="auto (uv), uv or pip")
    p.add_argument("--lock-timeout", default="", help="seconds to wait for another job's install")
    p.add_argument(
        "--download-cache",
        default="",
        help="Poetry's downloads, shared by the host's jobs (default: beside the installs;"
        " false: per job)",
    )
    p.add_argument(
        "--project-plugins",
        default="true",
        help="false: do not install the project's requires-plugins",
    )
    p.add_argument(
        "--fast-install",
        nargs="?",
        const="true",
        default="false",
        help="true: the job's `poetry install` installs index packages with uv (see README)",
    )
    p.add_argument(
        "--poetry-dependencies",
        default="locked",
        help="locked (default): Poetry's dependencies from the hash-checked table; latest: afresh",
    )
    p.add_argument(
        "--format", default="", choices=["", *FORMATS], help="github on a runner, else sh"
    )
    p.add_argument(
        "--inputs-from-env",
        action="store_true",
        help="read the action's INPUT_* variables (used by action.yml)",
    )
    p.add_argument(
        "--plan",
        action="store_true",
        help="only print the cache key and install path; install nothing",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="log every command")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def raw_inputs(args: argparse.Namespace, environ: Mapping[str, str]) -> RawInputs:
    if args.inputs_from_env:
        return RawInputs(**{**inputs_from_env(environ).__dict__, "output_format": args.format})
    versions = tuple(word for value in args.python_version for word in value.split())
    return RawInputs(
        poetry_version=args.poetry_version.strip(),
        python_versions=versions,
        project_python=versions[0] if len(versions) == 1 else "",
        plugins=tuple(p.strip() for p in args.plugin if p.strip()),
        working_directory=args.working_directory,
        install_dir=args.install_dir,
        state_dir=args.state_dir,
        job_id=args.job_id,
        poetry_python=args.poetry_python,
        installer=args.installer,
        lock_timeout=args.lock_timeout,
        project_plugins=args.project_plugins,
        fast_install=args.fast_install,
        download_cache=args.download_cache,
        output_format=args.format,
        poetry_dependencies=args.poetry_dependencies,
    )


def split_command(argv: Sequence[str]) -> tuple[list[str], list[str] | None]:
    """The flags, and the command after the first `--` (None without one)."""
    argv = list(argv)
    if "--" not in argv:
        return argv, None
    at = argv.index("--")
    return argv[:at], argv[at + 1 :]


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Flags (or the action's inputs) in, exports out; returns the exit code. With
    `-- CMD ARGS...` this process becomes CMD (os.execvpe) where it can."""
    environ = current_environment() if environ is None else environ
    flags, command = split_command(sys.argv[1:] if argv is None else argv)
    p = parser()
    args = p.parse_args(flags)
    if command is not None and not command:
        p.error("nothing to run after --: give a command, or leave out --")
    if command and args.plan:
        p.error("--plan installs nothing: there is no job to run a command in")
    runner = read_runner(environ)
    _configure_logging(args.verbose or runner.debug)
    done: list[tuple[Exports, str]] = []

    def setup() -> None:
        settings = validate(raw_inputs(args, environ), environ)
        from setup_poetry_parallel import engine
        from setup_poetry_parallel.outputs import runner as runner_io

        runner_io.check_files(settings.runner, settings.output_format)
        annotate = settings.output_format == "github"
        if annotate:
            log.handlers.append(_AnnotateWarnings())
        warned = _Count()
        log.addHandler(warned)
        with runner_io.group("setup-poetry-parallel", enabled=annotate):
            exports = (engine.plan_only if args.plan else engine.run)(settings)
        if not args.plan and not settings.runner.active:
            # Off a runner nothing empties the state dir: the jobs' old dirs go here.
            from setup_poetry_parallel.jobs import old_jobs

            old_jobs.clean(settings.state_dir, keep=settings.job_id)
        if command:
            done.append((exports, settings.host.path))
            return
        if args.plan and settings.output_format in ("sh", "dotenv"):
            for name, value in exports.outputs.items():  # stdout has nothing to export
                log.info("%s: %s", name, value)
        runner_io.publish(exports, settings.output_format, settings.runner, settings.host.path)
        from setup_poetry_parallel.startup import warm_lane

        # The setups the warm lane can key (the action's, the CLI's flags: console.py).
        lane = warm_lane.view(list(sys.argv[1:] if argv is None else argv), environ)
        if exports.remember and lane is not None and not warned.count:
            exports.remember(lane[0])

    code = guarded(setup, runner)
    if code or not command:
        return code
    env = command_env(*done[0], environ)
    ran: list[int] = []
    return guarded(lambda: ran.append(run_command(command, env)), runner) or ran[0]


def command_env(exports: Exports, path: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment the job's later steps would have: the exports over this one, the job's
    entries before `path` (the PATH settings read; an empty one adds no entry, which would be
    the working directory)."""
    env = {**environ, **exports.env}
    env["PATH"] = os.pathsep.join(entry for entry in [*exports.path, path] if entry)
    return env


class CommandFailed(SetupError):
    """CMD could not be started: the shell's exit codes, 127 not found, 126 not executable."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def run_command(command: Sequence[str], env: Mapping[str, str]) -> int:
    """Become `command` (POSIX: nothing of ours stays, signals go straight to it); elsewhere
    run it as a child (run_child). Returns only where it could not exec."""
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name != "posix":
        return run_child(command, env)
    try:
        os.execvpe(command[0], list(command), dict(env))  # noqa: S606  # argv, no shell: as given
    except FileNotFoundError:
        raise CommandFailed(_not_found(command[0]), NOT_FOUND) from None
    except OSError as exc:  # found, but not executable (EACCES, ENOEXEC)
        raise CommandFailed(f"{command[0]}: {exc.strerror}", NOT_EXECUTABLE) from None
    raise AssertionError("unreachable: execvpe returned")  # pragma: no cover


def run_child(command: Sequence[str], env: Mapping[str, str]) -> int:
    """Windows, where exec would return at once to the shell that waits for us: CMD as a
    child, its exit code ours. On POSIX each signal is forwarded to it; on Windows Ctrl-C and
    Ctrl-Break reach every process of the console, the child too, so we only keep waiting."""
    import shutil
    import signal
    import subprocess

    found = shutil.which(command[0], path=env.get("PATH", ""))
    if found is None:
        raise CommandFailed(_not_found(command[0]), NOT_FOUND)
    # The handlers first: a signal that arrives while the child starts is kept and sent to it
    # once it runs, never left to the default action (which would kill us and orphan it).
    children: list[subprocess.Popen[bytes]] = []
    pending: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        if os.name != "posix":
            return
        if children:
            children[0].send_signal(signum)
        else:
            pending.append(signum)

    names = ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")
    forwarded = [getattr(signal, name) for name in names if hasattr(signal, name)]
    previous = {signum: signal.signal(signum, forward) for signum in forwarded}
    try:
        try:
            children.append(subprocess.Popen([found, *command[1:]], env=dict(env)))
        except OSError as exc:
            raise CommandFailed(f"{command[0]}: {exc.strerror}", NOT_EXECUTABLE) from None
        for signum in pending:
            children[0].send_signal(signum)
        code = children[0].wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - code if code < 0 else code  # killed by signal N: 128+N, as a shell says


def _not_found(name: str) -> str:
    return f"{name}: command not found on the job's PATH (after --)"


def main_exit() -> None:
    sys.exit(main())


class _Format(logging.Formatter):
    """Every log line redacted (redaction.py): a tool's output or a requirement may hold a
    URL with its credentials, or a password a tool printed."""

    def format(self, record: logging.LogRecord) -> str:
        from setup_poetry_parallel.redaction import redact

        text = redact(super().format(record))
        return f"{record.levelname.lower()}: {text}" if record.levelno >= logging.WARNING else text


class _Count(logging.Handler):
    """Warnings of this setup: one that warned is not replayed (the lane would not warn)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


class _AnnotateWarnings(logging.Handler):
    """On a runner, a warning is also an annotation, so it shows on the run's page."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        from setup_poetry_parallel.outputs import runner

        runner.annotate_warning(record.getMessage())


def _configure_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Format("%(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if debug else logging.INFO)
    log.propagate = False
