"""``canvas.csv``: Canvas's gradebook import drawn from a graded folder and a Canvas roster."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from vicheck.grading.report import formats
from vicheck.grading.report.context import ClassContext, ClassOptions
from vicheck.grading.report.folder import load_reports
from vicheck.grading.report.formats._gradebook import points, safe
from vicheck.grading.report.formats.canvas import POINTS_POSSIBLE, write_canvas_csv
from vicheck.grading.report.records import GradeReport, PropertyResult
from vicheck.grading.report.roster import read_roster

CANVAS = (
    "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Homework 1 (4711)\r\n"
    "    Points Possible,,,,,10.00\r\n"
    '"Smith, Jane",101,S001,jsmith,Section A,\r\n'
    '"=HYPERLINK(""http://evil.example"";""x"")",102,S002,mallory,Section A,\r\n'
    '"Lee, Kim",103,S003,klee,Section B,\r\n'
    '"Nguyen, An",104,S004,anguyen,Section B,\r\n'
    '"Zero, Zed",105,S005,zzero,Section B,\r\n'
    '"Student, Test",9999,,b1946ac9,Section A,\r\n'
)


def _report(name: str, passed: list[bool], *, weight: float = 2.5, failed_grader: bool = False) -> GradeReport:
    props = [
        PropertyResult(f"prop_{i}", ["f"], "core", weight, passed=ok, status="passed" if ok else "failed")
        for i, ok in enumerate(passed)
    ]
    report = GradeReport(submission=f"{name}.py", properties=props, complete=True, graded_at="2024-05-01T10:00:00Z")
    if failed_grader:
        report.add_error("grader_failure", "the grader failed: boom")
    return report


def _context(tmp_path: Path, reports: dict[str, GradeReport], *, assignment: str = "") -> ClassContext:
    out = tmp_path / "hw1"
    out.mkdir()
    for name, report in reports.items():
        report.write(out / f"{name}.json")
    roster_path = tmp_path / "roster.csv"
    roster_path.write_text(CANVAS, encoding="utf-8")
    roster = read_roster(roster_path)
    return ClassContext(load_reports(out), roster=roster, options=ClassOptions(assignment=assignment))


def _rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def test_canvas_import_rows(tmp_path: Path) -> None:
    ctx = _context(
        tmp_path,
        {
            "jsmith": _report("jsmith", [True, True, True, False]),  # 7.5 of 10
            "mallory": _report("mallory", [True, True, True, True]),  # 10
            "103": _report("103", [True, False, False, False], failed_grader=True),  # no grade
            "zzero": _report("zzero", [False, False, False, False]),  # a real 0
            "stranger": _report("stranger", [True, True, True, True]),  # on no roster
        },
    )
    path = ctx.folder / "canvas.csv"
    write_canvas_csv(ctx, path)
    rows = _rows(path)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "hw1"]
    assert rows[1] == [POINTS_POSSIBLE, "", "", "", "", "10"]
    assert rows[2:] == [
        ["Smith, Jane", "101", "S001", "jsmith", "Section A", "7.5"],
        ['\'=HYPERLINK("http://evil.example";"x")', "102", "S002", "mallory", "Section A", "10"],
        ["Lee, Kim", "103", "S003", "klee", "Section B", ""],  # the grader failed: no grade, not 0
        ["Nguyen, An", "104", "S004", "anguyen", "Section B", ""],  # no submission: empty, not 0
        ["Zero, Zed", "105", "S005", "zzero", "Section B", "0"],
        ["Student, Test", "9999", "", "b1946ac9", "Section A", ""],
    ]
    assert ctx.matches is not None and ctx.matches.unmatched == ("stranger",)
    assert path.read_bytes().startswith(b"Student,ID,")  # no BOM, Canvas's own header first


def test_an_incomplete_report_is_no_grade(tmp_path: Path) -> None:
    report = _report("jsmith", [True, True, True, True])
    report.complete = False
    ctx = _context(tmp_path, {"jsmith": report})
    write_canvas_csv(ctx, ctx.folder / "canvas.csv")
    rows = _rows(ctx.folder / "canvas.csv")
    assert rows[2] == ["Smith, Jane", "101", "S001", "jsmith", "Section A", ""]
    assert rows[1][-1] == "10"  # the maximum is still known from the report that is no grade


def test_conflicting_submissions_leave_the_cell_empty(tmp_path: Path) -> None:
    ctx = _context(tmp_path, {"jsmith": _report("jsmith", [True] * 4), "101": _report("101", [False] * 4)})
    write_canvas_csv(ctx, ctx.folder / "canvas.csv")
    assert _rows(ctx.folder / "canvas.csv")[2][-1] == ""


def test_assignment_name_is_the_option_and_formula_safe(tmp_path: Path) -> None:
    ctx = _context(tmp_path, {"jsmith": _report("jsmith", [True])}, assignment="@SUM(A1)")
    write_canvas_csv(ctx, ctx.folder / "canvas.csv")
    rows = _rows(ctx.folder / "canvas.csv")
    assert rows[0][-1] == "'@SUM(A1)"
    assert rows[1][-1] == "2.5"


def test_without_a_canvas_roster_it_refuses(tmp_path: Path) -> None:
    out = tmp_path / "hw1"
    out.mkdir()
    with pytest.raises(ValueError, match="Canvas roster"):
        write_canvas_csv(ClassContext(load_reports(out)), out / "canvas.csv")


def test_safe_and_points() -> None:
    assert [safe(t) for t in ("=1+1", "+1", "-1", "@x", "\tx", "plain", "")] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@x",
        "'\tx",
        "plain",
        "",
    ]
    assert [points(x) for x in (10.0, 7.5, 0.0, 1234567.0, 1 / 3)] == ["10", "7.5", "0", "1234567", "0.3333"]


def test_registered_as_a_canvas_roster_format() -> None:
    # the module is imported above: its decorator registered it (read without importing every format)
    fmt = formats._CLASS["canvas.csv"]
    assert fmt.roster == "canvas" and fmt.write is write_canvas_csv
