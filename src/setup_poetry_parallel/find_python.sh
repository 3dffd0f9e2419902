#!/usr/bin/env bash
# The engine's host Python for action.yml: a Python >= 3.11 with pip that is the same for every
# job on the host (never the matrix one), so that jobs share one Poetry install.
# actions/setup-python only adds to PATH and the tool cache, so host-wide places come first.
#
# Writes `python=<path>` to $GITHUB_OUTPUT; warnings and errors are workflow commands on stdout.
# SPP_HOST_PYTHONS (space-separated) replaces the host-wide candidates; tests set it.
# Tested on a table of host layouts by tests/test_find_python.py.
set -u

# Python >= 3.11 with pip: the engine's dependencies are installed with `pip install --target`.
usable() {
  "$1" -c 'import sys, importlib.util as u; sys.exit(sys.version_info < (3, 11) or not u.find_spec("pip"))' 2>/dev/null
}

first_usable() {
  local candidate
  for candidate in "$@"; do
    if [ -x "$candidate" ] && usable "$candidate"; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

find_host_python() {
  # System, then Homebrew (Apple silicon; Intel's is /usr/local/bin).
  # shellcheck disable=SC2086  # a list of paths, split on purpose
  first_usable ${SPP_HOST_PYTHONS-/usr/bin/python3 /usr/local/bin/python3 /opt/homebrew/bin/python3} && return 0
  if [ -n "${RUNNER_TOOL_CACHE:-}" ]; then
    # Newest first; Linux/macOS keep bin/python3, Windows python.exe.
    local cached
    cached=$(ls -d "$RUNNER_TOOL_CACHE"/Python/3.*/*/bin/python3 "$RUNNER_TOOL_CACHE"/Python/3.*/*/python.exe 2>/dev/null | sort -rV)
    # shellcheck disable=SC2086
    [ -n "$cached" ] && first_usable $cached && return 0
  fi
  if command -v py >/dev/null 2>&1; then  # the Windows launcher knows the installed Pythons
    local launched
    launched=$(py -3 -c 'import sys; print(sys.executable)' 2>/dev/null) && first_usable "$launched" && return 0
  fi
  return 1
}

main() {
  local python name
  if ! python=$(find_host_python); then
    # Last resort: whatever is first on PATH, which may be the matrix Python.
    for name in python3 python; do
      if command -v "$name" >/dev/null 2>&1 && usable "$(command -v "$name")"; then
        python=$(command -v "$name")
        echo "::warning title=setup-poetry-parallel::no host-wide Python 3.11+ with pip found; the engine runs on $python"
        break
      fi
    done
  fi
  if [ -z "${python:-}" ]; then
    echo "::error title=setup-poetry-parallel::the engine needs Python 3.11+ on the host; add actions/setup-python with 3.12 before this action"
    return 1
  fi
  echo "python=$python" >> "$GITHUB_OUTPUT"
}

main
