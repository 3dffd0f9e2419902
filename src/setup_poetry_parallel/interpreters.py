"""Find the interpreter for a requested Python version, where runners and developers keep them.

Looked up, in order: `python3.X` and `python3`/`python` on PATH (actions/setup-python puts
the job's Python first), the runner's tool cache, pyenv's versions, pyenv's shims on PATH,
the Windows `py` launcher, and uv's own discovery (the engine's uv, process.uv). Each candidate
is asked for its version: names lie (pyenv shims). Every question goes through process.probe:
logged, and a candidate that is refused keeps its reason, which the error lists.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from setup_poetry_parallel import process
from setup_poetry_parallel.errors import InputError
from setup_poetry_parallel.settings import Host

# Prints the interpreter and its PEP 508 marker environment (as packaging computes it), so that
# plugin markers are evaluated for the Python that runs Poetry. Runs on any Python 3.
PROBE = """
import json, os, platform, sys
impl = sys.implementation
iv = "{0.major}.{0.minor}.{0.micro}".format(impl.version)
if impl.version.releaselevel != "final":
    iv += impl.version.releaselevel[0] + str(impl.version.serial)
print(json.dumps([sys.executable, platform.python_version(), {
    "implementation_name": impl.name, "implementation_version": iv, "os_name": os.name,
    "platform_machine": platform.machine(), "platform_release": platform.release(),
    "platform_system": platform.system(), "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]), "sys_platform": sys.platform,
}]))
"""


@dataclass(frozen=True)
class Interpreter:
    path: Path
    version: str  # full, e.g. 3.12.1
    markers: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


def matches(requested: str, version: str) -> bool:
    """`3.12` matches any 3.12.x; `3.12.1` only itself. Pure."""
    want = requested.removeprefix("pypy").removesuffix("t").split(".")
    return version.split(".")[: len(want)] == want


def candidates(
    requested: str, host: Host, *, windows: bool = os.name == "nt"
) -> Iterator[list[str]]:
    """Commands that may start the requested Python, best first. Pure but for look-ups."""
    minor = ".".join(requested.split(".")[:2])
    # pyenv's shims are bash scripts that start pyenv (about 0.1 s each, and a miss for a
    # version not selected): its interpreters are asked directly first, the shims last.
    shims = Path(host.pyenv_root, "shims")
    on_path = [
        shutil.which(name, path=host.path) for name in (f"python{minor}", "python3", "python")
    ]
    deferred = [found for found in on_path if found and Path(found).parent == shims]
    for found in on_path:
        if found and found not in deferred:
            yield [found]
    exe = "python.exe" if windows else "python"
    arch_dirs = ("x64", "arm64", "x86") if windows else ("x64", "arm64")
    if host.tool_cache:
        for version_dir in sorted(Path(host.tool_cache, "Python").glob(f"{minor}*"), reverse=True):
            for arch in arch_dirs:
                home = version_dir / arch
                yield [str(home / exe if windows else home / "bin" / exe)]
    for version_dir in sorted(Path(host.pyenv_root, "versions").glob(f"{minor}*"), reverse=True):
        yield [str(version_dir / "bin" / "python")]
    for found in deferred:
        yield [found]
    if windows and (launcher := shutil.which("py", path=host.path)):
        yield [launcher, f"-{minor}"]


ABSENT: Final = "no such file"  # a place interpreters are often kept: not worth listing


@dataclass(frozen=True)
class Refused:
    """A command that is not the Python asked for, and why (one line; `output`: what it printed,
    for the error's details)."""

    command: tuple[str, ...]
    reason: str
    output: str = ""

    def __str__(self) -> str:
        said = self.output.strip().splitlines()[-1:]  # a tool's last line says why, mostly
        return f"{shlex.join(self.command)}: {self.reason}" + "".join(
            f" ({line.strip()})" for line in said
        )


def probe(command: list[str], env: Mapping[str, str]) -> Interpreter | Refused:
    """Ask `command` what it is; Refused, with the reason, when it is not a working Python.
    `env` is handed on."""
    if not os.path.exists(command[0]):
        return Refused(tuple(command), ABSENT)
    answer = process.probe([*command, "-c", PROBE], env=env, timeout=30)
    if not answer.ok:
        return Refused(tuple(command), answer.reason, answer.output)
    try:
        executable, version, markers = json.loads(answer.stdout)
    except ValueError:
        return Refused(tuple(command), "its answer is not the probe's", answer.stdout[-500:])
    return Interpreter(Path(executable), version, markers)


def find(
    requested: str, host: Host, env: Mapping[str, str], *, input_name: str = "python-version"
) -> Interpreter:
    """The interpreter for `requested`; the error names the input that asked for it, and its
    details say why each candidate was refused."""
    refused: list[Refused] = []
    for command in candidates(requested, host):
        found = _suits(requested, probe(command, env), command)
        if isinstance(found, Interpreter):
            return found
        refused.append(found)
    found = _uv_find(requested, env)
    if isinstance(found, Interpreter):
        found = _suits(requested, found, [str(found.path)])
    if isinstance(found, Interpreter):
        return found
    raise InputError(
        f"{input_name} {requested}: no such interpreter on this machine; install it first,"
        " e.g. with actions/setup-python",
        input=input_name,
        details="\n".join(
            ["looked at:", *(f"  {r}" for r in [*refused, found] if r.reason != ABSENT)]
        ),
    )


def _suits(
    requested: str, found: Interpreter | Refused, command: list[str]
) -> Interpreter | Refused:
    if isinstance(found, Refused) or matches(requested, found.version):
        return found
    return Refused(tuple(command), f"is Python {found.version}")


def _uv_find(requested: str, env: Mapping[str, str]) -> Interpreter | Refused:
    """uv's own discovery (registry, other layouts), with the engine's uv, downloads off."""
    asked = ("uv", "python", "find", requested)
    try:
        uv = process.uv()
    except FileNotFoundError:
        return Refused(asked, "uv is not installed with the engine")
    argv = [uv, "python", "find", "--python-preference", "only-system", requested]
    answer = process.probe(argv, env={**env, "UV_PYTHON_DOWNLOADS": "never"}, timeout=60)
    if not answer.ok or not answer.stdout.strip():
        return Refused(asked, answer.reason or "no answer", answer.output)
    return probe([answer.stdout.strip()], env)
