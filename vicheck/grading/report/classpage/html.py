"""``index.html``: the class page, one static HTML file (inline CSS, no JavaScript, no network), so it opens
from the file system and as a CI artifact.

The page is drawn by the Jinja2 templates in ``templates/`` with autoescaping on: everything that comes from
a report is untrusted student text, and every value a template prints is escaped unless it is
:class:`~markupsafe.Markup`. The one piece of markup made here is the histogram drawn by matplotlib (when the
``plots`` extra is installed), which holds numbers and fixed labels only; without matplotlib the templates
draw plain HTML bars.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

from jinja2 import Template
from markupsafe import Markup, escape

from vicheck._html import html_environment
from vicheck.grading.report.classpage._format import (
    PLOTS_HINT,
    QUARTILE_METHOD,
    bin_label,
    file_links,
    href,
    num,
    pct,
    provenance_items,
    weights,
)
from vicheck.grading.report.classpage.statistics import (
    BIN_WIDTH,
    NUMBER_PLACEHOLDER,
    ClassStatistics,
    ScoreStats,
    report_percent,
)

__all__ = ["TEMPLATES", "histogram_svg", "render_html"]

#: the folder of the page's templates (package data)
TEMPLATES = Path(__file__).with_name("templates")


def _finalize(value: object) -> object:
    """Every value a template prints, escaped as autoescape would, with quotes spelled as the page has always
    spelled them (``&quot;``, ``&#x27;``; markupsafe writes ``&#34;``, ``&#39;``): the same bytes as before.
    Markup (the templates' own macros, the drawn histogram) passes unchanged."""
    if isinstance(value, Markup):
        return value
    return Markup(str(escape(value)).replace("&#34;", "&quot;").replace("&#39;", "&#x27;"))


@functools.cache
def _template() -> Template:
    env = html_environment(TEMPLATES, finalize=_finalize)
    env.filters.update(pct=pct, num=num, weights=weights, bin_label=bin_label)
    return env.get_template("index.html.j2")


def histogram_svg(scores: ScoreStats) -> str | None:
    """The histogram as inline SVG drawn by matplotlib; ``None`` when matplotlib is not installed."""
    try:
        import matplotlib
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return None
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "vicheck", "font.size": 10}):
        fig = Figure(figsize=(8.5, 2.6))
        ax = fig.add_subplot()
        lefts = [i * BIN_WIDTH for i in range(len(scores.bins))]
        bars = ax.bar(lefts, scores.bins, width=BIN_WIDTH, align="edge", color="#4c78a8", edgecolor="white", zorder=2)
        ax.bar_label(bars, labels=[str(n) if n else "" for n in scores.bins], padding=2, fontsize=9)
        if scores.q1 is not None and scores.q3 is not None and scores.median is not None:
            ax.axvspan(
                scores.q1,
                max(scores.q3, scores.q1 + 0.4),
                color="#f58518",
                alpha=0.22,
                lw=0,
                zorder=1,
                label=f"Q1–Q3 {scores.q1:.1f}–{scores.q3:.1f}%",
            )
            ax.axvline(scores.median, color="#d62728", linewidth=1.6, zorder=3, label=f"median {scores.median:.1f}%")
        ax.set_xlim(0, 100)
        ax.set_xticks(range(0, 101, BIN_WIDTH))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("score, percent of the maximum")
        ax.set_ylabel("students")
        ax.spines[["top", "right"]].set_visible(False)
        if scores.median is not None:
            ax.legend(loc="upper left", frameon=False, fontsize=9)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]


def _page_values(st: ClassStatistics) -> dict[str, Any]:
    """What the templates print besides ``st`` itself: file links (looked up on disk), the histogram and the
    numbers that are computed rather than formatted."""
    sc = st.scores
    svg = histogram_svg(sc)
    top = max(sc.bins) or 1
    feedback = {s.name: href(path) for s in st.students if (path := s.companion(".md")) is not None}
    return {
        "st": st,
        "sc": sc,
        "title": f"vicheck class report: {st.folder.name or st.folder}",
        "summary_csv": (st.folder / "summary.csv").is_file(),
        # matplotlib's drawing holds no student text (numbers and fixed labels): the one Markup made here
        "svg": Markup(svg) if svg is not None else None,
        "bars": [(n, round(100 * n / top), bin_label(i)) for i, n in enumerate(sc.bins)],
        "feedback": feedback,
        "files": {s.name: file_links(s) for s in st.students},
        "percents": {s.name: report_percent(s.report) if s.report.max_score > 0 else None for s in st.students},
        "provenance": provenance_items(st),
        "plots_hint": PLOTS_HINT,
        "quartile_method": QUARTILE_METHOD,
        "bin_width": BIN_WIDTH,
        "number_placeholder": NUMBER_PLACEHOLDER,
    }


def render_html(st: ClassStatistics) -> str:
    """The class page for ``st``: one self-contained HTML document."""
    return _template().render(_page_values(st))
