"""Fixtures shared by several test modules of the project's own tests."""

from __future__ import annotations

import pytest

from tests.corpus_grades import grade_corpus


@pytest.fixture(scope="session")
def corpus_grades(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The corpus graded once for the session (see :mod:`tests.corpus_grades`): each report, by name."""
    return grade_corpus(tmp_path_factory.mktemp("corpus"))
