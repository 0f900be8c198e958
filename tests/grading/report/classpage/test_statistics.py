"""What the class page shows, computed from the reports: failure shapes, the submissions that need a look and
why, each function's use, the roster's loose ends. What went wrong is read from the reports' kind fields, never
from their wording; a report written before those fields is classified as it always was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.grading.report.classpage.classdir import (
    NOW,
    OFF_BY,
    PROPS,
    TIME_LIMIT,
    build_varied_class,
    failed,
    make_legacy,
    not_loaded,
    not_run,
    write_report,
)
from tests.grading.report.classpage.pages import FakeMatch, reports
from vicheck.grading.report.classpage import (
    LOOK_KINDS,
    NUMBER_PLACEHOLDER,
    RosterStats,
    class_statistics,
    message_shape,
)
from vicheck.grading.report.folder import load_reports
from vicheck.grading.report.records import ERROR_KINDS, GradeReport


def _kinds(folder: Path) -> dict[str, set[str]]:
    st = class_statistics(load_reports(folder), now=NOW)
    return {f.student: set(f.kinds) for f in st.needs_look}


def test_message_shape_replaces_numbers_only() -> None:
    shape = message_shape("kl_divergence_1 off by 1e-06 at x=-3.5 (float32, 7 points, .5)\n  input: 99")
    assert shape == f"kl_divergence_1 off by {'<n>'} at x={'<n>'} (float32, {'<n>'} points, {'<n>'})"
    assert message_shape(f"{OFF_BY} 0.25 at a=-4.0") == message_shape(f"{OFF_BY} 7 at a=-4")
    assert message_shape("a 2.5E+3 b") == f"a {NUMBER_PLACEHOLDER} b"


def test_load_reports_skips_what_is_not_a_report(class_dir: Path) -> None:
    loaded = load_reports(class_dir)
    names = [s.name for s in loaded.students]
    assert names == sorted(reports(class_dir))
    assert "summary" not in names and "alice.gradescope" not in names and "notes" not in names
    assert len(loaded.skipped) == 2
    assert any(n.startswith("notes.json") for n in loaded.skipped)
    assert any(n.startswith("broken.json") for n in loaded.skipped)
    judy = next(s.report for s in loaded.students if s.name == "judy")
    statuses = {p.name: p.status for p in judy.properties}
    assert statuses["sigmoid_matches_logistic"] == "failed" and statuses["kl2_finite"] == "passed"
    with pytest.raises(FileNotFoundError):
        load_reports(class_dir / "missing")


def test_look_kinds_are_the_error_kinds_labels_in_their_order() -> None:
    assert LOOK_KINDS == tuple(ERROR_KINDS.values())
    assert LOOK_KINDS[0] == "grader failure" and LOOK_KINDS[-1] == "other error"


def test_every_kind_of_trouble_is_told_apart(tmp_path: Path) -> None:
    folder = build_varied_class(tmp_path / "grades")
    st = class_statistics(load_reports(folder), now=NOW)
    looks = {f.student: f for f in st.needs_look}
    assert {name: set(f.kinds) for name, f in looks.items()} == {
        "erin": {"notebook cell"},
        "frank": {"time limit"},
        "grace": {"grader failure"},
        "heidi": {"isolation event"},
        "ivan": {"load error"},
        "kim": {"load error"},
        "leo": {"load error"},
        "mallory": {"other error"},
        "nina": {"grader failure"},
        "olga": {"not gradable"},
    }
    # the report is incomplete and says while what: the page says so, as a grader failure
    assert looks["nina"].problems == (
        ("grader failure", "the report is incomplete: grading did not finish while kl2_finite was running"),
    )
    # no error says leo did not load: the properties' reason does, and the first property's message is shown
    assert looks["leo"].problems[0][1].startswith("not graded: the submission did not load (RuntimeError")
    # nina's report is not a grade; the unfinished and the failed run are left out of the distribution
    assert set(st.scores.excluded) == {"grace", "nina"}
    kl1 = next(f for f in st.functions if f.name == "kl_divergence_1")
    # ivan lacks it; kim and leo did not load, and define nothing that can be seen
    assert kl1.students - kl1.defined == 3


def test_the_kind_decides_not_the_wording(tmp_path: Path) -> None:
    """A rewording of an error or a property's message changes nothing the page classifies."""
    stopped = {p: ("not run", "stopped early", "", "time_limit", []) for p in ("kl1_matches_exact", "kl2_finite")}
    write_report(tmp_path, "frank", stopped)
    write_report(tmp_path, "grace", errors=[("grader_failure", "pytest went away (status 4)")])
    write_report(tmp_path, "heidi", errors=[("isolation_event", "the child was restarted after a signal")])
    write_report(tmp_path, "erin", errors=[("notebook_cell", "the third cell raised FileNotFoundError")])
    # words that an older grader's sentences would have put in other kinds
    write_report(tmp_path, "ivan", errors=[("load_error", "the grader failed to import foo: time limit")])
    write_report(tmp_path, "olga", errors=[("not_gradable", "line 1: a PDF")])
    write_report(tmp_path, "kim", {"kl1_matches_exact": ("failed", "could not import it", "", "not_loaded", [])})
    dave = {"sigmoid_matches_logistic": ("failed", "sigmoid is not there", "", "missing", ["sigmoid"])}
    write_report(tmp_path, "dave", dave)
    # and a message in the old words with no reason to go with it is a plain failure
    write_report(tmp_path, "erik", {"kl2_finite": failed("submission defines no `kl_divergence_2`")})
    write_report(tmp_path, "liv", {"kl2_finite": failed("not graded: the submission did not load (no)")})
    assert _kinds(tmp_path) == {
        "frank": {"time limit"},
        "grace": {"grader failure"},
        "heidi": {"isolation event"},
        "erin": {"notebook cell"},
        "ivan": {"load error"},
        "olga": {"not gradable"},
        "kim": {"load error"},
    }
    st = class_statistics(load_reports(tmp_path), now=NOW)
    functions = {f.name: f for f in st.functions}
    assert functions["sigmoid"].students - functions["sigmoid"].defined == 1  # dave
    assert functions["kl_divergence_1"].students - functions["kl_divergence_1"].defined == 1  # kim
    assert functions["kl_divergence_2"].students == functions["kl_divergence_2"].defined  # erik and liv define it
    assert "grace" in st.scores.excluded and "ivan" not in st.scores.excluded


