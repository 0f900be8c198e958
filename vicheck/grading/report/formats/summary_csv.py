"""``summary.csv``: one row per submission, for the instructor's own scripts."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from vicheck.grading.report.context import ClassContext
from vicheck.grading.report.formats import class_format
from vicheck.grading.report.formats._text import num
from vicheck.grading.report.outputs import write_text_atomic

__all__ = ["SUMMARY_COLUMNS", "write_summary_csv"]

SUMMARY_COLUMNS: tuple[str, ...] = ("submission", "score", "max_score", "percent", "failed", "errors", "complete")


@class_format("summary.csv", help="one row per submission: score, maximum, percent, failed properties, errors")
def write_summary_csv(ctx: ClassContext, path: Path) -> None:
    """``submission, score, max_score, percent, failed, errors, complete``; ``failed`` lists the properties
    not passed, ``;``-separated."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    for s in ctx.students:
        r = s.report
        failed = ";".join(p.name for p in r.properties if not p.passed)
        writer.writerow(
            [s.name, num(r.score), num(r.max_score), f"{r.percent:g}", failed, len(r.errors), str(r.complete).lower()]
        )
    write_text_atomic(path, buf.getvalue())
