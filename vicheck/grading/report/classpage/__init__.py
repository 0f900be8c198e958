"""The instructor's view of a class: ``index.html`` and ``summary.md`` drawn from the ``<name>.json`` reports.

:func:`class_statistics` computes what both show (score distribution, each property's pass rate and failure
groups, each contract function's use, the submissions that need a look by hand, the roster's loose ends,
provenance); :func:`render_html` and :func:`render_markdown` draw them. The class formats ``index.html`` and
``summary.md`` (:mod:`vicheck.grading.report.formats`) write them.
"""

from __future__ import annotations

from vicheck.grading.report.classpage._format import PLOTS_HINT
from vicheck.grading.report.classpage.html import render_html
from vicheck.grading.report.classpage.markdown import render_markdown
from vicheck.grading.report.classpage.statistics import (
    LOOK_KINDS,
    NUMBER_PLACEHOLDER,
    ClassStatistics,
    FailureGroup,
    FunctionStats,
    NeedsLook,
    PropertyStats,
    Provenance,
    RosterMatchView,
    RosterStats,
    ScoreStats,
    class_statistics,
    message_shape,
)

__all__ = [
    "LOOK_KINDS",
    "NUMBER_PLACEHOLDER",
    "PLOTS_HINT",
    "ClassStatistics",
    "FailureGroup",
    "FunctionStats",
    "NeedsLook",
    "PropertyStats",
    "Provenance",
    "RosterMatchView",
    "RosterStats",
    "ScoreStats",
    "class_statistics",
    "message_shape",
    "render_html",
    "render_markdown",
]
