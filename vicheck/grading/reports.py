"""Writers for a finished :class:`~vicheck.grading.records.GradeReport`.

* :func:`write_gradescope` - Gradescope's ``results.json`` (written to its file, never to stdout);
* :func:`write_feedback` - a markdown file for the student: score, table, each failure explained;
* :func:`write_junit` - a JUnit XML file, for runs that ended before pytest could write its own;
* :func:`write_summary_csv` - one row per submission, for the instructor.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from vicheck.grading.records import GradeReport, PropertyResult

__all__ = [
    "SUMMARY_COLUMNS",
    "hidden_notice",
    "write_feedback",
    "write_gradescope",
    "write_junit",
    "write_summary_csv",
]

SUMMARY_COLUMNS: tuple[str, ...] = ("submission", "score", "max_score", "percent", "failed", "errors", "complete")


def _write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` atomically (a reader never sees half a file)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _num(x: float) -> str:
    return f"{x:g}"


def _percent(report: GradeReport) -> float:
    return round(100.0 * report.score / report.max_score, 1) if report.max_score > 0 else 0.0


def _status(p: PropertyResult) -> str:
    if p.passed:
        return "passed"
    return p.status if p.status in ("not run", "pending") else "failed"


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


def _property_output(p: PropertyResult) -> str:
    parts = []
    if p.message:
        parts.append(p.message)
    if p.counterexample:
        parts.append(f"Minimal counterexample:\n{p.counterexample}")
    if not parts:
        parts.append("passed" if p.passed else _status(p))
    return "\n\n".join(parts)


def _summary_line(report: GradeReport) -> str:
    passed = sum(p.passed for p in report.properties)
    return (
        f"Score {_num(report.score)} / {_num(report.max_score)} ({_percent(report):g}%): "
        f"{passed} of {len(report.properties)} properties passed."
    )


def write_gradescope(report: GradeReport, path: str | os.PathLike[str], *, execution_time: float) -> None:
    """Write Gradescope's ``results.json`` for ``report`` to ``path``."""
    lines = [_summary_line(report)]
    if not report.complete:
        running = f" while `{report.running}` was running" if report.running else ""
        lines.append(f"Grading did not finish{running}; properties not reached score 0.")
    if report.errors:
        lines.append("Problems met while grading:")
        lines.extend(f"- {e}" for e in report.errors)
    notice = hidden_notice(report)
    if notice:
        lines.append(notice)
    tests = [
        {
            "name": p.name,
            "score": float(p.weight if p.passed else 0.0),
            "max_score": float(p.weight),
            "status": "passed" if p.passed else "failed",
            "output": _property_output(p),
            "visibility": "hidden" if p.visibility == "hidden" else "visible",
        }
        for p in report.properties
    ]
    data = {
        "score": float(report.score),
        "execution_time": float(execution_time),
        "output": "\n".join(lines),
        "stdout_visibility": "hidden",
        "tests": tests,
        # Gradescope keeps extra_data with the result: how the submission was run, for a disputed grade
        "extra_data": {
            "isolation": report.isolation or "unknown",
            "resources": report.resources or "unknown",
            "profile": report.profile,
            "rubric": report.rubric,
            "submission_sha256": report.submission_sha256,
        },
    }
    _write_text(path, json.dumps(data, indent=2) + "\n")


