"""The sharedfs test bed (../shared/sharedfs): several hosts on one network volume, for tests.

Hosts are namespaces with their own FUSE client, hostname and IP; `up.sh` builds them and
mounts GlusterFS, sshfs and the lock-less overlay, `down.sh --purge` removes everything.
`bed()` brings it up once and always tears it down, failure or not. Everything the bed writes
is under a pytest temporary directory (plus the packages `up.sh` installs with apt).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SCRIPTS = Path(os.environ.get("SPP_SHAREDFS_DIR") or Path(__file__).with_name("sharedfs"))
HOSTS = ("hostA", "hostB", "hostC")
BACKENDS = ("glusterfs", "glusterfs-nolock", "sshfs")
SERVER = "10.253.0.10"
INDEX_PORT = 8000
INDEX_URL = f"http://{SERVER}:{INDEX_PORT}/simple/"
PING_TIMEOUT = 10  # GlusterFS frees a cut-off client's locks after this (42 s by default)

INDEX_SERVER = """
import functools, http.server, os, sys
print(os.getpid(), flush=True)
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
handler.log_message = lambda *args: None
http.server.ThreadingHTTPServer((sys.argv[2], int(sys.argv[3])), handler).serve_forever()
"""


def unavailable() -> str | None:
    """Why the bed cannot run here, or None."""
    if not (SCRIPTS / "up.sh").is_file():
        return f"the sharedfs test bed is not at {SCRIPTS} (set SPP_SHAREDFS_DIR)"
    if sys.platform != "linux" or os.geteuid() != 0:
        return "the sharedfs bed needs root on Linux (namespaces, mounts, apt)"
    if not Path("/dev/fuse").exists():
        return "the sharedfs bed needs FUSE (/dev/fuse is missing)"
    missing = [t for t in ("ip", "nsenter", "unshare", "dpkg-query") if not shutil.which(t)]
    if missing or not (shutil.which("apt-get") or shutil.which("gluster")):
        return f"the sharedfs bed needs Debian/Ubuntu tools: {missing or ['apt-get']} missing"
    if Path("/sys/class/net/sfsbr0").exists():
        return "another sharedfs bed is up on this machine (bridge sfsbr0): one bed per machine"
    return None


@dataclass
class Bed:
    work: Path
    hosts: tuple[str, ...] = HOSTS
    # (host, pid in the host's pid namespace, the run-on process) of servers started here
    started: list[tuple[str, int, subprocess.Popen[str]]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SHAREDFS_WORK": str(self.work),
            "SHAREDFS_HOSTS": " ".join(self.hosts),
            "SHAREDFS_GLUSTER_PING_TIMEOUT": str(PING_TIMEOUT),
        }

    def mount(self, backend: str) -> Path:
        return self.work / "mnt" / backend

    def on(self, host: str, *argv: str) -> list[str]:
        return [str(SCRIPTS / "run-on"), host, *argv]

    def run(
        self, host: str, *argv: str, env: Mapping[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.on(host, *argv),
            env=dict(env or self.env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def python(self, host: str, code: str, *args: str) -> str:
        """Run `code` with this interpreter on `host`; its stdout (fails on a non-zero exit)."""
        done = self.run(host, sys.executable, "-c", code, *args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(
        self, host: str, *argv: str, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.on(host, *argv),
            env=dict(env or self.env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def script(self, name: str, *args: str, timeout: float = 900) -> str:
        done = subprocess.run(
            [str(SCRIPTS / name), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise BedError(f"{name} {' '.join(args)} failed: {(done.stdout + done.stderr)[-2000:]}")
        return done.stdout

    def kill_host(self, host: str) -> None:
        """A host crash: its init dies, and with it every process of the host, FUSE included."""
        os.kill(int((self.work / "state" / f"{host}.pid").read_text()), signal.SIGKILL)

    def link(self, host: str, *, up: bool) -> None:
        """Cut `host` off the network (its side of the bridge), or reconnect it."""
        state = "up" if up else "down"
        subprocess.run(["ip", "link", "set", f"sfs-{host}", state], check=True)

    def serve_index(self, root: Path) -> None:
        server = self.start(
            "srv", "python3", "-c", INDEX_SERVER, str(root), SERVER, str(INDEX_PORT)
        )
        assert server.stdout is not None
        self.started.append(("srv", int(server.stdout.readline()), server))
        probe = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)"
        for _ in range(50):
            if (
                self.run(self.hosts[0], "python3", "-c", probe, INDEX_URL + "poetry/").returncode
                == 0
            ):
                return
        raise BedError(f"the index on {SERVER} does not answer")

    def stop_started(self) -> None:
        for host, pid, proc in self.started:
            self.run(host, "kill", str(pid), timeout=30)
            proc.communicate(timeout=30)
        self.started.clear()


class BedError(Exception):
    pass


@contextlib.contextmanager
def bed(work: Path, backends: Sequence[str] = BACKENDS) -> Iterator[Bed]:
    """The bed, up for the block and purged after it, whatever happens in between."""
    work.mkdir(parents=True, exist_ok=True)
    the_bed = Bed(work.resolve())
    try:
        the_bed.script("up.sh", *backends)
        yield the_bed
    finally:
        with contextlib.suppress(Exception):
            the_bed.stop_started()
        the_bed.script("down.sh", "--purge", timeout=300)
