"""The examples for other CI systems (examples/<ci>/): what can be checked without their runners.

None of these runs here (no Codefresh, Jenkins, CircleCI, Buildkite or Azure runner exists
offline; GitLab's example has its own real test). What is checked: each file says so in its
header; each YAML file parses, and CircleCI's, Buildkite's and Azure's validate against the JSON
schemas that check-jsonschema vendors (their own linters need their services); each calls the
CLI only in its safe forms (`-- CMD`, or a `--format` written to a file), never `eval "$(...)"`;
and no shell text has the CI's template syntax in it, which the CI would paste into the script
before the shell sees it (a value with a quote or `;` would become code). Each rule has a
control: the same file with one such line put back is refused. The README's Renovate config
validates against Renovate's schema and finds the Poetry pin in every example.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.repo import REPO

EXAMPLES = REPO / "examples"
README = REPO / "README.md"


@dataclass(frozen=True)
class Example:
    path: str  # under examples/
    conventional: str  # where it lives in a user's repository (Renovate's file patterns)
    schema: str | None  # check-jsonschema's vendored schema, where one exists
    templates: tuple[str, ...]  # regexes of the CI's text substitution, banned in shell text


EXAMPLES_HERE = (
    Example("codefresh/codefresh.yml", "codefresh.yml", None, (r"\$\{\{",)),
    Example("jenkins/Jenkinsfile", "Jenkinsfile", None, (r"\$\{",)),  # Groovy "${...}"
    Example("circleci/config.yml", ".circleci/config.yml", "vendor.circle-ci", (r"<<",)),
    # Buildkite interpolates $VAR and ${VAR} at upload: the shell's must be written $$VAR.
    Example(
        "buildkite/pipeline.yml",
        ".buildkite/pipeline.yml",
        "vendor.buildkite",
        (r"\{\{", r"(?<!\$)\$(?!\$)[{A-Za-z_]"),
    ),
    # Azure's macro $(var) and template ${{ }}: its scripts use no $( at all.
    Example(
        "azure-pipelines/azure-pipelines.yml",
        "azure-pipelines.yml",
        "vendor.azure-pipelines",
        (r"\$\(", r"\$\{\{"),
    ),
)
IDS = [e.path.split("/")[0] for e in EXAMPLES_HERE]
SHELL_KEYS = frozenset({"commands", "command", "script"})
# The CLI as a command (bare, by path, or quoted), then its flags.
CLI = re.compile(r"(?:^|[\s/\"])setup-poetry-parallel\"?\s+(?P<args>--.*)", re.S)


def shell_texts(example: Example, text: str) -> list[str]:
    """Every piece of shell the CI would run: `sh` bodies of a Jenkinsfile, else the strings
    under commands/command/script keys of the YAML."""
    if example.path.endswith("Jenkinsfile"):
        return [m.group(2) for m in re.finditer(r"\bsh\s+('''|\"\"\"|'|\")(.*?)\1", text, re.S)]
    found: list[str] = []

    def walk(node: object, under_shell: bool) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, under_shell or key in SHELL_KEYS)
        elif isinstance(node, list):
            for item in node:
                walk(item, under_shell)
        elif isinstance(node, str) and under_shell:
            found.append(node)

    walk(yaml.safe_load(text), False)
    return found


def unquoted_expansions(shell: str) -> list[str]:
    """The `$NAME`, `${...}` and `$(...)` that the shell would split and glob: those outside
    double quotes (single quotes expand nothing; comments are skipped; `$(...)` is scanned as
    a script of its own)."""
    found: list[str] = []

    def scan(i: int, stop: str) -> int:
        quoted = False
        while i < len(shell):
            c = shell[i]
            if c == "\\":
                i += 2
            elif quoted:
                if c == '"':
                    quoted = False
                elif shell.startswith("$(", i):
                    i = scan(i + 2, ")") - 1
                i += 1
            elif stop and c == stop:
                return i + 1
            elif c == "#" and (i == 0 or shell[i - 1] in " \t\n"):
                end = shell.find("\n", i)
                i = len(shell) if end < 0 else end
            elif c == "'":
                i = shell.index("'", i + 1) + 1
            elif c == '"':
                quoted, i = True, i + 1
            elif m := re.match(r"\$(\(|\{[^}]*\}|[A-Za-z_]\w*)", shell[i:]):
                found.append(m.group(0))
                i = scan(i + 2, ")") if m.group(1) == "(" else i + len(m.group(0))
            else:
                i += 1
        return i

    scan(0, "")
    return found


def as_the_shell_gets_it(example: Example, shell: str) -> str:
    """Buildkite hands `$$` to the shell as `$` (its own interpolation is at upload)."""
    return shell.replace("$$", "$") if example.path.startswith("buildkite/") else shell


def problems(example: Example, text: str) -> list[str]:
    """What makes the file unsafe or off the README's way of using the CLI."""
    out: list[str] = []
    header = re.match(r"(?:\s*(?://|#).*\n)*", text)
    if not header or "NOT RUN HERE" not in header.group(0):
        out.append("the header comment does not say NOT RUN HERE")
    if example.path.endswith("Jenkinsfile") and re.search(r"\bsh\s+\"", text):
        out.append('a double-quoted Groovy sh "...": Groovy interpolates it into the shell')
    texts = shell_texts(example, text)
    calls = 0
    for shell in texts:
        for pattern in example.templates:
            if m := re.search(pattern, shell):
                out.append(f"CI template syntax {m.group(0)!r} in shell text: {shell[:60]!r}")
        if unquoted := unquoted_expansions(as_the_shell_gets_it(example, shell)):
            out.append(f"unquoted expansions {unquoted}: a value would be split and globbed")
        if re.search(r"eval\s+\"?\$\(\s*\S*setup-poetry-parallel", shell):
            out.append("eval of the CLI's output: a failed setup would be hidden")
        for m in CLI.finditer(shell):
            args = m.group("args")
            if args.startswith("--version"):
                continue
            calls += 1
            safe = " -- " in args or re.search(r"--format (json|dotenv|sh)\b.*>", args, re.S)
            if not safe:
                out.append(f"the CLI without `-- CMD` or a file for its output: {args[:60]!r}")
    if not calls:
        out.append("no setup-poetry-parallel call in the shell text")
    return out


