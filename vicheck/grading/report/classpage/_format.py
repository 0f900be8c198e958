"""What ``index.html`` and ``summary.md`` print the same way: percentages, weights, bin labels, links to a
student's files and the provenance lines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from vicheck.grading.report.classpage.statistics import BIN_WIDTH, ClassStatistics
from vicheck.grading.report.folder import StudentReport

__all__ = [
    "FILE_LINKS",
    "PLOTS_HINT",
    "QUARTILE_METHOD",
    "bin_label",
    "file_links",
    "href",
    "num",
    "pct",
    "provenance_items",
    "weights",
]

#: the one line the page shows when matplotlib is missing
PLOTS_HINT = "Install the plotting extra for a drawn histogram: pip install 'vicheck[plots]'"
QUARTILE_METHOD = (
    "Quartiles and median interpolate linearly between the sorted percentages "
    "(Python's statistics.quantiles with method='inclusive', numpy's default)."
)
#: a student's files the pages link to, (suffix, label), in the order they are shown
FILE_LINKS: tuple[tuple[str, str], ...] = ((".md", "feedback"), (".json", "JSON"), (".log", "log"))


def pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}%"


def num(x: float) -> str:
    return f"{x:g}"


def weights(ws: Sequence[float]) -> str:
    return " / ".join(num(w) for w in ws) or "–"


def href(path: Path) -> str:
    """A link to ``path`` from the page beside it (the file name, percent-encoded)."""
    return quote(path.name)


def bin_label(i: int) -> str:
    lo, hi = i * BIN_WIDTH, (i + 1) * BIN_WIDTH
    return f"{lo}–{hi}%"


def file_links(s: StudentReport) -> list[tuple[str, str]]:
    """``(label, href)`` of each of the student's files (:data:`FILE_LINKS`) that exists."""
    links = []
    for suffix, label in FILE_LINKS:
        path = s.companion(suffix)
        if path is not None:
            links.append((label, href(path)))
    return links


def _tally_text(tally: dict[str, int], total: int) -> str:
    if len(tally) == 1:
        return next(iter(tally))
    return "; ".join(f"{v} ({n} of {total})" for v, n in tally.items()) + " — differs between reports"


def provenance_items(st: ClassStatistics) -> list[tuple[str, str]]:
    """The provenance as (key, value) lines."""
    pv, total = st.provenance, len(st.students)
    versions = ", ".join(f"{k} {_tally_text(v, sum(v.values()))}" for k, v in pv.versions.items())
    return [
        ("generated", pv.generated),
        ("vicheck (this page)", pv.vicheck),
        ("versions in the reports", versions or "not recorded"),
        ("profile", _tally_text(pv.profiles, total) if pv.profiles else "–"),
        ("rubric", _tally_text(pv.rubrics, total) if pv.rubrics else "–"),
        ("isolation", _tally_text(pv.isolation, total) if pv.isolation else "–"),
        ("resource control", _tally_text(pv.resources, total) if pv.resources else "–"),
        ("Hypothesis seed", _tally_text(pv.seeds, total) if pv.seeds else "–"),
        ("reports folder", str(st.folder)),
    ]
