"""Set up Poetry so that parallel jobs on one host or one shared volume never race."""

from __future__ import annotations

__version__ = "1.0.0"

# Where the error handler sends bug reports.
ISSUES = "https://github.com/setup-poetry-parallel/setup-poetry-parallel/issues"
