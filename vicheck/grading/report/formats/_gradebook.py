"""What the gradebook exports (``canvas.csv``, ``moodle.csv``) share: the roster match, the score cell (empty,
never 0, where there is no grade), a text cell safe from spreadsheet formulas, the short feedback text.

CSV injection: a spreadsheet (Excel, LibreOffice, Google Sheets) runs a cell that begins with ``=``, ``+``,
``-`` or ``@`` (and, in some, a tab or carriage return) as a formula. A student chooses their own name and, in
part, what their code prints, so every *text* cell these files hold (names, IDs, emails, the assignment's name,
feedback) is written with a ``'`` before such a first character (OWASP, *CSV Injection*); score cells are
numbers this module formats and are written as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from vicheck.grading.report.context import ClassContext
from vicheck.grading.report.folder import StudentReport
from vicheck.grading.report.formats._text import summary_line
from vicheck.grading.report.records import GradeReport
from vicheck.grading.report.roster import RosterMatch, RosterStudent

__all__ = ["csv_text", "feedback_text", "max_points", "points", "roster_rows", "safe", "score_cell"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: at most this many failed properties are listed in a feedback cell, each message cut to this many characters
_FEEDBACK_PROPERTIES = 8
_FEEDBACK_LINE = 160


def safe(text: str) -> str:
    """``text`` as a spreadsheet shows it, never runs it: ``'`` before a first character that starts a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def points(x: float) -> str:
    """A number of points as a gradebook reads it: ``7.5``, ``10``, never an exponent."""
    text = f"{x:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def score_cell(report: GradeReport | None) -> str:
    """The grade cell: the score, or "" where there is no grade (no submission, or the grader failed)."""
    if report is None or report.grader_failed:
        return ""
    return points(report.score)


def max_points(students: Sequence[StudentReport]) -> str:
    """The class's maximum score (the largest of the graded reports', else of all), "" with no report."""
    graded = [s.report.max_score for s in students if not s.report.grader_failed]
    every = graded or [s.report.max_score for s in students]
    return points(max(every)) if every else ""


def roster_rows(ctx: ClassContext, kind: str, fmt: str) -> list[tuple[RosterStudent, GradeReport | None]]:
    """Every roster student in roster order with the report of the submission given to them (``None``: none).
    ``ValueError`` when the context has no roster of ``kind``."""
    match: RosterMatch | None = ctx.matches
    if ctx.roster is None or match is None or ctx.roster.kind != kind:
        raise ValueError(f"{fmt} needs a {kind.capitalize()} roster (--roster)")
    reports = {s.name: s.report for s in ctx.students}
    return [(student, reports.get(name) if name else None) for student, name in match.by_student]


def feedback_text(report: GradeReport | None) -> str:
    """A short plain-text feedback: the score line, then each failed property with its message's first line
    ("" where there is no grade)."""
    if report is None or report.grader_failed:
        return ""
    lines = [summary_line(report)]
    failed = [p for p in report.properties if not p.passed]
    for p in failed[:_FEEDBACK_PROPERTIES]:
        first = next((ln.strip() for ln in p.message.splitlines() if ln.strip()), "")
        if len(first) > _FEEDBACK_LINE:
            first = first[: _FEEDBACK_LINE - 3] + "..."
        hidden = " (hidden)" if p.visibility == "hidden" else ""
        state = "not run" if p.status in ("not run", "pending") else "failed"
        lines.append(f"{p.name}{hidden}: {state}" + (f": {first}" if first else ""))
    if len(failed) > _FEEDBACK_PROPERTIES:
        lines.append(f"... and {len(failed) - _FEEDBACK_PROPERTIES} more (see the full feedback)")
    return "\n".join(lines)


def csv_text(rows: Sequence[Sequence[str]]) -> str:
    """``rows`` as CSV (RFC 4180 quoting, ``\\r\\n`` line ends as Canvas and Moodle export them)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()
