"""Reading Canvas and Moodle roster exports, and matching submissions (output-folder names) to students."""

from __future__ import annotations

from pathlib import Path

import pytest

from vicheck.grading.report.roster import RosterMatch, read_roster, roster_key

# Canvas's "Export Entire Gradebook": BOM, the indented Points Possible row, the manual-posting row, a quoted
# "Last, First" name, a blank line, CRLF line ends, the Test Student
CANVAS = (
    "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Homework 1 (4711),Current Score,Final Score\r\n"
    "    Points Possible,,,,,10.00,(read only),(read only)\r\n"
    ",,,,,Manual Posting,,\r\n"
    '"Smith, Jane",101,S001,jsmith,Section A,8.00,80.00,80.00\r\n'
    '"O\'Brien, Pat",102,S002,pat.obrien@uni.edu,Section A,,,\r\n'
    "\r\n"
    '"Lee, Kim",103,S003,klee,"Section A and Section B",,,\r\n'
    '"Nguyen, An",104,S004,anguyen,Section B,,,\r\n'
    '"Student, Test",9999,,b1946ac9,Section A,,,\r\n'
)

# Moodle's "Export to plain text file": BOM, quoted names with commas
MOODLE = (
    "\ufeffFirst name,Last name,ID number,Institution,Department,Email address,"
    '"Assignment: HW 1 (Real)","Last downloaded from this course"\n'
    "Alice,Archer,S-0001,Uni,Maths,alice.archer@uni.edu,-,1700000000\n"
    '"Bob, Jr.",Baker,S-0002,Uni,Maths,bob@student.uni.edu,-,1700000000\n'
    "Carol,Clark,S-0003,Uni,Maths,carol@uni.edu,-,1700000000\n"
    "\n"
    "Dan,Dunn,S-0004,Uni,Maths,dan@uni.edu,-,1700000000\n"
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def _routes(match: RosterMatch) -> dict[str, str]:
    return dict(match.routes)


def _given(match: RosterMatch) -> dict[str, str | None]:
    return {s.name: sub for s, sub in match.by_student}


def test_roster_key_is_the_graders_sanitisation_lowercased() -> None:
    assert roster_key("pat.obrien@uni.edu") == "pat.obrien_uni.edu"
    assert roster_key("  JSmith ") == "jsmith"
    assert roster_key("._x y._") == "x_y"


def test_canvas_export_is_read_skipping_points_possible_and_manual_posting(tmp_path: Path) -> None:
    roster = read_roster(_write(tmp_path, "canvas.csv", CANVAS))
    assert roster.kind == "canvas"
    names = [s.name for s in roster.students]
    assert names == ["Smith, Jane", "O'Brien, Pat", "Lee, Kim", "Nguyen, An", "Student, Test"]
    jane = roster.students[0]
    assert (jane.id, jane.sis_user_id, jane.sis_login_id, jane.section) == ("101", "S001", "jsmith", "Section A")
    assert roster.students[2].section == "Section A and Section B"


def test_canvas_matching_routes(tmp_path: Path) -> None:
    mapping = _write(tmp_path, "map.csv", "submission,student\nnguyen_final,S004\n")
    roster = read_roster(_write(tmp_path, "canvas.csv", CANVAS), mapping=mapping)
    match = roster.match(["JSmith", "pat.obrien_uni.edu", "103", "nguyen_final", "stranger"])
    assert match.kind == "canvas"
    assert _routes(match) == {
        "JSmith": "sis_login_id",  # case-insensitive
        "pat.obrien_uni.edu": "sis_login_id",  # the roster's key sanitised like a folder name
        "103": "id",
        "nguyen_final": "mapping",  # by SIS User ID
    }
    assert _given(match) == {
        "Smith, Jane": "JSmith",
        "O'Brien, Pat": "pat.obrien_uni.edu",
        "Lee, Kim": "103",
        "Nguyen, An": "nguyen_final",
        "Student, Test": None,
    }
    assert match.unmatched == ("stranger",)
    assert match.missing == ("Student, Test",)
    assert match.conflicts == () and match.problems == ()


def test_canvas_login_id_is_tried_before_the_canvas_id(tmp_path: Path) -> None:
    text = "Student,ID,SIS User ID,SIS Login ID,Section\nAda,200,,300,S\nBea,300,,bea,S\n"
    roster = read_roster(_write(tmp_path, "c.csv", text))
    match = roster.match(["300"])
    assert _given(match) == {"Ada": "300", "Bea": None}
    assert _routes(match) == {"300": "sis_login_id"}


def test_moodle_export_is_read(tmp_path: Path) -> None:
    roster = read_roster(_write(tmp_path, "moodle.csv", MOODLE))
    assert roster.kind == "moodle"
    assert [s.name for s in roster.students] == ["Alice Archer", "Bob, Jr. Baker", "Carol Clark", "Dan Dunn"]
    bob = roster.students[1]
    assert (bob.first_name, bob.last_name, bob.email, bob.idnumber) == (
        "Bob, Jr.",
        "Baker",
        "bob@student.uni.edu",
        "S-0002",
    )


def test_moodle_matching_routes(tmp_path: Path) -> None:
    mapping = _write(tmp_path, "map.csv", "\ufeffsubmission,student\r\ndd_hw1,dan@uni.edu\r\n")
    roster = read_roster(_write(tmp_path, "moodle.csv", MOODLE), mapping=mapping)
    match = roster.match(["alice.archer_uni.edu", "BOB", "s-0003", "dd_hw1", "eve"])
    assert match.kind == "moodle"
    assert _routes(match) == {
        "alice.archer_uni.edu": "email",
        "BOB": "email_local",
        "s-0003": "idnumber",
        "dd_hw1": "mapping",
    }
    assert _given(match) == {
        "Alice Archer": "alice.archer_uni.edu",
        "Bob, Jr. Baker": "BOB",
        "Carol Clark": "s-0003",
        "Dan Dunn": "dd_hw1",
    }
    assert match.unmatched == ("eve",)
    assert match.missing == ()


def test_two_submissions_for_one_student_is_a_conflict_and_neither_is_given(tmp_path: Path) -> None:
    roster = read_roster(_write(tmp_path, "canvas.csv", CANVAS))
    match = roster.match(["jsmith", "101", "klee"])
    assert _given(match)["Smith, Jane"] is None
    assert _given(match)["Lee, Kim"] == "klee"
    assert [(c.student.name, c.submissions) for c in match.conflicts] == [("Smith, Jane", ("jsmith", "101"))]
    assert match.unmatched == ("jsmith", "101")
    assert "Smith, Jane" in match.missing
    assert len(match.problems) == 1
    assert "jsmith" in match.problems[0] and "101" in match.problems[0] and "Smith, Jane" in match.problems[0]
    assert dict(match.routes) == {"klee": "sis_login_id"}


def test_mapping_to_a_student_not_in_the_roster_is_a_problem(tmp_path: Path) -> None:
    mapping = _write(tmp_path, "map.csv", "submission,student\nghost_sub,nobody@uni.edu\n")
    roster = read_roster(_write(tmp_path, "moodle.csv", MOODLE), mapping=mapping)
    match = roster.match(["ghost_sub"])
    assert match.unmatched == ("ghost_sub",)
    assert len(match.problems) == 1
    assert (
        "line 2" in match.problems[0]
        and "nobody@uni.edu" in match.problems[0]
        and "not in the roster" in (match.problems[0])
    )


def test_a_direct_match_wins_over_the_mapping_and_the_disagreement_is_told(tmp_path: Path) -> None:
    mapping = _write(tmp_path, "map.csv", "submission,student\njsmith,klee\n")
    roster = read_roster(_write(tmp_path, "canvas.csv", CANVAS), mapping=mapping)
    match = roster.match(["jsmith"])
    assert _given(match)["Smith, Jane"] == "jsmith"
    assert _given(match)["Lee, Kim"] is None
    assert len(match.problems) == 1 and "Lee, Kim" in match.problems[0]


def test_a_key_shared_by_two_students_matches_neither(tmp_path: Path) -> None:
    text = "First name,Last name,ID number,Email address\nA,One,1,sam@a.edu\nB,Two,2,sam@b.edu\n"
    roster = read_roster(_write(tmp_path, "m.csv", text))
    match = roster.match(["sam"])
    assert match.unmatched == ("sam",)
    assert match.missing == ("A One", "B Two")
    assert len(match.problems) == 1 and "A One" in match.problems[0] and "B Two" in match.problems[0]


def test_a_file_of_neither_kind_is_one_clear_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "class.csv", "name,grade\nalice,3\n")
    with pytest.raises(ValueError) as info:
        read_roster(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message and "SIS Login ID" in message and "Email address" in message


def test_an_empty_file_and_a_non_utf8_file_are_value_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a Canvas"):
        read_roster(_write(tmp_path, "empty.csv", ""))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("First name,Last name,Email address\nJos\xe9,P,j@x.edu\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        read_roster(latin)


def test_a_mapping_file_without_its_header_is_refused(tmp_path: Path) -> None:
    mapping = _write(tmp_path, "map.csv", "ghost,alice@uni.edu\n")
    with pytest.raises(ValueError, match="submission,student"):
        read_roster(_write(tmp_path, "moodle.csv", MOODLE), mapping=mapping)
