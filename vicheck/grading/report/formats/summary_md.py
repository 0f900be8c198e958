"""``summary.md``: the class page's tables as markdown."""

from __future__ import annotations

from pathlib import Path

from vicheck.grading.report.classpage.markdown import render_markdown
from vicheck.grading.report.context import ClassContext
from vicheck.grading.report.formats import class_format
from vicheck.grading.report.outputs import write_text_atomic

__all__ = ["write_summary_md"]


@class_format("summary.md", help="the class page's tables as markdown: scores, properties, failures, needs a look")
def write_summary_md(ctx: ClassContext, path: Path) -> None:
    """Write the class page's tables of ``ctx`` as markdown."""
    write_text_atomic(path, render_markdown(ctx.statistics))
