"""The pure decisions of fast install: which of Poetry's operations uv takes, with what, and how
what uv wrote becomes what Poetry writes. Poetry's operations and packages are stand-ins here
(SimpleNamespace with the attributes the plugin reads); the real executor, on every Poetry line,
is tests/poetry_plugin/test_fast_install_real.py's."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from setup_poetry_parallel.poetry_plugin import spp_fast_install as fast

WHEEL = "six-1.17.0-py2.py3-none-any.whl"
SDIST = "six-1.17.0.tar.gz"
SHA = "sha256:" + "ab" * 32


def package(name: str = "six", **given: Any) -> SimpleNamespace:
    fields: dict[str, Any] = {
        "name": name,
        "version": SimpleNamespace(text="1.17.0"),
        "source_type": None,
        "source_url": None,
        "source_reference": None,
        "files": [
            {"file": f"{name}-1.17.0-py2.py3-none-any.whl", "hash": SHA},
            {"file": f"{name}-1.17.0.tar.gz", "hash": "sha256:" + "cd" * 32},
        ],
    }
    fields.update(given)
    return SimpleNamespace(**fields)


def op(pkg: SimpleNamespace, job_type: str = "install", skipped: bool = False) -> SimpleNamespace:
    return SimpleNamespace(package=pkg, job_type=job_type, skipped=skipped)


def decide(*operations: SimpleNamespace, **given: Any) -> fast.Plan:
    rules: dict[str, Any] = {
        "supported": lambda name: name.endswith("none-any.whl"),
        "wheels_allowed": lambda name: True,
        "own_certificates": lambda source: False,
    }
    rules.update(given)
    return fast.decide(operations, **rules)


def test_index_packages_go_to_uv_by_source() -> None:
    internal = package(
        "acme-plugin",
        source_type="legacy",
        source_url="https://bot:s3cret@pkgs.example/simple/",
        source_reference="internal",
    )
    plan = decide(op(package()), op(internal, "update"))
    assert plan.kept == []
    assert {s.url: [o.package.name for o in ops] for s, ops in plan.by_source.items()} == {
        fast.PYPI: ["six"],
        "https://pkgs.example/simple": ["acme-plugin"],  # no userinfo in what uv is given
    }
    assert fast.Source("internal", "https://pkgs.example/simple") in plan.by_source


def test_what_poetry_builds_or_removes_stays_poetry_s_without_a_notice() -> None:
    kinds = [
        package("a", source_type=kind, source_url="/x") for kind in ("directory", "git", "url")
    ]
    plan = decide(
        *(op(p) for p in kinds),
        op(package("b"), "uninstall"),
        op(package("c"), skipped=True),
    )
    assert plan.by_source == {}
    assert plan.kept == []


@pytest.mark.parametrize(
    ("pkg", "rules", "reason"),
    [
        (package("pip"), {}, "pip first"),
        (package(files=[{"file": WHEEL, "hash": ""}]), {}, "no hash"),
        (package(files=[]), {}, "no hash"),
        (package(), {"wheels_allowed": lambda name: name != "six"}, "installer.no-binary"),
        (package(), {"supported": lambda name: not name.startswith("six")}, "no wheel"),
        (package(files=[{"file": SDIST, "hash": SHA}]), {}, "no wheel for this environment"),
        (
            package(source_type="legacy", source_url="https://in/simple", source_reference="in"),
            {"own_certificates": lambda source: source.name == "in"},
            "own certificates",
        ),
    ],
)
def test_what_uv_would_not_install_as_poetry_does_is_named(
    pkg: SimpleNamespace, rules: dict[str, Any], reason: str
) -> None:
    plan = decide(op(pkg), op(package("other")), **rules)
    assert [o.package.name for o in plan.operations] == ["other"]
    assert len(plan.kept) == 1
    assert plan.kept[0][0].package is pkg
    assert reason in plan.kept[0][1]


def test_the_requirement_pins_the_version_and_every_hash_of_the_lock() -> None:
    pkg = package()
    hashes = fast.hashes_of(pkg)
    assert hashes is not None
    line = fast.requirement_line(pkg, hashes)
    assert line == f"six==1.17.0 --hash={'sha256:' + 'ab' * 32} --hash={'sha256:' + 'cd' * 32}"


def test_uv_gets_credentials_in_its_environment_and_nothing_that_changes_what_it_installs() -> None:
    environ = {
        "PATH": "/bin",
        "UV_INDEX_URL": "https://elsewhere/simple",
        "UV_CONSTRAINT": "/tmp/c.txt",
        "UV_NO_BINARY": "1",
        "UV_LINK_MODE": "copy",
        "REQUESTS_CA_BUNDLE": "/etc/ca.pem",
    }
    env = fast.uv_env(environ, "/cache/uv", fast.Credentials("bot", "s3cret"))
    assert env == {
        "PATH": "/bin",
        "UV_LINK_MODE": "copy",
        "UV_CACHE_DIR": "/cache/uv",
        "REQUESTS_CA_BUNDLE": "/etc/ca.pem",
        "SSL_CERT_FILE": "/etc/ca.pem",
        "UV_INDEX_SPP_USERNAME": "bot",
        "UV_INDEX_SPP_PASSWORD": "s3cret",
    }
    assert "s3cret" not in repr(fast.Credentials("bot", "s3cret"))
    command = fast.uv_command(
        "/uv",
        "/env/bin/python",
        fast.Source("in", "https://in/simple"),
        "/r.txt",
        compile_bytecode=False,
    )
    assert "s3cret" not in " ".join(command)
    assert command[command.index("--default-index") + 1] == "spp=https://in/simple"
    assert {"--no-deps", "--require-hashes", "--no-config"} <= set(command)


def test_uv_s_messages_lose_the_credentials() -> None:
    text = "error: GET https://bot:s3cret@in/simple/six/ failed; token s3cret-xyz"
    assert (
        fast.redact(text, ["s3cret-xyz"])
        == "error: GET https://***@in/simple/six/ failed; token ***"
    )


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def test_what_uv_wrote_becomes_what_poetry_writes(tmp_path: Path) -> None:
    site = tmp_path / "lib" / "site-packages"
    dist = site / "tool-1.0.dist-info"
    (site / "tool" / "__pycache__").mkdir(parents=True)
    dist.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "tool").write_bytes(b"#!/env/bin/python\n# uv's launcher\n")
    (site / "tool" / "__init__.py").write_text("")
    (site / "tool" / "tool").write_bytes(b"data named as the script")  # stays as it is
    (site / "tool" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"shipped")
    (dist / "REQUESTED").write_text("")
    (dist / "entry_points.txt").write_text("[console_scripts]\ntool = tool.cli:main\n")
    rows = [
        ["../../bin/tool", "sha256=uv", "33"],
        ["tool/__init__.py", _record_hash(b""), "0"],
        ["tool/tool", "sha256=d", "24"],
        ["tool/__pycache__/x.cpython-311.pyc", "sha256=x", "7"],
        ["tool-1.0.dist-info/REQUESTED", _record_hash(b""), "0"],
        ["tool-1.0.dist-info/entry_points.txt", "sha256=e", "40"],
        ["tool-1.0.dist-info/RECORD", "", ""],
    ]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    (dist / "RECORD").write_text(text.getvalue())

    python = bin_dir / "python"
    fast.as_poetry_writes_it(dist, str(python))

    launcher = (bin_dir / "tool").read_bytes()
    assert launcher.startswith(f"#!{python}\n# -*- coding: utf-8 -*-\nimport re\n".encode())
    assert (site / "tool" / "tool").read_bytes() == b"data named as the script"
    assert b"from tool.cli import main" in launcher
    assert not (dist / "REQUESTED").exists()
    assert not (site / "tool" / "__pycache__" / "x.cpython-311.pyc").exists()
    assert (dist / "RECORD").read_text().splitlines() == [
        f"../../bin/tool,{_record_hash(launcher)},{len(launcher)}",
        f"tool/__init__.py,{_record_hash(b'')},0",
        "tool/tool,sha256=d,24",
        "tool-1.0.dist-info/entry_points.txt,sha256=e,40",
        "tool-1.0.dist-info/RECORD,,",
    ]


def test_installed_distributions_are_found_by_canonical_name(tmp_path: Path) -> None:
    purelib, platlib = tmp_path / "purelib", tmp_path / "platlib"
    for where, name in ((purelib, "Foo_Bar.baz-1.0"), (platlib, "numpy-2.2.6"), (purelib, "x")):
        (where / f"{name}.dist-info").mkdir(parents=True)
    (purelib / "six-1.0.dist-info.txt").write_text("")
    found = fast.dist_infos([str(purelib), str(platlib), str(tmp_path / "missing")])
    assert found == {
        "foo-bar-baz": [purelib / "Foo_Bar.baz-1.0.dist-info"],
        "numpy": [platlib / "numpy-2.2.6.dist-info"],
        "": [purelib / "x.dist-info"],
    }


def test_uv_s_failure_is_one_line_with_its_labels() -> None:
    """uv 0.13's output for a file whose hash the lock lacks, as it printed it."""
    output = (
        "Using Python 3.11.7 environment at: v9\n"
        "Resolved 1 package in 52ms\n"
        "error: Failed to download `six==1.17.0`\n"
        "  cause: Hash mismatch for `six==1.17.0`\n\n"
        "         Expected:\n           sha256:" + "0" * 64 + "\n\n"
        "         Computed:\n           sha256:4721f391\n"
    )
    assert fast.failure(output) == (
        "error: Failed to download `six==1.17.0` cause: Hash mismatch for `six==1.17.0`"
        f" Expected: sha256:{'0' * 64} Computed: sha256:4721f391"
    )
    assert fast.failure("") == ""
