"""``<name>.log``: what the pytest run printed, after the command line that started it."""

from __future__ import annotations

from pathlib import Path

from vicheck.grading.report.formats import StudentContext, student_format
from vicheck.grading.report.outputs import write_text_atomic
from vicheck.grading.report.records import GradeReport


@student_format(
    "log",
    suffix=".log",
    required=True,
    by_run=True,
    help="the pytest run's command line and output (written by the run)",
)
def write_log(report: GradeReport, path: Path, ctx: StudentContext) -> None:
    """A run writes its own log; a submission that never ran gets one that says so."""
    if not path.exists():
        lines = [f"no pytest run for {report.submission}", *report.errors]
        write_text_atomic(path, "\n".join(lines) + "\n")
