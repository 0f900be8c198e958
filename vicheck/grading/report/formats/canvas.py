"""``canvas.csv``: the class's grades in the form of Canvas's gradebook import.

Canvas Instructor Guide, *How do I import grades in the Gradebook?* (and *How do I export grades in the
Gradebook?* for the columns): the header ``Student,ID,SIS User ID,SIS Login ID,Section,<assignment>``; then
the ``Points Possible`` row (its first cell ``"    Points Possible"``, indented as Canvas exports it; the
assignment's cell the class's maximum score), then one row per student of the roster, in the roster's order,
with the cells the roster gave. Canvas matches a row to its student by ``ID`` (then the SIS columns); a column
named for no existing assignment creates one with that name (``ctx.assignment``).

The grade cell is the score where a submission was matched to the student and graded; it is **empty, never
0**, for a student with no submission, one whose submissions conflict (:mod:`~vicheck.grading.report.roster`),
and one whose report is no grade (``report.grader_failed``): Canvas leaves an empty cell's grade as it is, and
the instructor decides. Text cells that a spreadsheet would run as a formula (a first ``=``, ``+``, ``-``,
``@``) get a ``'`` before them (see :mod:`~vicheck.grading.report.formats._gradebook`).
"""

from __future__ import annotations

from pathlib import Path

from vicheck.grading.report.context import ClassContext
from vicheck.grading.report.formats import class_format
from vicheck.grading.report.formats._gradebook import csv_text, max_points, roster_rows, safe, score_cell
from vicheck.grading.report.outputs import write_text_atomic

__all__ = ["CANVAS_COLUMNS", "POINTS_POSSIBLE", "write_canvas_csv"]

CANVAS_COLUMNS: tuple[str, ...] = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
#: the first cell of the row that holds each assignment's maximum (Canvas indents it with four spaces)
POINTS_POSSIBLE = "    Points Possible"


@class_format(
    "canvas.csv",
    roster="canvas",
    help="Canvas gradebook import: one row per roster student, the score (empty where there is no grade)",
)
def write_canvas_csv(ctx: ClassContext, path: Path) -> None:
    """Write the Canvas gradebook import of ``ctx`` (which needs a Canvas roster) to ``path``."""
    rows_in = roster_rows(ctx, "canvas", "canvas.csv")
    rows: list[list[str]] = [[*CANVAS_COLUMNS, safe(ctx.assignment)]]
    rows.append([POINTS_POSSIBLE, "", "", "", "", max_points(ctx.students)])
    for student, report in rows_in:
        cells = (student.name, student.id, student.sis_user_id, student.sis_login_id, student.section)
        rows.append([*(safe(c) for c in cells), score_cell(report)])
    write_text_atomic(path, csv_text(rows))