def _cell(text: str) -> str:
    """Text fit for one markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|") or " "


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _rst_to_markdown(text: str) -> str:
    """The reStructuredText bits of a property's docstring as markdown: ``:math:`x``` -> ``$x$``."""
    text = re.sub(r":math:`([^`]*)`", r"$\1$", text)
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def write_feedback(report: GradeReport, path: str | os.PathLike[str]) -> None:
    """Write the student's markdown feedback for ``report`` to ``path``."""
    out: list[str] = [f"# Feedback: {Path(report.submission).name or report.submission}", ""]
    out.append(f"**{_summary_line(report)}**")
    out.append("")
    notice = hidden_notice(report)
    if notice:
        out += [f"> **Note:** {notice}", ""]
    if not report.complete:
        running = f" while `{report.running}` was running" if report.running else ""
        out += [f"> **Grading did not finish**{running}; the properties it did not reach score 0.", ""]
    if report.errors:
        out += ["## Problems while loading or running your code", ""]
        out += [f"- {' '.join(e.split())}" for e in report.errors]
        out.append("")
    out += ["## Properties", "", "| property | result | points | functions |", "| --- | --- | --- | --- |"]
    for p in report.properties:
        result = {"passed": "passed", "failed": "**failed**", "not run": "not run", "pending": "not run"}[_status(p)]
        name = f"`{p.name}`" + (" (hidden)" if p.visibility == "hidden" else "")
        points = f"{_num(p.weight if p.passed else 0.0)} / {_num(p.weight)}"
        funcs = ", ".join(f"`{f}`" for f in p.functions)
        out.append(f"| {_cell(name)} | {result} | {points} | {_cell(funcs)} |")
    out.append("")
    failing = [p for p in report.properties if not p.passed]
    if failing:
        out += ["## What went wrong", ""]
        for p in failing:
            out += [f"### `{p.name}` ({_status(p)})", ""]
            if p.description:
                out += [f"*What it checks:* {_rst_to_markdown(' '.join(p.description.split()))}", ""]
            if p.functions:
                out += [f"*Functions:* {', '.join(f'`{f}`' for f in p.functions)}", ""]
            if p.message:
                first, _, rest = p.message.strip().partition("\n")
                out += [f"*What happened:* {' '.join(first.split())}", ""]
                if rest.strip():
                    fence = _fence(rest)
                    out += [f"{fence}text", rest.rstrip(), fence, ""]
            if p.counterexample:
                fence = _fence(p.counterexample)
                out += ["*Minimal counterexample:*", "", f"{fence}text", p.counterexample.rstrip("\n"), fence, ""]
    out += ["## Provenance (to replay this grade)", ""]
    out.append(f"- profile: `{report.profile or 'unknown'}`")
    out.append(f"- Hypothesis seed: `{report.hypothesis_seed or 'not recorded'}`")
    if report.rubric:
        out.append(f"- rubric: `{report.rubric}`")
    if report.submission_sha256:
        out.append(f"- submission sha256: `{report.submission_sha256}`")
    if report.versions:
        out.append("- versions: " + ", ".join(f"{k} {v}" for k, v in sorted(report.versions.items())))
    out.append("")
    _write_text(path, "\n".join(out))


def write_junit(report: GradeReport, path: str | os.PathLike[str], *, execution_time: float = 0.0) -> None:
    """A JUnit XML file for ``report`` (one testcase per property; not-run ones are skipped)."""
    failures = sum(1 for p in report.properties if _status(p) == "failed")
    skipped = sum(1 for p in report.properties if _status(p) in ("not run", "pending"))
    errors = len(report.errors)
    head = (
        f'<testsuite name="vicheck" tests="{len(report.properties)}" failures="{failures}" '
        f'errors="{errors}" skipped="{skipped}" time="{execution_time:.3f}">'
    )
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<testsuites>", head]
    for p in report.properties:
        attrs = f'classname={quoteattr("properties")} name={quoteattr(p.name)} time="{p.seconds:.3f}"'
        status = _status(p)
        if status == "passed":
            lines.append(f"<testcase {attrs}/>")
        elif status == "failed":
            body = escape(_property_output(p))
            lines.append(f"<testcase {attrs}><failure message={quoteattr(p.message)}>{body}</failure></testcase>")
        else:
            lines.append(f"<testcase {attrs}><skipped message={quoteattr(p.message or status)}/></testcase>")
    if report.errors:
        body = escape("\n".join(report.errors))
        lines.append(
            f'<testcase classname="vicheck" name="grading"><error message={quoteattr(report.errors[0])}>'
            f"{body}</error></testcase>"
        )
    lines += ["</testsuite>", "</testsuites>", ""]
    _write_text(path, "\n".join(lines))


def write_summary_csv(reports: Mapping[str, GradeReport] | Iterable[GradeReport], path: str | os.PathLike[str]) -> None:
    """One row per submission: ``submission, score, max_score, percent, failed, errors, complete``.

    ``reports`` is a mapping name -> report (the name goes in the ``submission`` column) or reports
    (their ``submission`` field does). ``failed`` lists the properties not passed, ``;``-separated.
    """
    items = list(reports.items()) if isinstance(reports, Mapping) else [(r.submission, r) for r in reports]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    for name, r in items:
        failed = ";".join(p.name for p in r.properties if not p.passed)
        writer.writerow(
            [name, _num(r.score), _num(r.max_score), f"{_percent(r):g}", failed, len(r.errors), str(r.complete).lower()]
        )
    _write_text(path, buf.getvalue())
