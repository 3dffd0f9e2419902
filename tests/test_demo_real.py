"""`./dev demo` (demo/run.py), run for real as the README describes it: four jobs at once on one
shared project, a progress line as each starts and ends, and a table in which exactly one job
built Poetry's install and the others reused it (before #20 a hidden prepare step built it and
every row said `reused`)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.repo import REPO


def test_demo_shows_which_job_built_and_prints_progress() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "demo" / "run.py")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert out.rstrip().endswith("demo: ok")
    rows = re.findall(r"^\| (py3\.\d+) \| (built|reused) \|", out, re.M)
    assert rows, out
    assert [how for _, how in rows].count("built") == 1, out
    for job, _ in rows:  # a line as each job starts and as it ends, before the table
        assert re.search(rf"^\[ *[\d.]+ s\] {re.escape(job)}: setting up", out, re.M), out
        assert re.search(rf"^\[ *[\d.]+ s\] {re.escape(job)}: done in", out, re.M), out
