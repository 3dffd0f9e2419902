"""The shared download cache without Poetry: the layout a job gets, the input, and pruning."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from setup_poetry_parallel.cli import parser, raw_inputs
from setup_poetry_parallel.errors import InputError
from setup_poetry_parallel.settings import validate
from setup_poetry_parallel.store import downloads

DAY = 86400.0


def settings_with(tmp_path: Path, *args: str) -> object:
    argv = ["--poetry-version", "2.5.1", "--install-dir", str(tmp_path / "install"), *args]
    return validate(raw_inputs(parser().parse_args(argv), {}), {})


@pytest.mark.parametrize(
    ("given", "expected"),
    [("", "install/downloads"), ("false", None), ("elsewhere", "elsewhere")],
)
def test_the_input(
    given: str, expected: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = settings_with(tmp_path, "--download-cache", given)
    wanted = None if expected is None else (tmp_path / expected).resolve()
    assert settings.download_cache == wanted  # type: ignore[attr-defined]


def test_a_bad_value_names_the_input(tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        settings_with(tmp_path, "--download-cache", "a\nb")
    assert raised.value.input == "download-cache"


def test_unused_is_by_last_use() -> None:
    entries = [(Path("old"), 0.0), (Path("used"), 29 * DAY), (Path("new"), 31 * DAY)]
    assert downloads.unused(entries, now=31 * DAY, max_unused=30 * DAY) == [Path("old")]


def _entry(root: Path, name: str, age_days: float, now: float) -> Path:
    leaf = downloads.artifacts(root) / "ab" / "cd" / name
    leaf.mkdir(parents=True)
    archive = leaf / f"{name}-1.0-py3-none-any.whl"
    archive.write_bytes(b"wheel")
    stamp = now - age_days * DAY
    os.utime(archive, (stamp, stamp))
    return leaf


def test_prune_removes_only_long_unused_entries_once_a_day(tmp_path: Path) -> None:
    root, now = tmp_path / "downloads", time.time()
    downloads.prepare(root)
    old = _entry(root, "old", 40, now)
    recent = _entry(root, "recent", 3, now)  # a job may still be reading it
    assert downloads.prune(root, now=now) == [old]
    assert not old.exists()
    assert recent.is_dir()
    # Pruned today: the next setup does not walk the cache again.
    again = _entry(root, "again", 40, now)
    assert downloads.prune(root, now=now + 60) == []
    assert again.is_dir()
    assert downloads.prune(root, now=now + 2 * DAY) == [again]


def test_a_cache_others_could_write_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "downloads"
    root.mkdir()
    root.chmod(0o777)
    with pytest.raises(Exception, match="writable by everyone"):
        downloads.prepare(root)
