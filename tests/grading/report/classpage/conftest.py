"""The graded class most of the class page's tests draw."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.grading.report.classpage.classdir import build_class


@pytest.fixture
def class_dir(tmp_path: Path) -> Path:
    """A graded class as `vicheck grade` leaves it, plus the odd files a real folder collects."""
    return build_class(tmp_path / "grades")
