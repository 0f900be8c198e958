"""``<name>.junit.xml``: JUnit XML. A pytest run writes its own (``--junitxml``); this form is for a run that
ended before pytest could (killed at the time limit) and for a submission that never ran."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from vicheck.grading.report.formats import StudentContext, student_format
from vicheck.grading.report.formats._text import property_output, status
from vicheck.grading.report.outputs import write_text_atomic
from vicheck.grading.report.records import GradeReport

__all__ = ["write_junit"]


@student_format("junit", suffix=".junit.xml", run_option="--junitxml", help="JUnit XML, one test case per property")
def write_junit(report: GradeReport, path: Path, ctx: StudentContext) -> None:
    """One testcase per property (not-run ones are skipped), and one error case for the grading errors."""
    failures = sum(1 for p in report.properties if status(p) == "failed")
    skipped = sum(1 for p in report.properties if status(p) in ("not run", "pending"))
    errors = len(report.errors)
    head = (
        f'<testsuite name="vicheck" tests="{len(report.properties)}" failures="{failures}" '
        f'errors="{errors}" skipped="{skipped}" time="{ctx.seconds:.3f}">'
    )
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<testsuites>", head]
    for p in report.properties:
        attrs = f'classname={quoteattr("properties")} name={quoteattr(p.name)} time="{p.seconds:.3f}"'
        verdict = status(p)
        if verdict == "passed":
            lines.append(f"<testcase {attrs}/>")
        elif verdict == "failed":
            body = escape(property_output(p))
            lines.append(f"<testcase {attrs}><failure message={quoteattr(p.message)}>{body}</failure></testcase>")
        else:
            lines.append(f"<testcase {attrs}><skipped message={quoteattr(p.message or verdict)}/></testcase>")
    if report.errors:
        body = escape("\n".join(report.errors))
        lines.append(
            f'<testcase classname="vicheck" name="grading"><error message={quoteattr(report.errors[0])}>'
            f"{body}</error></testcase>"
        )
    lines += ["</testsuite>", "</testsuites>", ""]
    write_text_atomic(path, "\n".join(lines))
