r"""Gradescope's ``results.json``, as its documentation specifies it: the fields, their types, the enums.

Source: "Autograder Specifications", section "Output format"
(https://gradescope-autograders.readthedocs.io/en/latest/specs/#output-format). Every field is optional there,
with two rules: ``score`` is required at the top level unless every test has one, and ``tests`` is required
unless there is a top-level ``score``. :func:`problems` checks a parsed file against those rules and also
refuses what the documentation does not name, since Gradescope ignores an unknown or misspelled key silently.
:func:`parse` reads the bytes as Gradescope's JSON parser would: ``NaN`` and ``Infinity``, which Python's
``json`` writes by default, are not JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["OUTPUT_FORMATS", "STATUSES", "TEST_FIELDS", "TOP_FIELDS", "VISIBILITIES", "parse", "problems"]

#: "Output String Formatting": how ``output`` (and a test's ``output`` and ``name``) is rendered
OUTPUT_FORMATS = frozenset({"text", "html", "simple_format", "md", "ansi"})
#: "Controlling test case visibility"
VISIBILITIES = frozenset({"hidden", "after_due_date", "after_published", "visible"})
#: "Test case status": overrides the pass/fail drawn from score and max_score
STATUSES = frozenset({"passed", "failed"})

_NUMBER = "number"
_STRING = "string"
_OBJECT = "object"
_LIST = "list"

TOP_FIELDS: Mapping[str, str] = {
    "score": _NUMBER,
    "execution_time": _NUMBER,
    "output": _STRING,
    "output_format": "output_format",
    "test_output_format": "output_format",
    "test_name_format": "output_format",
    "visibility": "visibility",
    "stdout_visibility": "visibility",
    "extra_data": _OBJECT,
    "tests": _LIST,
    "leaderboard": _LIST,
}
TEST_FIELDS: Mapping[str, str] = {
    "score": _NUMBER,
    "max_score": _NUMBER,
    "status": "status",
    "name": _STRING,
    "name_format": "output_format",
    "number": _STRING,
    "output": _STRING,
    "output_format": "output_format",
    "tags": "tags",
    "visibility": "visibility",
    "extra_data": _OBJECT,
}
_ENUMS: Mapping[str, frozenset[str]] = {
    "output_format": OUTPUT_FORMATS,
    "visibility": VISIBILITIES,
    "status": STATUSES,
}


def parse(data: bytes) -> Any:
    """The JSON in ``data``; ``ValueError`` for what is not strict JSON (``NaN``, ``Infinity``, bad UTF-8)."""

    def refuse(token: str) -> float:
        raise ValueError(f"{token} is not JSON (Gradescope cannot read it)")

    return json.loads(data.decode("utf-8"), parse_constant=refuse)


def _kind_problem(where: str, kind: str, value: object) -> str | None:
    if kind == _NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{where} must be a number, not {type(value).__name__}"
        if not math.isfinite(value):
            return f"{where} must be finite, not {value}"
        if value < 0 and where.endswith("execution_time"):
            return f"{where} must not be negative"
        return None
    if kind == _STRING:
        return None if isinstance(value, str) else f"{where} must be a string, not {type(value).__name__}"
    if kind == _OBJECT:
        return None if isinstance(value, dict) else f"{where} must be an object, not {type(value).__name__}"
    if kind == _LIST:
        return None if isinstance(value, list) else f"{where} must be a list, not {type(value).__name__}"
    if kind == "tags":
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            return f"{where} must be a list of strings"
        return None
    allowed = _ENUMS[kind]
    if value not in allowed:
        return f"{where} is {value!r}; Gradescope allows {', '.join(sorted(allowed))}"
    return None


def _fields(where: str, obj: Mapping[str, object], spec: Mapping[str, str]) -> list[str]:
    found = []
    for key, value in obj.items():
        if key not in spec:
            found.append(f"{where}{key} is not a field of Gradescope's format")
            continue
        problem = _kind_problem(f"{where}{key}", spec[key], value)
        if problem:
            found.append(problem)
    return found


def problems(results: object) -> list[str]:
    """Every way ``results`` (a parsed ``results.json``) departs from Gradescope's format; ``[]`` when none."""
    if not isinstance(results, dict):
        return [f"results.json must hold an object, not {type(results).__name__}"]
    found = _fields("", results, TOP_FIELDS)
    tests = results.get("tests")
    if "score" not in results and not isinstance(tests, list):
        found.append("results.json needs a top-level score or a list of tests")
    if not isinstance(tests, list):
        return found
    for i, test in enumerate(tests):
        where = f"tests[{i}]."
        if not isinstance(test, dict):
            found.append(f"tests[{i}] must be an object, not {type(test).__name__}")
            continue
        found.extend(_fields(where, test, TEST_FIELDS))
        if "score" not in results and "score" not in test:
            found.append(f"{where}score is required when there is no top-level score")
    for i, entry in enumerate(results.get("leaderboard") or []):
        if not isinstance(entry, dict) or "name" not in entry or "value" not in entry:
            found.append(f"leaderboard[{i}] must be an object with a name and a value")
    return found