@pytest.mark.parametrize("example", EXAMPLES_HERE, ids=IDS)
def test_example_is_marked_not_run_and_uses_the_cli_safely(example: Example) -> None:
    text = (EXAMPLES / example.path).read_text()
    assert problems(example, text) == []


# Controls: each example with one unsafe line put back is refused by the same check.
UNSAFE = {
    "codefresh": ('--python-version "$PY"', "--python-version ${{PY}}"),
    "jenkins": (
        "sh '''\n                    python3 -m venv",
        'sh """\n                    python3 -m venv',
    ),
    "circleci": ('--python-version "$PY"', "--python-version << parameters.python >>"),
    "buildkite": ('--python-version "$$PY"', '--python-version "$PY"'),
    "azure-pipelines": ('--python-version "$PYTHON_VERSION"', "--python-version $(python.version)"),
}


@pytest.mark.parametrize("example", EXAMPLES_HERE, ids=IDS)
def test_control_a_template_pasted_into_the_shell_is_refused(example: Example) -> None:
    text = (EXAMPLES / example.path).read_text()
    old, new = UNSAFE[example.path.split("/")[0]]
    assert old in text
    assert problems(example, text.replace(old, new, 1)) != []


@pytest.mark.parametrize("example", EXAMPLES_HERE, ids=IDS)
def test_control_an_unquoted_value_is_refused(example: Example) -> None:
    text = (EXAMPLES / example.path).read_text()
    quoted = re.search(r'--python-version "(\$+[A-Z_]+)"', text)
    assert quoted
    unquoted = text.replace(quoted.group(0), f"--python-version {quoted.group(1)}", 1)
    assert any("unquoted" in p for p in problems(example, unquoted))


def test_the_quoting_scanner_on_known_lines() -> None:
    assert unquoted_expansions('a "$X" \'$Y\' $Z ${W} "$(b $V)" $(c "$U") # $T') == [
        "$Z",
        "${W}",
        "$V",
        "$(",
    ]


@pytest.mark.parametrize("example", EXAMPLES_HERE, ids=IDS)
def test_control_eval_or_a_bare_setup_is_refused(example: Example) -> None:
    text = (EXAMPLES / example.path).read_text()
    bare = re.sub(r"\s+(\\\s+)?-- (sh -c|tox)", r" ; \2", text, count=1)
    assert bare != text
    assert any("without `-- CMD`" in p for p in problems(example, bare))
    evaled = text.replace(
        "--poetry-version", 'x; eval "$(setup-poetry-parallel)" --poetry-version', 1
    )
    assert any("eval" in p for p in problems(example, evaled))


