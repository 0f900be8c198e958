"""``<name>.md``: the student's feedback in markdown: score, a table of properties, each failure explained
(what it checks, what happened, the minimal counterexample) and the provenance to replay the grade."""

from __future__ import annotations

import re
from pathlib import Path

from vicheck.grading.report.diagnosis import fix_first, only_through
from vicheck.grading.report.formats import StudentContext, student_format
from vicheck.grading.report.formats._text import fence, hidden_notice, num, status, summary_line
from vicheck.grading.report.outputs import write_text_atomic
from vicheck.grading.report.records import GradeReport

__all__ = ["write_feedback"]


def _cell(text: str) -> str:
    """Text fit for one markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|") or " "


def _rst_to_markdown(text: str) -> str:
    """The reStructuredText bits of a property's docstring as markdown: ``:math:`x``` -> ``$x$``."""
    text = re.sub(r":math:`([^`]*)`", r"$\1$", text)
    return re.sub(r"``([^`]+)``", r"`\1`", text)


@student_format("md", suffix=".md", help="markdown feedback for the student: score, table, each failure explained")
def write_feedback(report: GradeReport, path: Path, ctx: StudentContext) -> None:
    """Write the student's markdown feedback for ``report`` to ``path``."""
    out: list[str] = [f"# Feedback: {Path(report.submission).name or report.submission}", ""]
    out.append(f"**{summary_line(report)}**")
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
    diagnosis = fix_first(report.diagnosis)
    if diagnosis:
        out += [f"**{diagnosis[0]}.**", ""] + [f"{line}." for line in diagnosis[1:]] + ([""] if diagnosis[1:] else [])
    out += ["## Properties", "", "| property | result | points | functions |", "| --- | --- | --- | --- |"]
    for p in report.properties:
        result = {"passed": "passed", "failed": "**failed**", "not run": "not run", "pending": "not run"}[status(p)]
        if p.carried_forward:
            result += f" (error carried forward {p.carried_forward})"
        name = f"`{p.name}`" + (" (hidden)" if p.visibility == "hidden" else "")
        points = f"{num(p.earned)} / {num(p.weight)}"
        funcs = ", ".join(f"`{f}`" for f in p.functions)
        out.append(f"| {_cell(name)} | {result} | {points} | {_cell(funcs)} |")
    out.append("")
    failing = [p for p in report.properties if not p.passed]
    if failing:
        out += ["## What went wrong", ""]
        for p in failing:
            out += [f"### `{p.name}` ({status(p)})", ""]
            if p.description:
                out += [f"*What it checks:* {_rst_to_markdown(' '.join(p.description.split()))}", ""]
            if p.functions:
                out += [f"*Functions:* {', '.join(f'`{f}`' for f in p.functions)}", ""]
            roots = only_through(p, report.diagnosis)
            if roots:
                out += [f"*Probably a consequence of:* {', '.join(f'`{r}`' for r in roots)}, which it calls", ""]
            if p.message:
                first, _, rest = p.message.strip().partition("\n")
                out += [f"*What happened:* {' '.join(first.split())}", ""]
                if rest.strip():
                    bar = fence(rest)
                    out += [f"{bar}text", rest.rstrip(), bar, ""]
            if p.counterexample:
                bar = fence(p.counterexample)
                out += ["*Minimal counterexample:*", "", f"{bar}text", p.counterexample.rstrip("\n"), bar, ""]
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
    write_text_atomic(path, "\n".join(out))
