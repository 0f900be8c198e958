"""The suite's vocabulary, read by the grader too: property categories and Hypothesis profiles.

Kept free of imports so that reading it (the rubric, the grader's option choices) costs nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CATEGORIES", "PROFILES"]

#: the property categories (each also a pytest marker, so ``-m correctness`` selects), with what they mean
CATEGORIES: dict[str, str] = {
    "correctness": "the property checks a value the lecture asks for (counts for the grade)",
    "robustness": "the property checks behaviour at extreme or invalid inputs",
}

#: Hypothesis profiles: dev is quick and random; ci and grade are derandomized with no example database,
#: so the same implementation gets the same verdicts on every run and machine.
PROFILES: dict[str, dict[str, Any]] = {
    "dev": {"derandomize": False, "scale": 0.25},
    "ci": {"derandomize": True, "database": None, "scale": 1.0},
    "grade": {"derandomize": True, "database": None, "scale": 1.0},
}
