"""The report's kinds are data: every error has a kind, every property without a verdict of its own a reason;
a report written before those fields existed gets them from its text, once, when it is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vicheck.grading.report.records import (
    ERROR_KINDS,
    GradeReport,
    PropertyResult,
    iso_utc,
    now_utc,
    read_report,
)


def _prop(name: str = "kl1_matches_exact", **kw: object) -> PropertyResult:
    return PropertyResult(name, ["kl_divergence_1"], "correctness", 1.0, **kw)  # type: ignore[arg-type]


def test_an_error_keeps_its_kind_whatever_its_words(tmp_path: Path) -> None:
    report = GradeReport("a.py", [_prop()], complete=True)
    report.add_error("time_limit", "the clock said no")  # no "time limit" in the words
    report.add_error("grader_failure", "pytest exited with status 3")
    report.write(tmp_path / "a.json")
    back = read_report(tmp_path / "a.json")
    assert back.error_items() == [
        ("time_limit", "the clock said no"),
        ("grader_failure", "pytest exited with status 3"),
    ]
    assert back.grader_failed and back.has_error("time_limit") and not back.has_error("load_error")


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown error kind"):
        GradeReport("a.py").add_error("bad luck", "x")


def test_a_property_reason_and_missing_names_round_trip(tmp_path: Path) -> None:
    p = _prop(passed=False, status="failed", message="whatever the grader says now")
    p.reason, p.missing = "missing", ["kl_divergence_1"]
    GradeReport("a.py", [p], complete=True).write(tmp_path / "a.json")
    back = read_report(tmp_path / "a.json").properties[0]
    assert (back.reason, back.missing) == ("missing", ["kl_divergence_1"])


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("the grader failed: pytest exited with status 4; see x.log", "grader_failure"),
        ("cannot grade this submission: `a/b.py` is a symbolic link", "not_gradable"),
        ("load: SubmissionCrashed: exit status 3", "load_error"),
        ("loading a.py failed: killed by SIGKILL", "load_error"),
        ("the submission's time limit was reached (60 s) while kl2 was running", "time_limit"),
        ("cell 3 (`raise X`): ValueError: boom", "notebook_cell"),
        ("line 4 (`import foo`): ModuleNotFoundError: No module named 'foo'", "load_error"),
        ("kl_divergence_2(N(0, 1), N(1, 1)) crashed the child (killed by SIGSEGV); child restarted", "isolation_event"),
        ("something else entirely", "other"),
    ],
)
def test_a_legacy_report_is_classified_from_its_text(tmp_path: Path, error: str, kind: str) -> None:
    """A report written before ``error_kinds`` and ``reason`` existed (no such keys in its JSON)."""
    data = {"submission": "a.py", "properties": [], "errors": [error], "complete": True}
    assert GradeReport.from_json(data).error_items() == [(kind, error)]


@pytest.mark.parametrize(
    ("prop", "reason", "missing"),
    [
        ({"message": "not graded: the submission did not load (load: X: y)", "status": "failed"}, "not_loaded", []),
        ({"message": "submission defines no `sigmoid`, `T`", "status": "failed"}, "missing", ["sigmoid", "T"]),
        (
            {"message": "not run: the submission's time limit was reached while x", "status": "not run"},
            "time_limit",
            [],
        ),
        ({"message": "not run (deselected or interrupted)", "status": "not run"}, "not_run", []),
        ({"message": "KL(p, q) = -0.3 < 0", "status": "failed"}, "", []),
    ],
)
def test_a_legacy_property_gets_its_reason(prop: dict[str, object], reason: str, missing: list[str]) -> None:
    data = {"submission": "a.py", "errors": [], "properties": [{"name": "p", "functions": [], **prop}]}
    back = GradeReport.from_json(data).properties[0]
    assert (back.reason, back.missing) == (reason, missing)


def test_the_json_gives_every_error_a_kind_without_changing_the_report() -> None:
    report = GradeReport("a.py", errors=["cell 1: NameError: x"])  # appended by hand, no kind given
    data = report.to_json()
    assert data["error_kinds"] == ["notebook_cell"] and report.error_kinds == []
    assert set(data["error_kinds"]) <= set(ERROR_KINDS)


@pytest.mark.parametrize("bad", [[], {"submission": 3}, {"submission": "a", "properties": {}}, {"submission": "a"}])
def test_what_is_not_a_report_is_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        GradeReport.from_json(bad)


def test_graded_at_honours_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert iso_utc(now_utc()) == "2023-11-14T22:13:20Z"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert iso_utc(now_utc()).endswith("Z")


def test_written_files_are_readable_by_others(tmp_path: Path) -> None:
    """An atomic write goes through a private temporary file; the result has the mode open() would give."""
    import os

    path = tmp_path / "a.json"
    GradeReport("a.py").write(path)
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
    assert json.loads(path.read_text())["submission"] == "a.py"
