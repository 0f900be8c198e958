"""``summary.md``: the class page's tables as markdown, for a terminal, a pull request or a CI summary."""

from __future__ import annotations

import re

from vicheck.grading.report.classpage._format import (
    QUARTILE_METHOD,
    bin_label,
    file_links,
    pct,
    provenance_items,
    weights,
)
from vicheck.grading.report.classpage.statistics import ClassStatistics, RosterStats

__all__ = ["render_markdown"]


def _md(text: object) -> str:
    """Text fit for one markdown table cell."""
    return " ".join(str(text).split()).replace("\\", "\\\\").replace("|", "\\|") or " "


def _md_code(text: str) -> str:
    """``text`` as an inline code span (fit for a table cell)."""
    text = " ".join(text.split())
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}".replace("|", "\\|")


def _md_fence(text: str) -> str:
    return "`" * max(3, max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)


def _md_item(text: str) -> str:
    """Text fit for one line of a list (a name from a roster or a file: no line breaks)."""
    return " ".join(text.split())


def _scores(st: ClassStatistics) -> list[str]:
    sc = st.scores
    out = [
        "## Score distribution",
        "",
        "| median | Q1 | Q3 | mean | min | max |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {pct(sc.median)} | {pct(sc.q1)} | {pct(sc.q3)} | {pct(sc.mean)} | {pct(sc.minimum)} | {pct(sc.maximum)} |",
        "",
        "| score | students | |",
        "| --- | ---: | --- |",
    ]
    for i, n in enumerate(sc.bins):
        out.append(f"| {bin_label(i)} | {n} | {'█' * n if n <= 60 else '█' * 60 + '…'} |")
    out += ["", f"Percent of each report's maximum score. {QUARTILE_METHOD}"]
    if sc.excluded:
        out.append(f"Not in the distribution (no score): {', '.join(sc.excluded)}.")
    return out


def _properties(st: ClassStatistics) -> list[str]:
    out = [
        "## Properties, hardest first",
        "",
        "| property | category | concept | functions | weight | passed / graded | failed | not run |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for p in st.properties:
        funcs = ", ".join(_md_code(f) for f in p.functions) or "–"
        out.append(
            f"| {_md_code(p.name)} | {_md(p.category)} | {_md(p.concept)} | {funcs} | {_md(weights(p.weights))} | "
            f"{p.passed} / {p.graded} ({100 * p.pass_rate:.0f}%) | {p.failed}{_through(p.consequences)} | {p.not_run} |"
        )
    failing = [p for p in st.properties if p.groups]
    if failing:
        out += ["", "### Failures by message shape", ""]
        for p in failing:
            out += [f"#### {_md_code(p.name)}", ""]
            for g in p.groups:
                tag = " (not run)" if g.status != "failed" else ""
                summary = g.message if g.variants == 1 else g.shape
                variants = f" ({g.variants} variants)" if g.variants > 1 else ""
                who = ", ".join(g.students[:10]) + (f" and {g.count - 10} more" if g.count > 10 else "")
                out.append(f"- **{g.count} of {p.graded}**{tag}: {_md_code(summary)}{variants} — {who}")
                if g.counterexample:
                    fence = _md_fence(g.counterexample)
                    out += [
                        f"  minimal counterexample (from {g.representative}):",
                        "",
                        f"  {fence}text",
                        *(f"  {line}" for line in g.counterexample.rstrip("\n").splitlines()),
                        f"  {fence}",
                    ]
            out.append("")
    return out


def _through(n: int) -> str:
    return f" ({n} through a helper)" if n else ""


def _functions(st: ClassStatistics) -> list[str]:
    extra = " fails on its own | fails through a helper |" if st.diagnosed else ""
    out = [
        "## Functions of the contract",
        "",
        "| function | properties | students | define it | pass all its properties |" + extra,
        "| --- | ---: | ---: | ---: | ---: |" + (" ---: | ---: |" if st.diagnosed else ""),
    ]
    for f in st.functions:
        name = _md_code(f.name) + ("" if f.in_contract else " (not in the contract)")
        if f.students == 0:
            out.append(f"| {name} | 0 | – | – | – |" + (" – | – |" if st.diagnosed else ""))
        else:
            split = f" {f.own} | {f.through} |" if st.diagnosed else ""
            out.append(f"| {name} | {len(f.properties)} | {f.students} | {f.defined} | {f.pass_all} |" + split)
    return out


def _needs_look(st: ClassStatistics) -> list[str]:
    out = ["## Needs a look by hand", ""]
    if not st.needs_look:
        out.append("Nothing: every report is complete and no error was recorded.")
        return out
    out += ["| student | what | details | files |", "| --- | --- | --- | --- |"]
    students = {s.name: s for s in st.students}
    for flag in st.needs_look:
        files = " ".join(f"[{label}]({target})" for label, target in file_links(students[flag.student]))
        details = "; ".join(d for _, d in flag.problems)
        out.append(f"| {_md(flag.student)} | {_md(', '.join(flag.kinds))} | {_md(details)} | {files} |")
    return out


def _roster(roster: RosterStats) -> list[str]:
    out = [
        "## Roster",
        "",
        f"Matched against the {roster.kind} roster: {len(roster.unmatched)} submissions match no student, "
        f"{len(roster.missing)} students of the roster have no submission.",
    ]
    if roster.unmatched:
        out += [
            "",
            f"Submissions that match no student of the roster ({len(roster.unmatched)}): their grades reach no "
            "student until they are matched by hand.",
            "",
        ]
        out += [f"- {_md_item(name)}" for name in roster.unmatched]
    if roster.missing:
        out += ["", f"Students of the roster without a submission ({len(roster.missing)}):", ""]
        out += [f"- {_md_item(name)}" for name in roster.missing]
    else:
        out += ["", "Every student of the roster has a submission."]
    return out


def render_markdown(st: ClassStatistics) -> str:
    """The class page's tables as markdown (``summary.md``)."""
    out = [f"# vicheck class report: {st.folder.name or st.folder}", ""]
    out += [
        f"{len(st.students)} reports, {st.scores.count} scored. Generated {st.provenance.generated} by vicheck "
        f"{st.provenance.vicheck}. The page with the plot: [index.html](index.html).",
        "",
    ]
    out += _scores(st)
    out += ["", *_properties(st)]
    out += ["", *_functions(st)]
    out += ["", *_needs_look(st)]
    if st.roster is not None:
        out += ["", *_roster(st.roster)]
    out += ["", "## Provenance", ""]
    out += [f"- {k}: {' '.join(v.split())}" for k, v in provenance_items(st)]
    if st.skipped:
        out += ["", "Files passed over:", ""] + [f"- {s}" for s in st.skipped]
    out.append("")
    return "\n".join(out)
