"""`setup-poetry-parallel`: flags in, exports out; the one place errors become exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from collections.abc import Mapping, Sequence

from setup_poetry_parallel import __version__
from setup_poetry_parallel.errors import SetupError
from setup_poetry_parallel.settings import FORMATS, RawInputs, inputs_from_env, validate

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
        help="the project's Python for this job (poetry env use); repeat for several (tox: PATH only)",
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
        "--project-plugins",
        default="true",
        help="false: do not install the project's requires-plugins",
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
        output_format=args.format,
    )


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    args = parser().parse_args(argv)
    on_runner = environ.get("GITHUB_ACTIONS") == "true"
    debug = args.verbose or environ.get("RUNNER_DEBUG") == "1"
    _configure_logging(debug)
    try:
        settings = validate(raw_inputs(args, environ), environ)
        from setup_poetry_parallel import engine, runner

        annotate = settings.output_format == "github"
        if annotate:
            log.handlers.append(_AnnotateWarnings())
        with runner.group("setup-poetry-parallel", enabled=annotate):
            exports = (engine.plan_exports if args.plan else engine.run)(settings, environ)
        runner.publish(exports, settings.output_format, environ)
    except SetupError as exc:
        if exc.details:
            # Indented: the one line that starts with "error: " is the message below, even
            # when the details are a tool's output with "error:" lines of its own.
            print(textwrap.indent(exc.details, "  | ", lambda _: True), file=sys.stderr)
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        if on_runner:
            from setup_poetry_parallel import runner

            runner.annotate_error(
                exc.message, file=str(exc.file) if exc.file else None, line=exc.line
            )
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


def main_exit() -> None:
    sys.exit(main())


class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return f"{record.levelname.lower()}: {text}" if record.levelno >= logging.WARNING else text


class _AnnotateWarnings(logging.Handler):
    """On a runner, a warning is also an annotation, so it shows on the run's page."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        from setup_poetry_parallel import runner

        runner.annotate_warning(record.getMessage())


def _configure_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Format("%(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if debug else logging.INFO)
    log.propagate = False
