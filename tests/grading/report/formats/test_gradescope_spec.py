"""The check of Gradescope's results.json format: a table of documents, each with the problem it must find."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vicheck.grading.report.formats import _gradescope_spec as spec

GOOD: dict[str, Any] = {
    "score": 3.0,
    "execution_time": 12,
    "output": "Score 3 / 5",
    "output_format": "text",
    "test_output_format": "md",
    "test_name_format": "text",
    "visibility": "after_due_date",
    "stdout_visibility": "hidden",
    "extra_data": {"isolation": "namespaces"},
    "tests": [
        {
            "score": 3.0,
            "max_score": 3.0,
            "status": "passed",
            "name": "kl1_nonnegative",
            "name_format": "text",
            "number": "1.1",
            "output": "passed",
            "output_format": "ansi",
            "tags": ["correctness", "kl_divergence_1"],
            "visibility": "after_published",
            "extra_data": {},
        },
        {"max_score": 2.0, "score": 0.0, "status": "failed", "visibility": "hidden"},
    ],
    "leaderboard": [{"name": "Accuracy", "value": 0.9}, {"name": "Time", "value": 15.1, "order": "asc"}],
}


def test_the_documented_example_has_no_problem() -> None:
    assert spec.problems(GOOD) == []
    assert spec.problems({"score": 1}) == []  # every field is optional but one of score / tests
    assert spec.problems({"tests": [{"score": 1}]}) == []


def _with(path: str, value: object) -> dict[str, Any]:
    doc = json.loads(json.dumps(GOOD))
    target = doc
    *head, last = path.split(".")
    for key in head:
        target = target[int(key)] if key.isdigit() else target[key]
    target[int(last) if last.isdigit() else last] = value
    return doc


BAD = [
    pytest.param(_with("score", "3"), "score must be a number", id="score-as-string"),
    pytest.param(_with("score", True), "score must be a number", id="score-as-bool"),
    pytest.param(_with("execution_time", -1), "execution_time must not be negative", id="negative-time"),
    pytest.param(_with("output_format", "markdown"), "output_format is 'markdown'", id="unknown-output-format"),
    pytest.param(_with("visibility", "public"), "visibility is 'public'", id="unknown-visibility"),
    pytest.param(_with("stdout_visibility", "shown"), "stdout_visibility is 'shown'", id="unknown-stdout-visibility"),
    pytest.param(_with("extra_data", []), "extra_data must be an object", id="extra-data-list"),
    pytest.param(_with("tests", {}), "tests must be a list", id="tests-object"),
    pytest.param(_with("tests.0.status", "error"), "tests[0].status is 'error'", id="test-status-error"),
    pytest.param(_with("tests.0.number", 1), "tests[0].number must be a string", id="test-number-int"),
    pytest.param(_with("tests.0.tags", "correctness"), "tests[0].tags must be a list", id="tags-string"),
    pytest.param(_with("tests.0.max_score", float("nan")), "tests[0].max_score must be finite", id="nan-score"),
    pytest.param(_with("tests.0.visiblity", "hidden"), "tests[0].visiblity is not a field", id="misspelt-field"),
    pytest.param(_with("scores", 1), "scores is not a field", id="misspelt-top-field"),
    pytest.param(_with("tests.1", 3), "tests[1] must be an object", id="test-not-object"),
    pytest.param({"output": "x"}, "needs a top-level score or a list of tests", id="no-score-no-tests"),
    pytest.param({"tests": [{"name": "a"}]}, "tests[0].score is required", id="test-without-score"),
    pytest.param(_with("leaderboard", [{"name": "x"}]), "leaderboard[0] must be an object", id="leaderboard-no-value"),
    pytest.param([GOOD], "must hold an object", id="top-level-list"),
]


@pytest.mark.parametrize(("doc", "problem"), BAD)
def test_each_departure_is_named(doc: object, problem: str) -> None:
    found = spec.problems(doc)
    assert any(problem in p for p in found), found


def test_nan_is_not_json() -> None:
    assert spec.parse(b'{"score": 1.5}') == {"score": 1.5}
    with pytest.raises(ValueError, match="NaN is not JSON"):
        spec.parse(json.dumps({"score": float("nan")}).encode())
