"""``index.html``: the class page (score distribution, properties hardest first, failure groups, functions, the
submissions that need a look by hand, provenance), one static HTML file."""

from __future__ import annotations

from pathlib import Path

from vicheck.grading.report.classpage.html import render_html
from vicheck.grading.report.context import ClassContext
from vicheck.grading.report.formats import class_format
from vicheck.grading.report.outputs import write_text_atomic

__all__ = ["write_index_html"]


@class_format(
    "index.html", help="the class page: score histogram, pass rates, failure groups, needs a look by hand", links=True
)
def write_index_html(ctx: ClassContext, path: Path) -> None:
    """Write the class page of ``ctx``."""
    write_text_atomic(path, render_html(ctx.statistics))
