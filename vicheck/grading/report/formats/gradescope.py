"""``<name>.gradescope.json``: Gradescope's ``results.json`` (written to its file, never to stdout).

Format: https://gradescope-autograders.readthedocs.io/en/latest/specs/#output-format
"""

from __future__ import annotations

import json
from pathlib import Path

from vicheck.grading.report.formats import StudentContext, student_format
from vicheck.grading.report.formats import _gradescope_spec as gradescope_spec
from vicheck.grading.report.formats._text import hidden_notice, property_output, summary_line
from vicheck.grading.report.outputs import write_text_atomic
from vicheck.grading.report.records import GradeReport, PropertyResult

__all__ = ["write_gradescope"]


@student_format("gradescope", suffix=".gradescope.json", help="Gradescope's results.json")
def write_gradescope(report: GradeReport, path: Path, ctx: StudentContext) -> None:
    lines = [summary_line(report)]
    if not report.complete:
        running = f" while `{report.running}` was running" if report.running else ""
        lines.append(f"Grading did not finish{running}; properties not reached score 0.")
    if report.errors:
        lines.append("Problems met while grading:")
        lines.extend(f"- {e}" for e in report.errors)
    notice = hidden_notice(report)
    if notice:
        lines.append(notice)
    tests = [
        {
            "name": p.name,
            "number": str(i),
            "score": float(p.earned),
            "max_score": float(p.weight),
            "status": "passed" if p.passed else "failed",
            "output": property_output(p),
            "output_format": "text",
            "tags": [p.category, *p.functions],
            "visibility": "hidden" if p.visibility == "hidden" else "visible",
            "extra_data": _test_extra(p),
        }
        for i, p in enumerate(report.properties, 1)
    ]
    data = {
        "score": float(report.score),
        # whole seconds, as Gradescope's own example writes it
        "execution_time": round(ctx.seconds),
        "output": "\n".join(lines),
        "output_format": "text",
        # Gradescope's default, said outright: the assignment's "hide results" switch still wins over it
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        # Gradescope keeps extra_data with the result: how the submission was run, for a disputed grade
        "extra_data": {
            "isolation": report.isolation or "unknown",
            "resources": report.resources or "unknown",
            "profile": report.profile,
            "rubric": report.rubric,
            "submission_sha256": report.submission_sha256,
        },
    }
    problems = gradescope_spec.problems(data)
    if problems:  # a bug of this writer: say it where the instructor looks, never upload a file Gradescope misreads
        raise ValueError("results.json departs from Gradescope's format: " + "; ".join(problems))
    # allow_nan=False: NaN is not JSON, and Gradescope would refuse the whole file
    write_text_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def _test_extra(p: PropertyResult) -> dict[str, object]:
    """Why a property has no verdict of its own, and an error carried forward: kept for a disputed grade."""
    extra: dict[str, object] = {}
    if p.reason:
        extra["reason"] = p.reason
    if p.missing:
        extra["missing"] = list(p.missing)
    if p.carried_forward:
        extra["carried_forward"] = p.carried_forward
    return extra