def test_a_legacy_report_is_classified_as_before(tmp_path: Path) -> None:
    """Reports written before the kind fields (no ``error_kinds``, no ``reason``/``missing``) are read through
    :meth:`GradeReport.from_json`, which classifies their sentences once: the statistics are those of the same
    class written with its kinds."""
    with_kinds = build_varied_class(tmp_path / "kinds")
    legacy = build_varied_class(tmp_path / "legacy")
    for path in legacy.glob("*.json"):
        if "error_kinds" in path.read_text(encoding="utf-8"):
            make_legacy(path, strip=())  # keep the status: what is under test is the kinds
    data = json.loads((legacy / "frank.json").read_text(encoding="utf-8"))
    assert "error_kinds" not in data and all("reason" not in p for p in data["properties"])
    frank = GradeReport.from_json(data)
    assert frank.error_items()[0][0] == "time_limit"
    assert {p.reason for p in frank.properties if not p.passed} == {"time_limit"}
    ivan = GradeReport.from_json(json.loads((legacy / "ivan.json").read_text(encoding="utf-8")))
    assert ivan.properties[1].reason == "missing" and ivan.properties[1].missing == ["sigmoid", "sigmoid_prime"]
    new = class_statistics(load_reports(with_kinds), now=NOW)
    old = class_statistics(load_reports(legacy), now=NOW)
    assert old.needs_look == new.needs_look
    assert old.functions == new.functions
    assert old.scores == new.scores
    assert [(p.name, p.passed, p.failed, p.not_run, p.groups) for p in old.properties] == [
        (p.name, p.passed, p.failed, p.not_run, p.groups) for p in new.properties
    ]


def test_time_limit_from_the_properties_when_no_error_says_it(tmp_path: Path) -> None:
    write_report(tmp_path, "frank", {p: not_run(TIME_LIMIT, "time_limit") for p in ("kl1_matches_exact", "kl2_finite")})
    st = class_statistics(load_reports(tmp_path), now=NOW)
    assert st.needs_look[0].problems == (("time limit", "2 properties not run: time limit reached"),)


def test_load_error_from_the_errors_is_not_repeated(tmp_path: Path) -> None:
    write_report(tmp_path, "kim", {p: not_loaded("SyntaxError: x") for p in PROPS}, errors=[("load_error", "load: x")])
    st = class_statistics(load_reports(tmp_path), now=NOW)
    assert st.needs_look[0].problems == (("load error", "load: x"),)


def test_roster_statistics(class_dir: Path) -> None:
    assert class_statistics(load_reports(class_dir), now=NOW).roster is None
    match = FakeMatch("canvas", unmatched=["stranger"], missing=["Student, Test"])  # type: ignore[arg-type]
    st = class_statistics(load_reports(class_dir), now=NOW, matches=match)
    assert st.roster == RosterStats("canvas", ("stranger",), ("Student, Test",))
