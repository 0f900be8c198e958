"""The report writers (Gradescope results.json, markdown feedback, JUnit XML, summary.csv) on synthetic reports."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from vicheck.grading.report.context import ClassContext
from vicheck.grading.report.folder import load_reports
from vicheck.grading.report.formats import StudentContext
from vicheck.grading.report.formats import _gradescope_spec as gradescope_spec
from vicheck.grading.report.formats.feedback_md import write_feedback
from vicheck.grading.report.formats.gradescope import write_gradescope
from vicheck.grading.report.formats.junit import write_junit
from vicheck.grading.report.formats.summary_csv import write_summary_csv
from vicheck.grading.report.records import GradeReport, PropertyResult


def make_report(**overrides: object) -> GradeReport:
    props = [
        PropertyResult(
            "kl1_matches_closed_form",
            ["kl_divergence_1"],
            "correctness",
            3.0,
            True,
            status="passed",
            seconds=0.5,
            description="KL by quadrature matches the closed form for two normals.",
        ),
        PropertyResult(
            "lp_transformed_integrates_to_one[exp-Gamma]",
            ["lp_transformed"],
            "correctness",
            2.0,
            False,
            message="integral of exp(lp_transformed) is 0.73, expected 1\n  input:    lp_transformed(...)\n"
            "  got:      0.73",
            counterexample="lp_transformed(xs=tensor([0.5]), d=Gamma(2., 1.), transform=ExpTransform())\n```x```",
            status="failed",
            description="The transformed density integrates to one: :math:`\\int p = 1` (``N = 500``).",
        ),
        PropertyResult(
            "kl2_unbiased",
            ["kl_divergence_2"],
            "correctness",
            1.0,
            False,
            status="not run",
            message="not run: the submission's time limit was reached while kl2_slow was running",
            visibility="hidden",
            reason="time_limit",
        ),
        PropertyResult("sigmoid_pipe|name", ["sigmoid"], "robustness", 1.0, True, status="passed"),
    ]
    fields: dict[str, object] = {
        "submission": "/subs/alice.py",
        "properties": props,
        "errors": ["line 12 (`import foo`): ModuleNotFoundError: No module named 'foo'"],
        "profile": "grade",
        "hypothesis_seed": "derandomized",
        "versions": {"python": "3.11.7", "torch": "2.3.0"},
        "rubric": "rubric.toml",
        "complete": True,
        "submission_sha256": "ab" * 32,
        "isolation": "namespaces",
    }
    fields.update(overrides)
    return GradeReport(**fields)  # type: ignore[arg-type]


def test_gradescope_schema(tmp_path: Path) -> None:
    path = tmp_path / "results" / "results.json"
    write_gradescope(make_report(), path, StudentContext(seconds=12.5))
    data = json.loads(path.read_text())
    assert gradescope_spec.problems(data) == []
    assert set(data) == set(gradescope_spec.TOP_FIELDS) - {"test_output_format", "test_name_format", "leaderboard"}
    assert data["extra_data"]["isolation"] == "namespaces" and data["extra_data"]["submission_sha256"] == "ab" * 32
    assert data["score"] == 4.0 and data["execution_time"] == 12 and data["stdout_visibility"] == "hidden"
    assert "4 / 7" in data["output"] and "ModuleNotFoundError" in data["output"]
    assert "hidden" not in data["output"]  # nothing was left out
    tests = data["tests"]
    assert [t["name"] for t in tests] == [
        "kl1_matches_closed_form",
        "lp_transformed_integrates_to_one[exp-Gamma]",
        "kl2_unbiased",
        "sigmoid_pipe|name",
    ]
    for t in tests:
        assert set(t) == set(gradescope_spec.TEST_FIELDS) - {"name_format"}
        assert t["output_format"] == "text"
        assert t["status"] in ("passed", "failed") and t["visibility"] in ("visible", "hidden")
    assert [t["number"] for t in tests] == ["1", "2", "3", "4"]
    assert tests[1]["tags"] == ["correctness", "lp_transformed"] and tests[3]["tags"] == ["robustness", "sigmoid"]
    assert tests[0] == {**tests[0], "score": 3.0, "max_score": 3.0, "status": "passed", "visibility": "visible"}
    assert tests[1]["score"] == 0.0 and tests[1]["status"] == "failed"
    assert "0.73" in tests[1]["output"] and "Gamma(2., 1.)" in tests[1]["output"]
    assert tests[2]["status"] == "failed" and tests[2]["visibility"] == "hidden"
    assert "time limit" in tests[2]["output"]
    assert tests[2]["extra_data"] == {"reason": "time_limit"} and tests[0]["extra_data"] == {}


def test_gradescope_hidden_left_out_notice(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_gradescope(make_report(hidden_left_out=3), path, StudentContext(seconds=1.0))
    output = json.loads(path.read_text())["output"]
    assert "3 hidden properties were not run" in output
    assert "not the final grade" in output


def test_gradescope_incomplete_run_is_said(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_gradescope(make_report(complete=False, running="kl2_slow"), path, StudentContext(seconds=1.0))
    assert "kl2_slow" in json.loads(path.read_text())["output"]


def test_feedback_markdown(tmp_path: Path) -> None:
    path = tmp_path / "alice.md"
    write_feedback(make_report(hidden_left_out=1), path, StudentContext())
    text = path.read_text()
    assert text.startswith("# Feedback: alice.py")
    assert "Score 4 / 7" in text
    assert "1 hidden property was not run" in text and "not the final grade" in text
    assert "| `kl1_matches_closed_form` | passed | 3 / 3 |" in text
    assert "| `lp_transformed_integrates_to_one[exp-Gamma]` | **failed** | 0 / 2 |" in text
    assert "`kl2_unbiased` (hidden) | not run" in text
    assert "sigmoid_pipe\\|name" in text  # a pipe does not break the table
    assert "ModuleNotFoundError" in text
    section = text.split("## What went wrong", 1)[1]
    assert "kl1_matches_closed_form" not in section  # only failures are explained
    assert "The transformed density integrates to one: $\\int p = 1$ (`N = 500`)." in section
    assert "*What happened:* integral of exp(lp_transformed) is 0.73, expected 1\n" in section
    assert "```text\n  input:    lp_transformed(...)\n  got:      0.73\n```" in section
    assert "0.73" in section
    # the counterexample holds a ``` run, so the fence is longer
    assert "````text\nlp_transformed(xs=tensor([0.5])" in section and "\n````\n" in section
    assert "time limit was reached while kl2_slow was running" in section
    prov = text.split("## Provenance", 1)[1]
    assert "`grade`" in prov and "derandomized" in prov and "torch 2.3.0" in prov and "ab" * 32 in prov


def test_feedback_all_passed_has_no_failure_section(tmp_path: Path) -> None:
    report = make_report(errors=[])
    report.properties = [p for p in report.properties if p.passed]
    path = tmp_path / "bob.md"
    write_feedback(report, path, StudentContext())
    text = path.read_text()
    assert "What went wrong" not in text and "Problems while" not in text and "Note:" not in text


def test_junit_xml(tmp_path: Path) -> None:
    path = tmp_path / "alice.junit.xml"
    write_junit(make_report(), path, StudentContext(seconds=2.0))
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "4" and suite.get("failures") == "1" and suite.get("skipped") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["lp_transformed_integrates_to_one[exp-Gamma]"].find("failure") is not None
    assert cases["kl2_unbiased"].find("skipped") is not None
    assert cases["grading"].find("error") is not None


def test_summary_csv(tmp_path: Path) -> None:
    """One row per report of the folder, named by its file (the student's name), in name order."""
    make_report().write(tmp_path / "alice.json")
    GradeReport(submission="/subs/carol", errors=["cannot grade", "second"], complete=False).write(
        tmp_path / "carol.json"
    )
    path = tmp_path / "summary.csv"
    write_summary_csv(ClassContext(load_reports(tmp_path)), path)
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == ["submission", "score", "max_score", "percent", "failed", "errors", "complete"]
    assert rows[0]["submission"] == "alice" and rows[1]["submission"] == "carol"
    assert rows[0]["score"] == "4" and rows[0]["max_score"] == "7" and rows[0]["percent"] == "57.1"
    assert rows[0]["failed"] == "lp_transformed_integrates_to_one[exp-Gamma];kl2_unbiased"
    assert rows[0]["errors"] == "1" and rows[0]["complete"] == "true"
    assert rows[1]["percent"] == "0" and rows[1]["errors"] == "2" and rows[1]["complete"] == "false"
