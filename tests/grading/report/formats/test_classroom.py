"""GitHub Classroom's autograding result (``<name>.classroom.json``) against the fields its grading reporter
reads (classroom-resources/autograding-grading-reporter: ``src/main.js``, ``src/notify-classroom.js``,
``src/console-results.js``; the result as its graders write it, e.g. autograding-io-grader's ``src/main.js``)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from tests.grading.report.formats.test_student_formats import make_report
from vicheck.grading.report.formats import StudentContext, choose_formats, student_formats
from vicheck.grading.report.formats.classroom import MESSAGE_CHARS, classroom_result, write_classroom
from vicheck.grading.report.records import GradeReport, PropertyResult

STATUSES = {"pass", "fail", "error"}
#: each test's fields, with their JSON types, as the graders write them
TEST_FIELDS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "status": (str,),
    "score": (int, float),
    "message": (str, type(None)),
    "test_code": (str,),
    "filename": (str,),
    "line_no": (int,),
    "execution_time": (str,),
}


def validate(result: Any) -> None:
    """What the reporter needs of a result: ``version`` 1, ``status``, ``max_score`` and ``tests`` with the
    graders' fields; the score it posts (the sum of the tests' scores) never above ``max_score``."""
    assert isinstance(result, dict)
    assert set(result) == {"version", "status", "max_score", "tests"}
    assert result["version"] == 1
    assert result["status"] in STATUSES
    assert isinstance(result["max_score"], (int, float)) and result["max_score"] >= 0
    assert isinstance(result["tests"], list) and result["tests"]
    for test in result["tests"]:
        assert set(test) == set(TEST_FIELDS), test
        for name, types in TEST_FIELDS.items():
            assert isinstance(test[name], types), (name, test[name])
        assert test["status"] in STATUSES
        assert test["execution_time"].endswith("s")
        assert 0 <= test["score"]
    assert sum(t["score"] for t in result["tests"]) <= result["max_score"]
    # the reporter's own reading: base64 of the JSON in <RUNNER>_RESULTS
    encoded = base64.b64encode(json.dumps(result).encode()).decode()
    assert json.loads(base64.b64decode(encoded)) == result


def test_registered_as_an_optional_student_format() -> None:
    fmt = student_formats()["classroom"]
    assert fmt.suffix == ".classroom.json" and not fmt.default and not fmt.required
    chosen, _ = choose_formats(None)
    assert "classroom" not in {f.name for f in chosen}
    chosen, _ = choose_formats(["classroom"])
    assert "classroom" in {f.name for f in chosen}


def test_result_has_the_reporters_fields(tmp_path: Path) -> None:
    path = tmp_path / "alice.classroom.json"
    write_classroom(make_report(), path, StudentContext(seconds=3.5))
    result = json.loads(path.read_text())
    validate(result)
    assert result["status"] == "fail" and result["max_score"] == 7.0
    tests = {t["name"]: t for t in result["tests"]}
    assert tests["kl1_matches_closed_form"]["status"] == "pass" and tests["kl1_matches_closed_form"]["score"] == 3.0
    assert tests["kl1_matches_closed_form"]["message"] == ""
    failed = tests["lp_transformed_integrates_to_one[exp-Gamma]"]
    assert failed["status"] == "fail" and failed["score"] == 0.0
    assert (
        "0.73" in failed["message"] and "Minimal counterexample:\nlp_transformed(xs=tensor([0.5])" in failed["message"]
    )
    assert (
        failed["filename"] == "alice.py" and failed["test_code"] == "vicheck check alice.py --function lp_transformed"
    )
    # a property without a verdict of its own is an error; a hidden one says nothing of what it checks
    hidden = tests["kl2_unbiased"]
    assert hidden["status"] == "error" and "time limit" not in hidden["message"] and "hidden" in hidden["message"]
    assert sum(t["score"] for t in result["tests"]) == 4.0


def test_all_passed_is_pass() -> None:
    report = make_report(errors=[])
    report.properties = [p for p in report.properties if p.passed]
    result = classroom_result(report)
    validate(result)
    assert result["status"] == "pass" and all(t["status"] == "pass" for t in result["tests"])
    assert sum(t["score"] for t in result["tests"]) == result["max_score"] == 4.0


def test_a_check_that_could_not_run_is_an_error_with_its_reason() -> None:
    report = GradeReport(submission="alice.py", complete=True)
    report.add_error("grader_failure", "the check could not run: --function: not a function of the lecture: nope")
    result = classroom_result(report, 0.5)
    validate(result)
    assert result["status"] == "error" and result["max_score"] == 0.0
    assert "not a function of the lecture: nope" in result["tests"][0]["message"]


def test_an_unfinished_run_is_an_error() -> None:
    result = classroom_result(make_report(complete=False, running="kl2_slow"))
    validate(result)
    assert result["status"] == "error"


def test_long_messages_are_cut() -> None:
    prop = PropertyResult("p", ["sigmoid"], "correctness", 1.0, False, message="x" * 50_000, status="failed")
    result = classroom_result(GradeReport(submission="a.py", properties=[prop], complete=True))
    validate(result)
    assert len(result["tests"][0]["message"]) <= MESSAGE_CHARS
