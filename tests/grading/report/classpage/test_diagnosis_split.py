"""The class page with diagnosed reports: the function table tells "fails on its own" from "fails through a
helper", and each property row says how many of its failures went through a helper. Reports without a
diagnosis (every report written before it existed, the golden class) leave the page as it was."""

from __future__ import annotations

from pathlib import Path

from vicheck.grading.report.classpage import class_statistics, render_html, render_markdown
from vicheck.grading.report.diagnosis import carry_forward
from vicheck.grading.report.folder import ClassReports, StudentReport
from vicheck.grading.report.records import GradeReport, PropertyResult


def _prop(name: str, function: str, reached: tuple[str, ...], passed: bool) -> PropertyResult:
    return PropertyResult(
        name=name,
        functions=[function],
        category="correctness",
        weight=1.0,
        passed=passed,
        status="passed" if passed else "failed",
        reached={f: 1 for f in (function, *reached)},
    )


def _student(tmp_path: Path, name: str, integrate_ok: bool, dkl_ok: bool) -> StudentReport:
    props = [
        _prop("integrate_exact", "integrate", (), integrate_ok),
        _prop("dkl_exact", "DKL_QP", ("integrate",), integrate_ok and dkl_ok),
    ]
    report = GradeReport(submission=f"{name}.py", properties=props, complete=True)
    carry_forward(report, enabled=False)
    return StudentReport(name, report, tmp_path / f"{name}.json")


def test_functions_and_properties_split_own_failures_from_consequences(tmp_path: Path) -> None:
    students = [
        _student(tmp_path, "ann", integrate_ok=False, dkl_ok=True),  # integrate wrong: DKL_QP fails through it
        _student(tmp_path, "bob", integrate_ok=True, dkl_ok=False),  # DKL_QP wrong on its own
        _student(tmp_path, "cat", integrate_ok=True, dkl_ok=True),
    ]
    st = class_statistics(ClassReports(tmp_path, students))
    assert st.diagnosed
    functions = {f.name: f for f in st.functions}
    assert (functions["integrate"].own, functions["integrate"].through) == (1, 0)
    assert (functions["DKL_QP"].own, functions["DKL_QP"].through) == (1, 1)
    props = {p.name: p for p in st.properties}
    assert (props["dkl_exact"].failed, props["dkl_exact"].consequences) == (2, 1)
    assert props["integrate_exact"].consequences == 0
    md = render_markdown(st)
    assert "| fails on its own | fails through a helper |" in md
    assert "| 2 (1 through a helper) |" in md
    html = render_html(st)
    assert '<th class="n">fails through a helper</th>' in html
    assert '<span class="note consequences">(1 through a helper)</span>' in html


def test_undiagnosed_reports_keep_the_page_as_it_was(tmp_path: Path) -> None:
    report = GradeReport(submission="a.py", properties=[_prop("x", "integrate", (), False)], complete=True)
    st = class_statistics(ClassReports(tmp_path, [StudentReport("a", report, tmp_path / "a.json")]))
    assert not st.diagnosed
    assert "fails on its own" not in render_markdown(st) and "fails on its own" not in render_html(st)
