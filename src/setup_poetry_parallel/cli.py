"""`setup-poetry-parallel`: flags in, exports out; error_handler.py turns failures into exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence

from setup_poetry_parallel import __version__
from setup_poetry_parallel.error_handler import guarded
from setup_poetry_parallel.settings import (
    FORMATS,
    RawInputs,
    current_environment,
    inputs_from_env,
    read_runner,
    validate,
)

log = logging.getLogger("setup_poetry_parallel")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="setup-poetry-parallel",
        description="Install a pinned Poetry once per host and give this job its own Poetry dirs.",
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
        download_cache=args.download_cache,
        output_format=args.format,
        poetry_dependencies=args.poetry_dependencies,
    )


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Flags (or the action's inputs) in, exports out; returns the exit code."""
    environ = current_environment() if environ is None else environ
    args = parser().parse_args(argv)
    runner = read_runner(environ)
    _configure_logging(args.verbose or runner.debug)

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
        runner_io.publish(exports, settings.output_format, settings.runner, settings.host.path)
        if exports.remember and args.inputs_from_env and annotate and not warned.count:
            exports.remember()  # the warm lane replays only the action's setups on a runner

    return guarded(setup, runner)


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