def schema_errors(schema: str, data: object) -> list[str]:
    """Errors of `data` against one of the CI schemas that check-jsonschema vendors (a test
    dependency), checked in-process with jsonschema (Python's regex dialect, which Azure's
    patterns need)."""
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    loaded = json.loads((vendored / f"{schema.removeprefix('vendor.')}.json").read_text())
    validator = jsonschema.validators.validator_for(loaded)(loaded)
    return [f"{e.json_path}: {e.message}"[:300] for e in validator.iter_errors(data)]


@pytest.mark.parametrize("example", [e for e in EXAMPLES_HERE if e.schema], ids=lambda e: e.path)
def test_example_validates_against_its_ci_schema(example: Example) -> None:
    assert example.schema
    data = yaml.safe_load((EXAMPLES / example.path).read_text())
    assert schema_errors(example.schema, data) == []
    # Control: the schema is really applied (the jobs or steps as a number fail it).
    data["steps" if "steps" in data else "jobs"] = 5
    assert schema_errors(example.schema, data) != []


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES_HERE if e.path.endswith(".yml")], ids=lambda e: e.path
)
def test_yaml_example_parses(example: Example) -> None:
    assert isinstance(yaml.safe_load((EXAMPLES / example.path).read_text()), dict)


def test_every_ci_example_is_checked_here() -> None:
    """GitLab's has its own real test (test_gitlab_ci_real.py); every other one is in the table."""
    on_disk = {
        str(p.relative_to(EXAMPLES))
        for p in EXAMPLES.rglob("*")
        if p.is_file() and p.relative_to(EXAMPLES).parts[0] not in ("workflows", "gitlab-ci")
    }
    assert on_disk == {e.path for e in EXAMPLES_HERE}


def test_readme_lists_every_ci_example() -> None:
    text = README.read_text()
    table = text.split("<!-- ci-examples -->")[1].split("<!-- /ci-examples -->")[0]
    listed = set(re.findall(r"\]\(examples/([^)]+)\)", table))
    on_disk = {
        str(p.relative_to(EXAMPLES))
        for p in EXAMPLES.rglob("*")
        if p.is_file()
        and p.parts[len(EXAMPLES.parts)] != "workflows"
        and (p.name.endswith(".yml") or p.name == "Jenkinsfile")
    }
    assert listed == on_disk


# --- the README's Renovate config ---------------------------------------------------------------


def renovate_config() -> dict[str, list[dict[str, object]]]:
    text = README.read_text()
    section = text.split("### Keeping Poetry and the action current")[1]
    found = re.search(r"```json\n(.*?)```", section, re.S)
    assert found
    config: dict[str, list[dict[str, object]]] = json.loads(found.group(1))
    return config


def as_python(pattern: str) -> re.Pattern[str]:
    """Renovate's (JavaScript) named groups `(?<name>` in Python's spelling."""
    return re.compile(pattern.replace("(?<", "(?P<"))


def pins_found(path: str, text: str) -> list[str]:
    versions = []
    for manager in renovate_config()["customManagers"]:
        files = [str(f) for f in manager["managerFilePatterns"]]  # type: ignore[attr-defined]
        if any(as_python(f.strip("/")).search(path) for f in files):
            for match in manager["matchStrings"]:  # type: ignore[attr-defined]
                versions += [m.group("currentValue") for m in as_python(match).finditer(text)]
    return versions


def test_readme_renovate_config_validates_against_renovates_schema() -> None:
    assert schema_errors("vendor.renovate", renovate_config()) == []
    # Control: a manager of a kind Renovate does not have is refused.
    broken = renovate_config()
    broken["customManagers"][0]["customType"] = "regexp"
    assert schema_errors("vendor.renovate", broken) != []


@pytest.mark.parametrize("example", EXAMPLES_HERE, ids=IDS)
def test_readme_renovate_config_finds_the_poetry_pin_of_each_example(example: Example) -> None:
    text = (EXAMPLES / example.path).read_text()
    assert pins_found(example.conventional, text)
    assert set(pins_found(example.conventional, text)) == {"2.5.1"}
    # Control: under a name Renovate was not told about, nothing is found.
    assert pins_found("docs/" + Path(example.conventional).name + ".txt", text) == []


def test_readme_renovate_config_finds_the_workflows_poetry_version_inputs() -> None:
    for workflow in sorted((EXAMPLES / "workflows").glob("*.yml")):
        exact = re.findall(r"poetry-version:\s*\"?(\d+\.\d+\.\d+)\b", workflow.read_text())
        found = pins_found(f".github/workflows/{workflow.name}", workflow.read_text())
        assert found == exact, workflow.name
