"""``<name>.gradescope.json``: Gradescope's ``results.json`` (written to its file, never to stdout).

Format: https://gradescope-autograders.readthedocs.io/en/latest/specs/#output-format
"""

from __future__ import annotations

import json
from pathlib import Path

from vicheck.grading.report.formats import StudentContext, student_format
from vicheck.grading.report.formats._text import hidden_notice, property_output, summary_line
from vicheck.grading.report.outputs import write_text_atomic
from vicheck.grading.report.records import GradeReport

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
            "score": float(p.weight if p.passed else 0.0),
            "max_score": float(p.weight),
            "status": "passed" if p.passed else "failed",
            "output": property_output(p),
            "visibility": "hidden" if p.visibility == "hidden" else "visible",
        }
        for p in report.properties
    ]
    data = {
        "score": float(report.score),
        "execution_time": float(ctx.seconds),
        "output": "\n".join(lines),
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
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")
