"""``moodle.csv``: Moodle's CSV grade import drawn from a graded folder and a Moodle roster."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from vicheck.grading.report import formats
from vicheck.grading.report.context import ClassContext, ClassOptions
from vicheck.grading.report.folder import load_reports
from vicheck.grading.report.formats._gradebook import feedback_text
from vicheck.grading.report.formats.moodle import write_moodle_csv
from vicheck.grading.report.records import GradeReport, PropertyResult
from vicheck.grading.report.roster import read_roster

MOODLE = (
    "\ufeffFirst name,Last name,ID number,Institution,Department,Email address,"
    '"Assignment: HW 1 (Real)","Last downloaded from this course"\n'
    "Alice,Archer,S-0001,Uni,Maths,alice@uni.edu,-,1700000000\n"
    '"Bob, Jr.",Baker,S-0002,Uni,Maths,bob@uni.edu,-,1700000000\n'
    "+Carol,-Clark,-0003,Uni,Maths,carol@uni.edu,-,1700000000\n"
    "Dan,Dunn,S-0004,Uni,Maths,dan@uni.edu,-,1700000000\n"
)


def _prop(name: str, ok: bool, message: str = "", *, weight: float = 5.0) -> PropertyResult:
    return PropertyResult(
        name, ["elbo"], "core", weight, passed=ok, message=message, status="passed" if ok else "failed"
    )


def _reports() -> dict[str, GradeReport]:
    alice = GradeReport(
        "alice.py",
        [
            _prop("elbo_finite", True),
            _prop("elbo_bound", False, "=cmd|' /C calc'!A0 is not <= log evidence\nsecond line\nthird"),
        ],
        complete=True,
    )
    bob = GradeReport("bob.py", [_prop("elbo_finite", True), _prop("elbo_bound", True)], complete=True)
    carol = GradeReport("carol.py", [_prop("elbo_finite", False, "crashed")], complete=True)
    carol.add_error("grader_failure", "the grader failed: out of memory")
    return {"alice_uni.edu": alice, "bob": bob, "carol": carol}


def _context(tmp_path: Path, *, key: str = "email", feedback: bool = False) -> ClassContext:
    out = tmp_path / "HW1"
    out.mkdir()
    for name, report in _reports().items():
        report.write(out / f"{name}.json")
    roster_path = tmp_path / "grades.csv"
    roster_path.write_text(MOODLE, encoding="utf-8")
    options = ClassOptions(assignment="HW 1", moodle_key=key, moodle_feedback=feedback)
    return ClassContext(load_reports(out), roster=read_roster(roster_path), options=options)


def _rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def test_keyed_by_email_without_feedback(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    assert ctx.matches is not None
    assert dict(ctx.matches.routes) == {"alice_uni.edu": "email", "bob": "email_local", "carol": "email_local"}
    assert ctx.matches.missing == ("Dan Dunn",) and ctx.matches.unmatched == ()
    write_moodle_csv(ctx, ctx.folder / "moodle.csv")
    assert _rows(ctx.folder / "moodle.csv") == [
        ["First name", "Last name", "Email address", "HW 1"],
        ["Alice", "Archer", "alice@uni.edu", "5"],
        ["Bob, Jr.", "Baker", "bob@uni.edu", "10"],
        ["'+Carol", "'-Clark", "carol@uni.edu", ""],  # grader failure: empty, not 0; names formula-safe
        ["Dan", "Dunn", "dan@uni.edu", ""],  # no submission: empty, not 0
    ]


def test_keyed_by_idnumber_with_feedback(tmp_path: Path) -> None:
    ctx = _context(tmp_path, key="idnumber", feedback=True)
    write_moodle_csv(ctx, ctx.folder / "moodle.csv")
    rows = _rows(ctx.folder / "moodle.csv")
    assert rows[0] == ["First name", "Last name", "ID number", "HW 1", "Feedback"]
    assert [r[:4] for r in rows[1:]] == [
        ["Alice", "Archer", "S-0001", "5"],
        ["Bob, Jr.", "Baker", "S-0002", "10"],
        ["'+Carol", "'-Clark", "'-0003", ""],
        ["Dan", "Dunn", "S-0004", ""],
    ]
    alice_feedback = rows[1][4]
    assert alice_feedback.splitlines() == [
        "Score 5 / 10 (50%): 1 of 2 properties passed.",
        "elbo_bound: failed: =cmd|' /C calc'!A0 is not <= log evidence",
    ]
    assert rows[2][4] == "Score 10 / 10 (100%): 2 of 2 properties passed."
    assert rows[3][4] == "" and rows[4][4] == ""  # no grade, no feedback


def test_no_feedback_cell_starts_a_formula(tmp_path: Path) -> None:
    ctx = _context(tmp_path, feedback=True)
    write_moodle_csv(ctx, ctx.folder / "moodle.csv")
    for row in _rows(ctx.folder / "moodle.csv"):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), cell


def test_feedback_is_short(tmp_path: Path) -> None:
    many = GradeReport("x.py", [_prop(f"p{i}", False, "x" * 500) for i in range(20)], complete=True)
    text = feedback_text(many)
    lines = text.splitlines()
    assert len(lines) == 10  # the score line, 8 properties, "... and 12 more"
    assert lines[-1].startswith("... and 12 more")
    assert all(len(line) < 200 for line in lines)


def test_unknown_key_and_missing_roster_are_refused(tmp_path: Path) -> None:
    ctx = _context(tmp_path, key="username")
    with pytest.raises(ValueError, match="username"):
        write_moodle_csv(ctx, ctx.folder / "moodle.csv")
    bare = ClassContext(ctx.reports)
    with pytest.raises(ValueError, match="Moodle roster"):
        write_moodle_csv(bare, ctx.folder / "moodle.csv")
    assert not (ctx.folder / "moodle.csv").exists()


def test_registered_as_a_moodle_roster_format() -> None:
    fmt = formats._CLASS["moodle.csv"]
    assert fmt.roster == "moodle" and fmt.write is write_moodle_csv
