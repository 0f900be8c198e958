"""``<name>.json``: the grade report itself (the record every other format is drawn from)."""

from __future__ import annotations

from pathlib import Path

from vicheck.grading.report.formats import StudentContext, student_format
from vicheck.grading.report.records import GradeReport


@student_format(
    "json",
    suffix=".json",
    required=True,
    by_run=True,
    help="the grade report: score, every property's verdict, errors and their kinds, provenance",
)
def write_json(report: GradeReport, path: Path, ctx: StudentContext) -> None:
    report.write(path)
