"""``<name>.classroom.json``: the result GitHub Classroom's autograding reporter reads.

Format: the result object of GitHub Classroom's grader actions, which the reporter action
(https://github.com/classroom-resources/autograding-grading-reporter, ``src/main.js``,
``src/notify-classroom.js``, ``src/console-results.js``) receives base64-encoded in ``<RUNNER>_RESULTS``, as
written by ``classroom-resources/autograding-io-grader`` (``src/main.js``) and
``autograding-python-grader``::

    {"version": 1, "status": "pass" | "fail" | "error", "max_score": N,
     "tests": [{"name", "status", "score", "message", "test_code", "filename", "line_no", "execution_time"}]}

The reporter posts the sum of the tests' ``score`` over ``max_score`` to GitHub Classroom, prints each test's
name and, for one that is not ``pass``, its ``message``, and fails the job when ``status`` is ``fail`` or
``error``. Here a test is a property: its score the rubric's weight when it passed, its message the failure
(what was called, expected, got, what the check assumes) and the minimal counterexample; ``status`` is
``error`` for a property with no verdict of its own (not run: a time limit, or the grader failed) and for
the whole result when grading did not finish. ``test_code`` is the command that runs the property again.
A hidden property (a full grading run's report; a self-check has none) keeps its status and score but not
its message: the job's log is the student's to read.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from vicheck.grading.report.formats import StudentContext, student_format
from vicheck.grading.report.formats._text import property_output, summary_line
from vicheck.grading.report.outputs import write_text_atomic
from vicheck.grading.report.records import GradeReport, PropertyResult

__all__ = ["MESSAGE_CHARS", "classroom_result", "write_classroom"]

#: the result's format version (the reporter's ``version``)
VERSION = 1
#: the longest message kept per test: the result travels as a step output (a few MB at most per job)
MESSAGE_CHARS = 4000


def _status(p: PropertyResult) -> str:
    if p.passed:
        return "pass"
    return "error" if p.status in ("not run", "pending") else "fail"


def _message(p: PropertyResult) -> str:
    if p.visibility == "hidden":
        return "" if p.passed else "hidden property: what it checks is shown after the final grading"
    if p.passed:
        return ""
    text = p.message or property_output(p)
    example = p.counterexample.strip()
    if example and example not in text:  # the message's "input:" line is the counterexample, most often
        text += f"\n\nMinimal counterexample:\n{example}"
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 20] + "\n... (cut)"


def _test_code(report: GradeReport, p: PropertyResult) -> str:
    functions = " ".join(f"--function {shlex.quote(f)}" for f in p.functions)
    return f"vicheck check {shlex.quote(Path(report.submission).name or report.submission)} {functions}".strip()


def classroom_result(report: GradeReport, seconds: float = 0.0) -> dict[str, Any]:
    """The reporter's result object for ``report``."""
    tests: list[dict[str, Any]] = [
        {
            "name": p.name,
            "status": _status(p),
            "score": float(p.weight if p.passed else 0.0),
            "message": _message(p),
            "test_code": _test_code(report, p),
            "filename": Path(report.submission).name,
            "line_no": 0,
            "execution_time": f"{p.seconds:.2f}s",
        }
        for p in report.properties
    ]
    if report.grader_failed or not report.properties:
        status = "error"
        problems = "; ".join(report.errors) or "no property ran"
        # the reporter shows a test's message, not the result's: the reason goes in a test of its own
        tests.append(
            {
                "name": "vicheck",
                "status": "error",
                "score": 0.0,
                "message": f"{summary_line(report)} {problems}"[:MESSAGE_CHARS],
                "test_code": _test_code(report, PropertyResult("", [], "", 0.0)),
                "filename": Path(report.submission).name,
                "line_no": 0,
                "execution_time": f"{seconds:.2f}s",
            }
        )
    elif all(t["status"] == "pass" for t in tests):
        status = "pass"
    else:
        status = "fail"
    return {"version": VERSION, "status": status, "max_score": float(report.max_score), "tests": tests}


@student_format(
    "classroom",
    suffix=".classroom.json",
    default=False,
    help="GitHub Classroom's autograding result (for its grading reporter action)",
)
def write_classroom(report: GradeReport, path: Path, ctx: StudentContext) -> None:
    write_text_atomic(path, json.dumps(classroom_result(report, ctx.seconds), indent=2) + "\n")
