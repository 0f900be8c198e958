"""What several formats say the same way: a number, a property's status, the score line, the hidden-property
notice, a property's output (its message and counterexample)."""

from __future__ import annotations

import re

from vicheck.grading.report.records import GradeReport, PropertyResult

__all__ = ["fence", "hidden_notice", "num", "property_output", "status", "summary_line"]


def num(x: float) -> str:
    return f"{x:g}"


def status(p: PropertyResult) -> str:
    """passed, failed, not run or pending."""
    if p.passed:
        return "passed"
    return p.status if p.status in ("not run", "pending") else "failed"


def fence(text: str) -> str:
    """A markdown code fence longer than any run of backticks in ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def hidden_notice(report: GradeReport) -> str:
    """The sentence about hidden properties left out ("" when none were)."""
    n = report.hidden_left_out
    if n <= 0:
        return ""
    what = "1 hidden property was" if n == 1 else f"{n} hidden properties were"
    return (
        f"{what} not run (self-check): passing every visible property is not the final grade; "
        "the hidden ones run only in the final grading."
    )


def property_output(p: PropertyResult) -> str:
    parts = []
    if p.message:
        parts.append(p.message)
    if p.counterexample:
        parts.append(f"Minimal counterexample:\n{p.counterexample}")
    if not parts:
        parts.append("passed" if p.passed else status(p))
    return "\n\n".join(parts)


def summary_line(report: GradeReport) -> str:
    passed = sum(p.passed for p in report.properties)
    return (
        f"Score {num(report.score)} / {num(report.max_score)} ({report.percent:g}%): "
        f"{passed} of {len(report.properties)} properties passed."
    )
