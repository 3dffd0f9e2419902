"""Where things are in this checkout, for tests in any folder."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "setup_poetry_parallel"
FIXTURES = REPO / "tests" / "fixtures"
