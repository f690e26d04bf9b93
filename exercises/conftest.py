"""Give each exercise test the implementation to check: the student's stubs, or (in CI) the solutions.

`pytest exercises` checks your own `exercise.py`; `MOSSLITE_EXERCISES=solutions pytest exercises` checks the
reference solutions in `exercises/solutions/`, which is what CI runs.
"""

import importlib
import os
from pathlib import Path

import pytest


def _chapter_of(path: Path) -> str:
    return path.parent.name  # e.g. "ch03_transformer"


@pytest.fixture
def impl(request):
    chapter = _chapter_of(Path(str(request.node.fspath)))
    if os.environ.get("MOSSLITE_EXERCISES", "") == "solutions":
        return importlib.import_module(f"exercises.solutions.{chapter}")
    return importlib.import_module(f"exercises.{chapter}.exercise")
