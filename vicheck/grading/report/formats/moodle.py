"""``moodle.csv``: the class's grades in the form of Moodle's CSV grade import.

Moodle docs, *Grade import* (Grades > Import > CSV file): the first row names the columns; the instructor
picks the column that identifies the user ("Map from") and the user field it holds ("Map to": email address
or ID number), and maps the grade column to the grade item (and a feedback column to its feedback). Columns:
``First name, Last name`` (to read the file by; map them to nothing), the key (``Email address`` or
``ID number``, as ``ctx.options.moodle_key`` says), the grade column named for the assignment
(``ctx.assignment``), and with ``ctx.options.moodle_feedback`` a ``Feedback`` column: the score line and each
failed property with the first line of its message, in plain text.

One row per student of the roster, in its order. The grade cell is **empty, never 0**, for a student with no
submission, one whose submissions conflict, and one whose report is no grade (``report.grader_failed``);
their feedback cell is empty too. Moodle's import reads an empty grade as "no grade". Text cells that a
spreadsheet would run as a formula (a first ``=``, ``+``, ``-``, ``@``) get a ``'`` before them (see
:mod:`~vicheck.grading.report.formats._gradebook`).
"""

from __future__ import annotations

from pathlib import Path

from vicheck.grading.report.context import ClassContext
from vicheck.grading.report.formats import class_format
from vicheck.grading.report.formats._gradebook import csv_text, feedback_text, roster_rows, safe, score_cell
from vicheck.grading.report.outputs import write_text_atomic

__all__ = ["MOODLE_KEYS", "write_moodle_csv"]

#: ``--moodle-key`` choices and the column each writes
MOODLE_KEYS: dict[str, str] = {"email": "Email address", "idnumber": "ID number"}


@class_format(
    "moodle.csv",
    roster="moodle",
    help="Moodle grade import: one row per roster student keyed by email or ID number, the score, feedback",
)
def write_moodle_csv(ctx: ClassContext, path: Path) -> None:
    """Write the Moodle grade import of ``ctx`` (which needs a Moodle roster) to ``path``."""
    key = ctx.options.moodle_key
    if key not in MOODLE_KEYS:
        raise ValueError(f"moodle key {key!r}: choose one of {', '.join(MOODLE_KEYS)}")
    rows_in = roster_rows(ctx, "moodle", "moodle.csv")
    feedback = ctx.options.moodle_feedback
    header = ["First name", "Last name", MOODLE_KEYS[key], safe(ctx.assignment)]
    rows: list[list[str]] = [header + (["Feedback"] if feedback else [])]
    for student, report in rows_in:
        ident = student.email if key == "email" else student.idnumber
        row = [safe(student.first_name), safe(student.last_name), safe(ident), score_cell(report)]
        if feedback:
            row.append(safe(feedback_text(report)))
        rows.append(row)
    write_text_atomic(path, csv_text(rows))
