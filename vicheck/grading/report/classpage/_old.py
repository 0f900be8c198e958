"""The instructor's view of a class: ``index.html`` and ``summary.md`` drawn from the ``<name>.json`` reports.

:func:`load_reports` reads every grade report in an output folder of ``vicheck grade``;
:func:`class_statistics` computes what the page shows (score distribution, each property's pass rate
and failure groups, each contract function's use, the submissions that need a look by hand, provenance);
:func:`write_class_report` writes both files. The page is one static HTML file (inline CSS, no
JavaScript, no network), so it opens from the file system and as a CI artifact; the histogram is drawn
by matplotlib when the ``plots`` extra is installed and by plain HTML otherwise.

``vicheck report DIR`` redraws both files from the reports already in DIR (after a resumed or merged run).
Everything that comes from a report is untrusted student text: it is escaped before it reaches the page.
"""

from __future__ import annotations

import argparse
import html
import io
import json
import os
import re
import statistics
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vicheck.grading.records import GradeReport, PropertyResult

__all__ = [
    "PLOTS_HINT",
    "ClassReports",
    "ClassStatistics",
    "FailureGroup",
    "FunctionStats",
    "NeedsLook",
    "PropertyStats",
    "Provenance",
    "ScoreStats",
    "StudentReport",
    "add_arguments",
    "class_statistics",
    "load_reports",
    "message_shape",
    "render_html",
    "render_markdown",
    "run",
    "write_class_report",
]

#: the one line the page shows when matplotlib is missing
PLOTS_HINT = "Install the plotting extra for a drawn histogram: pip install 'vicheck[plots]'"
#: what stands for a number in a failure message's shape
NUMBER_PLACEHOLDER = "<n>"
#: width of a histogram bin, in percent of the maximum score
BIN_WIDTH = 10
#: the kinds of trouble that put a submission on the "needs a look" list, in the order they are tested
LOOK_KINDS: tuple[str, ...] = (
    "grader failure",
    "not gradable",
    "time limit",
    "notebook cell",
    "load error",
    "isolation event",
    "other error",
)
QUARTILE_METHOD = (
    "Quartiles and median interpolate linearly between the sorted percentages "
    "(Python's statistics.quantiles with method='inclusive', numpy's default)."
)
_COMPANION_SUFFIXES = (".gradescope.json",)
_PROPERTY_FIELDS = frozenset(f.name for f in fields(PropertyResult))
_REPORT_FIELDS = frozenset(f.name for f in fields(GradeReport))
# a number not glued to an identifier: 3, -0.25, 1e-06, 4.5E+3, .5 (float32 or kl_divergence_1 stay)
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w])")
_MISSING = re.compile(r"submission defines no ((?:`[^`]+`(?:, )?)+)")
#: how every property of a submission that did not load begins (properties/plugin.py, pytest_pyfunc_call)
NOT_LOADED = "not graded: the submission did not load ("


# --------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class StudentReport:
    """One student's report: ``name`` is the report's file stem (``alice`` for ``alice.json``)."""

    name: str
    report: GradeReport
    json_path: Path

    def companion(self, suffix: str) -> Path | None:
        """The student's ``<name><suffix>`` file beside the report, or ``None`` when it does not exist."""
        path = self.json_path.with_name(self.name + suffix)
        return path if path.is_file() else None


@dataclass
class ClassReports:
    """Every report found in ``folder``, sorted by student name, and notes on files passed over."""

    folder: Path
    students: list[StudentReport] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _property_from_json(data: Any) -> PropertyResult:
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ValueError("a property without a name")
    known = {k: v for k, v in data.items() if k in _PROPERTY_FIELDS}
    known.setdefault("functions", [])
    known.setdefault("category", "")
    known.setdefault("weight", 0.0)
    prop = PropertyResult(**known)
    if "status" not in data:  # reports older than the status field
        not_run = prop.message.startswith("not run")
        prop.status = "passed" if prop.passed else ("not run" if not_run else "failed")
    if not isinstance(prop.functions, list) or not isinstance(prop.weight, (int, float)):
        raise ValueError(f"property {prop.name}: bad functions or weight")
    prop.weight = float(prop.weight)
    return prop


def _report_from_json(data: Any) -> GradeReport:
    """A :class:`GradeReport` from JSON, tolerating fields a newer or older vicheck added or lacked."""
    if not isinstance(data, dict) or not isinstance(data.get("submission"), str):
        raise ValueError("no submission field")
    if not isinstance(data.get("properties"), list) or not isinstance(data.get("errors", []), list):
        raise ValueError("no properties list")
    props = [_property_from_json(p) for p in data["properties"]]
    known = {k: v for k, v in data.items() if k in _REPORT_FIELDS and k != "properties"}
    report = GradeReport(properties=props, **known)
    report.errors = [str(e) for e in report.errors]
    return report


def load_reports(folder: str | os.PathLike[str]) -> ClassReports:
    """Every ``<name>.json`` grade report directly in ``folder``.

    Passed over silently: ``summary*``, ``*.gradescope.json``, hidden files and folders (``.vicheck/``,
    half-written temporary files). Passed over with a note in :attr:`ClassReports.skipped`: JSON files
    that are not grade reports. ``FileNotFoundError`` / ``NotADirectoryError`` when ``folder`` is not a
    folder.
    """
    root = Path(folder)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such folder")
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder")
    result = ClassReports(folder=root)
    for path in sorted(root.glob("*.json")):
        name = path.name
        if name.startswith(".") or name.startswith("summary") or name.endswith(_COMPANION_SUFFIXES):
            continue
        if not path.is_file():
            continue
        try:
            report = _report_from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
            result.skipped.append(f"{name}: not a vicheck grade report ({exc})")
            continue
        result.students.append(StudentReport(path.stem, report, path))
    result.students.sort(key=lambda s: s.name)
    return result


# --------------------------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class ScoreStats:
    """Score distribution in percent of each student's maximum score.

    ``percents`` holds one value per student counted (name, percent), sorted by name; ``excluded`` the
    students left out (no score: the grader failed or there were no properties). ``bins`` counts the
    students per :data:`BIN_WIDTH`-percent bin, ``[0, 10)``, ..., ``[90, 100]`` (100 falls in the last).
    """

    percents: tuple[tuple[str, float], ...]
    excluded: tuple[str, ...]
    bins: tuple[int, ...]
    median: float | None
    q1: float | None
    q3: float | None
    mean: float | None
    minimum: float | None
    maximum: float | None

    @property
    def count(self) -> int:
        return len(self.percents)


@dataclass(frozen=True)
class FailureGroup:
    """Failures of one property whose summaries share a shape (numbers replaced by a placeholder).

    ``representative`` is the student whose counterexample is shortest (ties: the first name); its
    ``message`` (first line) and ``counterexample`` stand for the group; ``variants`` counts the distinct
    first lines in the group (1: every member got the very same summary).
    """

    shape: str
    status: str
    students: tuple[str, ...]
    representative: str
    message: str
    counterexample: str
    variants: int = 1

    @property
    def count(self) -> int:
        return len(self.students)


@dataclass(frozen=True)
class PropertyStats:
    """One property across the class. ``graded`` counts the reports that list it; ``passed``,
    ``failed`` and ``not_run`` split them; the pass rate is ``passed / graded``."""

    name: str
    concept: str
    description: str
    functions: tuple[str, ...]
    weights: tuple[float, ...]
    category: str
    graded: int
    passed: int
    failed: int
    not_run: int
    groups: tuple[FailureGroup, ...]

    @property
    def pass_rate(self) -> float:
        return self.passed / self.graded if self.graded else 0.0


@dataclass(frozen=True)
class FunctionStats:
    """One contract function: of the ``students`` whose report has a property exercising it, how many
    define it and how many pass every property that exercises it."""

    name: str
    properties: tuple[str, ...]
    students: int
    defined: int
    pass_all: int
    in_contract: bool = True


@dataclass(frozen=True)
class NeedsLook:
    """A submission to look at by hand: ``problems`` are (kind, detail) pairs, kind from :data:`LOOK_KINDS`."""

    student: str
    problems: tuple[tuple[str, str], ...]

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k for k, _ in self.problems))


@dataclass(frozen=True)
class Provenance:
    """Where the grades came from: each field maps a value to the number of reports that carry it."""

    vicheck: str
    generated: str
    versions: dict[str, dict[str, int]]
    profiles: dict[str, int]
    rubrics: dict[str, int]
    isolation: dict[str, int]
    seeds: dict[str, int]
    resources: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ClassStatistics:
    """Everything the class page shows."""

    folder: Path
    students: tuple[StudentReport, ...]
    scores: ScoreStats
    properties: tuple[PropertyStats, ...]
    functions: tuple[FunctionStats, ...]
    needs_look: tuple[NeedsLook, ...]
    provenance: Provenance
    skipped: tuple[str, ...]


def message_shape(message: str) -> str:
    """The first line of ``message`` with every number replaced by :data:`NUMBER_PLACEHOLDER`."""
    first = message.strip().split("\n", 1)[0]
    return " ".join(_NUMBER.sub(NUMBER_PLACEHOLDER, first).split())


def _status(p: PropertyResult) -> str:
    """passed, failed or not run (a pending or running property of an unfinished run was not run)."""
    if p.passed:
        return "passed"
    return "failed" if p.status == "failed" else "not run"


def _percent(report: GradeReport) -> float:
    return 100.0 * report.score / report.max_score


def _grader_failed(report: GradeReport) -> bool:
    return not report.complete or any(e.startswith("the grader failed") for e in report.errors)


def _score_stats(students: Sequence[StudentReport]) -> ScoreStats:
    counted = [
        (s.name, _percent(s.report)) for s in students if s.report.max_score > 0 and not _grader_failed(s.report)
    ]
    scored = {n for n, _ in counted}
    excluded = tuple(s.name for s in students if s.name not in scored)
    nbins = 100 // BIN_WIDTH
    bins = [0] * nbins
    for _, pct in counted:
        bins[min(nbins - 1, max(0, int(pct // BIN_WIDTH)))] += 1
    values = sorted(p for _, p in counted)
    if not values:
        return ScoreStats((), excluded, tuple(bins), None, None, None, None, None, None)
    if len(values) == 1:
        q1 = med = q3 = values[0]
    else:
        q1, med, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return ScoreStats(
        tuple(counted), excluded, tuple(bins), med, q1, q3, statistics.fmean(values), values[0], values[-1]
    )


_MATH_SYMBOLS = {
    r"\mathcal N": "N",
    r"\mathbb E": "E",
    r"\varepsilon": "ε",
    r"\epsilon": "ε",
    r"\sigma": "σ",
    r"\mu": "μ",
    r"\theta": "θ",
    r"\delta": "δ",
    r"\Delta": "Δ",
    r"\int": "∫",
    r"\prod": "∏",
    r"\sum": "∑",
    r"\le": "≤",
    r"\ge": "≥",
    r"\pm": "±",
    r"\cdot": "·",
    r"\mid": " | ",
    r"\|": "‖",
    r"\ldots": "…",
    r"\infty": "∞",
    r"\in": "∈",
    r"\#": "#",
    r"\_": "_",
    r"\,": " ",
    r"\;": " ",
}


def _plain_math(tex: str) -> str:
    """A LaTeX fragment as readable plain text (Greek letters and relations as characters)."""
    tex = re.sub(r"\\[td]?frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", tex)
    tex = re.sub(r"\\tfrac(\d)(\d)", r"\1/\2", tex)
    tex = re.sub(r"\\(?:mathrm|text|operatorname|mathbf|mathit)\{([^{}]*)\}", r"\1", tex)
    tex = re.sub(r"\\sqrt\{([^{}]*)\}", r"√(\1)", tex)
    for macro, char in sorted(_MATH_SYMBOLS.items(), key=lambda kv: -len(kv[0])):
        # \mu must not eat the start of \mult, but \, may stand right before a letter
        tail = r"(?![A-Za-z])" if macro[-1].isalpha() else ""
        tex = re.sub(re.escape(macro) + tail, char.replace("\\", "\\\\"), tex)
    tex = re.sub(r"\\([A-Za-z]+)", r"\1", tex)  # any other macro: its name
    tex = re.sub(r"\^\{?2\}?(?![0-9])", "²", tex)
    return tex.replace("{", "").replace("}", "")


def _plain_rst(text: str) -> str:
    """A docstring paragraph without reStructuredText markup (``code``, :math:`x`, :func:`f`)."""
    text = re.sub(r":math:`([^`]*)`", lambda m: _plain_math(m.group(1)), text)
    text = re.sub(r":[a-z]+:`~?([^`]*)`", r"\1", text)
    text = re.sub(r"``([^`]+)``", r"\1", text)
    return " ".join(text.split())


def _first_sentence(description: str, limit: int = 180) -> str:
    """The concept a property checks: the first sentence of its description, at most ``limit`` characters."""
    plain = _plain_rst(description)
    first = re.split(r"(?<=[.!?])\s+(?=[A-Z])", plain, maxsplit=1)[0]
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


def _failure_groups(failures: list[tuple[str, PropertyResult]]) -> tuple[FailureGroup, ...]:
    grouped: dict[tuple[str, str], list[tuple[str, PropertyResult]]] = defaultdict(list)
    for student, p in failures:
        grouped[(_status(p), message_shape(p.message) or "(no message)")].append((student, p))
    groups = []
    for (status, shape), members in grouped.items():
        # shortest counterexample text wins (an empty one only when none has one); ties by student name
        rep_student, rep = min(members, key=lambda m: (not m[1].counterexample, len(m[1].counterexample), m[0]))
        first = rep.message.strip().split("\n", 1)[0]
        variants = len({" ".join(p.message.strip().split("\n", 1)[0].split()) for _, p in members})
        students = tuple(sorted(s for s, _ in members))
        groups.append(FailureGroup(shape, status, students, rep_student, first, rep.counterexample, variants))
    # real failures before "not run", the most common first
    groups.sort(key=lambda g: (g.status != "failed", -g.count, g.shape))
    return tuple(groups)


def _property_stats(students: Sequence[StudentReport]) -> tuple[PropertyStats, ...]:
    by_name: dict[str, list[tuple[str, PropertyResult]]] = defaultdict(list)
    for s in students:
        for p in s.report.properties:
            by_name[p.name].append((s.name, p))
    stats = []
    for name, entries in by_name.items():
        descriptions = Counter(p.description for _, p in entries if p.description)
        description = descriptions.most_common(1)[0][0] if descriptions else ""
        functions = tuple(dict.fromkeys(f for _, p in entries for f in p.functions))
        statuses = Counter(_status(p) for _, p in entries)
        failures = [(s, p) for s, p in entries if not p.passed]
        stats.append(
            PropertyStats(
                name=name,
                concept=_first_sentence(description) if description else "",
                description=_plain_rst(description),
                functions=functions,
                weights=tuple(sorted({p.weight for _, p in entries})),
                category=Counter(p.category for _, p in entries).most_common(1)[0][0],
                graded=len(entries),
                passed=statuses["passed"],
                failed=statuses["failed"],
                not_run=statuses["not run"],
                groups=_failure_groups(failures),
            )
        )
    stats.sort(key=lambda p: (p.pass_rate, -p.graded, p.name))
    return tuple(stats)


def _missing_names(message: str) -> set[str]:
    """Contract names a property's message says the submission does not define."""
    found: set[str] = set()
    for m in _MISSING.finditer(message):
        found.update(re.findall(r"`([^`]+)`", m.group(1)))
    return found


def _did_not_load(p: PropertyResult) -> bool:
    """Whether the property was not graded because the submission did not load."""
    return p.message.startswith(NOT_LOADED)


def _contract_names() -> tuple[str, ...]:
    try:
        from reference.contract import NAMES
    except ImportError:  # an installation without the reference: only the names the reports mention
        return ()
    return tuple(NAMES)


def _function_stats(students: Sequence[StudentReport]) -> tuple[FunctionStats, ...]:
    contract = _contract_names()
    mentioned = dict.fromkeys(f for s in students for p in s.report.properties for f in p.functions)
    names = list(contract) + sorted(f for f in mentioned if f not in contract)
    stats = []
    for fn in names:
        props: dict[str, None] = {}
        considered = defined = pass_all = 0
        for s in students:
            mine = [p for p in s.report.properties if fn in p.functions]
            if not mine:
                continue
            props.update(dict.fromkeys(p.name for p in mine))
            considered += 1
            # a submission that did not load defines nothing that can be seen
            defined += not any(fn in _missing_names(p.message) or _did_not_load(p) for p in mine)
            pass_all += all(p.passed for p in mine)
        stats.append(FunctionStats(fn, tuple(props), considered, defined, pass_all, fn in contract))
    return tuple(stats)


def _classify(error: str) -> str:
    text = error.strip()
    low = text.lower()
    if low.startswith("the grader failed"):
        return "grader failure"
    if low.startswith("cannot grade this submission"):
        return "not gradable"
    # the load problem of a child that died or ran past the load time limit while loading
    if re.match(r"load: ", text) or re.match(r"loading .* failed", text):
        return "load error"
    if "time limit" in low:
        return "time limit"
    if re.match(r"cell \d+", text):
        return "notebook cell"
    if re.match(r"(line \d+|load\b)", text):
        return "load error"
    if any(w in low for w in ("timed out", "crashed the child", "killed", "memory", "child restarted")):
        return "isolation event"
    return "other error"


def _needs_look(students: Sequence[StudentReport]) -> tuple[NeedsLook, ...]:
    flagged = []
    for s in students:
        r = s.report
        problems: list[tuple[str, str]] = [(_classify(e), " ".join(e.split())) for e in r.errors]
        if not r.complete and not any(k == "grader failure" for k, _ in problems):
            running = f" while {r.running} was running" if r.running else ""
            problems.insert(0, ("grader failure", f"the report is incomplete: grading did not finish{running}"))
        if not any(k == "time limit" for k, _ in problems):
            stopped = [p.name for p in r.properties if p.status == "not run" and "time limit" in p.message]
            if stopped:
                problems.append(("time limit", f"{len(stopped)} properties not run: time limit reached"))
        if not any(k == "load error" for k, _ in problems):
            unloaded = next((p for p in r.properties if _did_not_load(p)), None)
            if unloaded is not None:  # the errors do not say it (a report edited, or from elsewhere): the properties do
                problems.append(("load error", " ".join(unloaded.message.split())))
        if problems:
            problems.sort(key=lambda kd: LOOK_KINDS.index(kd[0]))
            flagged.append(NeedsLook(s.name, tuple(problems)))
    return tuple(flagged)


def _tally(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def _provenance(students: Sequence[StudentReport], generated: str) -> Provenance:
    from vicheck import __version__

    versions: dict[str, Counter[str]] = defaultdict(Counter)
    for s in students:
        for k, v in s.report.versions.items():
            versions[str(k)][str(v)] += 1
    reports = [s.report for s in students]
    return Provenance(
        vicheck=__version__,
        generated=generated,
        versions={k: dict(sorted(c.items())) for k, c in sorted(versions.items())},
        profiles=_tally(r.profile or "unknown" for r in reports),
        rubrics=_tally(r.rubric or "unknown" for r in reports),
        isolation=_tally(r.isolation or "unknown" for r in reports),
        resources=_tally(r.resources or "unknown" for r in reports),
        seeds=_tally(r.hypothesis_seed or "not recorded" for r in reports),
    )


def _default_now() -> datetime:
    """Now, or ``SOURCE_DATE_EPOCH`` when set (the reproducible-builds convention)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc)
    return datetime.now(timezone.utc)


def _format_date(now: datetime) -> str:
    if now.tzinfo is not None:
        now = now.astimezone(timezone.utc)
        return now.strftime("%Y-%m-%d %H:%M:%S UTC")
    return now.strftime("%Y-%m-%d %H:%M:%S")


def class_statistics(reports: ClassReports, *, now: datetime | None = None) -> ClassStatistics:
    """What the class page shows, computed from ``reports`` (``now`` dates the page; default: now)."""
    students = tuple(reports.students)
    return ClassStatistics(
        folder=reports.folder,
        students=students,
        scores=_score_stats(students),
        properties=_property_stats(students),
        functions=_function_stats(students),
        needs_look=_needs_look(students),
        provenance=_provenance(students, _format_date(now or _default_now())),
        skipped=tuple(reports.skipped),
    )


# --------------------------------------------------------------------------------------------- formatting


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}%"


def _num(x: float) -> str:
    return f"{x:g}"


def _weights(ws: Sequence[float]) -> str:
    return " / ".join(_num(w) for w in ws) or "–"


def _href(path: Path) -> str:
    return quote(path.name)


def _bin_label(i: int) -> str:
    lo, hi = i * BIN_WIDTH, (i + 1) * BIN_WIDTH
    return f"{lo}–{hi}%"


def _rate_class(rate: float) -> str:
    return "low" if rate < 0.5 else ("mid" if rate < 0.8 else "high")


def _histogram_svg(scores: ScoreStats) -> str | None:
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


def _html_histogram(scores: ScoreStats) -> str:
    """The histogram as plain HTML bars (no matplotlib needed)."""
    top = max(scores.bins) or 1
    cols = []
    for i, n in enumerate(scores.bins):
        cols.append(
            f'<div class="hcol"><span class="hn">{n}</span>'
            f'<span class="hbar" style="height:{round(100 * n / top)}%"></span>'
            f'<span class="hl">{_e(_bin_label(i))}</span></div>'
        )
    return f'<div class="hist" role="img" aria-label="score histogram">{"".join(cols)}</div>'


# --------------------------------------------------------------------------------------------- HTML

_CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#f6f8fa; --low:#cf222e; --mid:#bf8700; --high:#1a7f37; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg);
       margin: 0 auto; max-width: 1180px; padding: 18px 28px 40px; }
h1 { font-size: 24px; margin: 4px 0 2px; } h2 { font-size: 19px; margin: 30px 0 8px;
     border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.sub, .note { color: var(--muted); font-size: 13px; }
code, pre { font: 12.5px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
pre { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 6px 9px; margin: 4px 0;
      white-space: pre-wrap; word-break: break-word; max-height: 9em; overflow: auto; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid var(--line); }
th { background: var(--bg); font-weight: 600; white-space: nowrap; }
td.n, th.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.group .note { margin: 1px 0; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 14px 0 6px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; min-width: 120px; }
.card .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .v { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
figure { margin: 8px 0; } figure svg { max-width: 100%; height: auto; }
.rate { display: flex; align-items: center; gap: 8px; white-space: nowrap; }
.bar { width: 90px; height: 9px; background: #eaeef2; border-radius: 5px; overflow: hidden; flex: none; }
.bar span { display: block; height: 100%; }
.low .bar span { background: var(--low); } .mid .bar span { background: var(--mid); }
.high .bar span { background: var(--high); }
.pname { font-weight: 600; } .cat { font-weight: 400; font-size: 11px; color: var(--muted);
  border: 1px solid var(--line); border-radius: 10px; padding: 0 6px; margin-left: 4px; }
.concept { color: var(--muted); font-size: 13px; }
tr.groups td { background: #fffdf5; border-bottom: 1px solid var(--line); padding: 4px 8px 8px 22px; }
.group { margin: 4px 0 8px; } .count { font-weight: 600; color: var(--low); }
.tag { display: inline-block; font-size: 12px; border-radius: 10px; padding: 0 8px; margin: 1px 2px 1px 0;
       background: #ffebe9; color: #82071e; border: 1px solid #ffcecb; white-space: nowrap; }
.tag.notrun { background: #fff8c5; color: #633c01; border-color: #eac54f; }
details summary { cursor: pointer; color: var(--muted); font-size: 13px; }
.hist { display: flex; align-items: flex-end; gap: 4px; height: 150px; max-width: 640px; padding-top: 4px; }
.hcol { flex: 1; display: flex; flex-direction: column; align-items: center; justify-content: flex-end; height: 100%; }
.hbar { width: 100%; background: #4c78a8; min-height: 1px; } .hn { font-size: 12px; }
.hl { font-size: 11px; color: var(--muted); white-space: nowrap; }
.hint { background: #fff8c5; border: 1px solid #eac54f; border-radius: 6px; padding: 4px 10px; font-size: 13px; }
ul.plain { margin: 4px 0; padding-left: 20px; }
"""


def _html_cards(st: ClassStatistics) -> str:
    sc = st.scores
    cards = [
        ("reports", str(len(st.students)), "reports"),
        ("scored", str(sc.count), "scored"),
        ("median", _pct(sc.median), "median"),
        ("Q1 – Q3", f"{_pct(sc.q1)} – {_pct(sc.q3)}", "quartiles"),
        ("mean", _pct(sc.mean), "mean"),
        ("min – max", f"{_pct(sc.minimum)} – {_pct(sc.maximum)}", "range"),
        ("need a look", str(len(st.needs_look)), "needs-look-count"),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card" id="card-{i}"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div></div>'
            for k, v, i in cards
        )
        + "</div>"
    )


def _html_scores(st: ClassStatistics) -> str:
    sc = st.scores
    out = ['<h2 id="scores">Score distribution</h2>', _html_cards(st)]
    svg = _histogram_svg(sc)
    if svg is not None:
        out.append(f'<figure class="plot">{svg}</figure>')
    else:
        out.append(f'<figure class="plot">{_html_histogram(sc)}</figure>')
        out.append(f'<p class="hint" id="plots-hint">{_e(PLOTS_HINT)}</p>')
    head = "".join(f'<th class="n">{_e(_bin_label(i))}</th>' for i in range(len(sc.bins)))
    row = "".join(f'<td class="n">{n}</td>' for n in sc.bins)
    out.append(f'<table id="bins"><tr><th>score</th>{head}</tr><tr><th>students</th>{row}</tr></table>')
    notes = [
        f"Percent of each report's maximum score; bins are {BIN_WIDTH} points wide, "
        f"lower edge included (100% falls in the last). {QUARTILE_METHOD}"
    ]
    if sc.excluded:
        notes.append(
            f"Not in the distribution ({len(sc.excluded)}; no score: the grader failed or no property ran): "
            + ", ".join(sc.excluded)
            + "."
        )
    out += [f'<p class="note">{_e(n)}</p>' for n in notes]
    return "\n".join(out)


def _student_link(students: dict[str, StudentReport], name: str) -> str:
    student = students.get(name)
    feedback = student.companion(".md") if student else None
    if feedback is None:
        return _e(name)
    return f'<a href="{_e(_href(feedback))}">{_e(name)}</a>'


def _html_group(students: dict[str, StudentReport], g: FailureGroup, graded: int) -> str:
    tag = '<span class="tag notrun">not run</span> ' if g.status != "failed" else ""
    # one summary shared by all: show it as it is; several that differ in numbers: show their shape
    summary = g.message if g.variants == 1 else g.shape
    variants = f' <span class="note">({g.variants} variants)</span>' if g.variants > 1 else ""
    who = ", ".join(_student_link(students, s) for s in g.students)
    if g.count > 6:  # a long list stays folded
        who = f"<details><summary>{g.count} students</summary>{who}</details>"
    else:
        who = f'<div class="note">{who}</div>'
    parts = [
        f'<div class="group" data-shape="{_e(g.shape)}" data-count="{g.count}" data-status="{_e(g.status)}">',
        f'{tag}<span class="count">{g.count} of {graded}</span> <code class="shape">{_e(summary)}</code>{variants}',
        who,
    ]
    if g.counterexample:
        parts.append(
            f'<div class="note">minimal counterexample (from {_student_link(students, g.representative)}):</div>'
            f'<pre class="cx">{_e(g.counterexample)}</pre>'
        )
    parts.append("</div>")
    return "".join(parts)


def _html_properties(st: ClassStatistics) -> str:
    out = [
        '<h2 id="properties">Properties, hardest first</h2>',
        '<p class="note">Pass rate = passed / graded; a property that was not run counts as not passed and is '
        "shown in its own column. Under each failing property: its failures grouped by the shape of the summary "
        f"line (numbers shown as {_e(NUMBER_PLACEHOLDER)}), the most common first, each with the shortest "
        "counterexample in its group. Student names link to their feedback.</p>",
        '<table id="property-table"><thead><tr><th>property and the concept it checks</th><th>functions</th>'
        '<th class="n">weight</th><th>pass rate</th><th class="n">failed</th><th class="n">not run</th>'
        "</tr></thead><tbody>",
    ]
    students = {s.name: s for s in st.students}
    for p in st.properties:
        cls = _rate_class(p.pass_rate)
        funcs = ", ".join(f"<code>{_e(f)}</code>" for f in p.functions) or "–"
        category = f' <span class="cat">{_e(p.category)}</span>' if p.category else ""
        title = f' title="{_e(p.description)}"' if p.description else ""
        out.append(
            f'<tr class="prop" data-property="{_e(p.name)}" data-passed="{p.passed}" data-graded="{p.graded}" '
            f'data-failed="{p.failed}" data-not-run="{p.not_run}">'
            f'<td><div class="pname"><code>{_e(p.name)}</code>{category}</div>'
            f'<div class="concept"{title}>{_e(p.concept)}</div>'
            f'</td><td>{funcs}</td><td class="n">{_e(_weights(p.weights))}</td>'
            f'<td><div class="rate {cls}"><div class="bar"><span style="width:{100 * p.pass_rate:.0f}%"></span></div>'
            f'<span class="rate-text">{p.passed} / {p.graded} ({100 * p.pass_rate:.0f}%)</span></div></td>'
            f'<td class="n">{p.failed}</td><td class="n">{p.not_run}</td></tr>'
        )
        if p.groups:
            body = "".join(_html_group(students, g, p.graded) for g in p.groups)
            out.append(f'<tr class="groups" data-for="{_e(p.name)}"><td colspan="6">{body}</td></tr>')
    out.append("</tbody></table>")
    if not st.properties:
        out.append('<p class="note">No report lists any property.</p>')
    return "\n".join(out)


def _html_functions(st: ClassStatistics) -> str:
    out = [
        '<h2 id="functions">Functions of the contract</h2>',
        '<p class="note">Of the students whose report has a property exercising the function: how many define it '
        "(no property says “submission defines no …” or that the submission did not load), and how many pass every "
        "property that exercises it.</p>",
        '<table id="function-table"><thead><tr><th>function</th><th class="n">properties</th>'
        '<th class="n">students</th><th class="n">define it</th><th class="n">pass all its properties</th>'
        "</tr></thead><tbody>",
    ]
    for f in st.functions:
        extra = "" if f.in_contract else ' <span class="note">(not in the contract)</span>'
        if f.students == 0:
            cells = '<td class="n">0</td><td class="note" colspan="3">not exercised by any property run</td>'
        else:
            cells = (
                f'<td class="n">{len(f.properties)}</td><td class="n">{f.students}</td>'
                f'<td class="n defined">{f.defined}</td><td class="n pass-all">{f.pass_all}</td>'
            )
        out.append(
            f'<tr data-function="{_e(f.name)}" data-students="{f.students}" data-defined="{f.defined}" '
            f'data-pass-all="{f.pass_all}"><td><code>{_e(f.name)}</code>{extra}</td>{cells}</tr>'
        )
    out.append("</tbody></table>")
    return "\n".join(out)


def _html_links(s: StudentReport) -> str:
    links = []
    for suffix, label in ((".md", "feedback"), (".json", "JSON"), (".log", "log")):
        path = s.companion(suffix)
        if path is not None:
            links.append(f'<a href="{_e(_href(path))}">{label}</a>')
    return " · ".join(links)


def _html_needs_look(st: ClassStatistics) -> str:
    out = ['<h2 id="needs-look">Needs a look by hand</h2>']
    if not st.needs_look:
        out.append('<p class="note">Nothing: every report is complete and no error was recorded.</p>')
        return "\n".join(out)
    out.append(
        '<p class="note">Grader failures, time limits, load errors, notebook cells that raised, not gradable '
        "submissions and isolation events (crashes, time-outs, memory).</p>"
    )
    out.append(
        '<table id="needs-look-table"><thead><tr><th>student</th><th>what</th><th>details</th><th>files</th>'
        "</tr></thead><tbody>"
    )
    students = {s.name: s for s in st.students}
    for flag in st.needs_look:
        tags = "".join(f'<span class="tag">{_e(k)}</span>' for k in flag.kinds)
        details = "".join(f"<li>{_e(d)}</li>" for _, d in flag.problems)
        out.append(
            f'<tr data-student="{_e(flag.student)}" data-kinds="{_e(";".join(flag.kinds))}">'
            f"<td>{_e(flag.student)}</td><td>{tags}</td>"
            f'<td><ul class="plain">{details}</ul></td><td>{_html_links(students[flag.student])}</td></tr>'
        )
    out.append("</tbody></table>")
    return "\n".join(out)


def _html_students(st: ClassStatistics) -> str:
    rows = []
    for s in st.students:
        r = s.report
        pct = _pct(_percent(r)) if r.max_score > 0 else "–"
        failed = sum(not p.passed for p in r.properties)
        rows.append(
            f'<tr data-student="{_e(s.name)}"><td>{_e(s.name)}</td><td class="n">{_num(r.score)} / '
            f'{_num(r.max_score)}</td><td class="n">{pct}</td><td class="n">{failed}</td>'
            f'<td class="n">{len(r.errors)}</td><td>{_html_links(s)}</td></tr>'
        )
    return (
        f'<h2 id="students">Students</h2><details><summary>all {len(st.students)} reports</summary>'
        '<table id="student-table"><thead><tr><th>student</th><th class="n">score</th><th class="n">%</th>'
        '<th class="n">not passed</th><th class="n">errors</th><th>files</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table></details>"
    )


def _tally_text(tally: dict[str, int], total: int) -> str:
    if len(tally) == 1:
        return next(iter(tally))
    return "; ".join(f"{v} ({n} of {total})" for v, n in tally.items()) + " — differs between reports"


def _provenance_items(st: ClassStatistics) -> list[tuple[str, str]]:
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


def _html_provenance(st: ClassStatistics) -> str:
    rows = "".join(f'<tr data-key="{_e(k)}"><th>{_e(k)}</th><td>{_e(v)}</td></tr>' for k, v in _provenance_items(st))
    out = ['<h2 id="provenance">Provenance</h2>', f'<table id="provenance-table">{rows}</table>']
    if st.skipped:
        items = "".join(f"<li>{_e(s)}</li>" for s in st.skipped)
        out.append(f'<p class="note">Files passed over:</p><ul class="plain" id="skipped">{items}</ul>')
    return "\n".join(out)


def render_html(st: ClassStatistics) -> str:
    """The class page for ``st``: one self-contained HTML document."""
    title = f"vicheck class report: {st.folder.name or st.folder}"
    sc = st.scores
    lead = (
        f"{len(st.students)} reports, {sc.count} scored; median {_pct(sc.median)}, quartiles {_pct(sc.q1)} – "
        f"{_pct(sc.q3)}. Generated {st.provenance.generated} by vicheck {st.provenance.vicheck}."
    )
    body = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="sub">{_e(lead)} See also <a href="summary.md">summary.md</a>'
        + (' and <a href="summary.csv">summary.csv</a>.' if (st.folder / "summary.csv").is_file() else ".")
        + "</p>",
        _html_scores(st),
        _html_properties(st),
        _html_functions(st),
        _html_needs_look(st),
        _html_students(st),
        _html_provenance(st),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="vicheck {_e(st.provenance.vicheck)}">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


# --------------------------------------------------------------------------------------------- markdown


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


def render_markdown(st: ClassStatistics) -> str:
    """The class page's tables as markdown."""
    sc = st.scores
    out = [f"# vicheck class report: {st.folder.name or st.folder}", ""]
    out += [
        f"{len(st.students)} reports, {sc.count} scored. Generated {st.provenance.generated} by vicheck "
        f"{st.provenance.vicheck}. The page with the plot: [index.html](index.html).",
        "",
        "## Score distribution",
        "",
        "| median | Q1 | Q3 | mean | min | max |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {_pct(sc.median)} | {_pct(sc.q1)} | {_pct(sc.q3)} | {_pct(sc.mean)} | {_pct(sc.minimum)} | "
        f"{_pct(sc.maximum)} |",
        "",
        "| score | students | |",
        "| --- | ---: | --- |",
    ]
    for i, n in enumerate(sc.bins):
        out.append(f"| {_bin_label(i)} | {n} | {'█' * n if n <= 60 else '█' * 60 + '…'} |")
    out += ["", f"Percent of each report's maximum score. {QUARTILE_METHOD}"]
    if sc.excluded:
        out.append(f"Not in the distribution (no score): {', '.join(sc.excluded)}.")
    out += [
        "",
        "## Properties, hardest first",
        "",
        "| property | category | concept | functions | weight | passed / graded | failed | not run |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for p in st.properties:
        funcs = ", ".join(_md_code(f) for f in p.functions) or "–"
        out.append(
            f"| {_md_code(p.name)} | {_md(p.category)} | {_md(p.concept)} | {funcs} | {_md(_weights(p.weights))} | "
            f"{p.passed} / {p.graded} ({100 * p.pass_rate:.0f}%) | {p.failed} | {p.not_run} |"
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
    out += [
        "",
        "## Functions of the contract",
        "",
        "| function | properties | students | define it | pass all its properties |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for f in st.functions:
        name = _md_code(f.name) + ("" if f.in_contract else " (not in the contract)")
        if f.students == 0:
            out.append(f"| {name} | 0 | – | – | – |")
        else:
            out.append(f"| {name} | {len(f.properties)} | {f.students} | {f.defined} | {f.pass_all} |")
    out += ["", "## Needs a look by hand", ""]
    if not st.needs_look:
        out.append("Nothing: every report is complete and no error was recorded.")
    else:
        out += ["| student | what | details | files |", "| --- | --- | --- | --- |"]
        students = {s.name: s for s in st.students}
        for flag in st.needs_look:
            s = students[flag.student]
            files = []
            for suffix, label in ((".md", "feedback"), (".json", "JSON"), (".log", "log")):
                path = s.companion(suffix)
                if path is not None:
                    files.append(f"[{label}]({_href(path)})")
            details = "; ".join(d for _, d in flag.problems)
            out.append(f"| {_md(flag.student)} | {_md(', '.join(flag.kinds))} | {_md(details)} | {' '.join(files)} |")
    out += ["", "## Provenance", ""]
    out += [f"- {k}: {' '.join(v.split())}" for k, v in _provenance_items(st)]
    if st.skipped:
        out += ["", "Files passed over:", ""] + [f"- {s}" for s in st.skipped]
    out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------- writing


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically (a browser refreshing the page never sees half a file)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the page from a web server or a colleague
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_class_report(folder: str | os.PathLike[str], *, now: datetime | None = None) -> tuple[Path, Path]:
    """Write ``index.html`` and ``summary.md`` into ``folder`` from the reports there; returns both paths.

    ``now`` dates the page (default: now, or ``SOURCE_DATE_EPOCH``); pass a fixed value for reproducible
    output. ``ValueError`` when ``folder`` holds no grade report.
    """
    root = Path(folder)
    reports = load_reports(root)
    if not reports.students:
        raise ValueError(f"{root}: no grade reports (<name>.json) in this folder")
    st = class_statistics(reports, now=now)
    page, summary = root / "index.html", root / "summary.md"
    _write_text(page, render_html(st))
    _write_text(summary, render_markdown(st))
    return page, summary


# --------------------------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, metavar="DIR", help="the --out folder of `vicheck grade`")
    parser.add_argument(
        "--date",
        metavar="ISO",
        help="date the page with this ISO 8601 time instead of now (reproducible output)",
    )


def run(args: argparse.Namespace) -> int:
    now = None
    if args.date:
        try:
            now = datetime.fromisoformat(args.date)
        except ValueError:
            print(f"vicheck report: --date {args.date!r} is not an ISO 8601 date", file=sys.stderr)
            return 2
    try:
        page, summary = write_class_report(args.folder, now=now)
    except (FileNotFoundError, NotADirectoryError, ValueError) as exc:
        print(f"vicheck report: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the folder is not writable
        print(f"vicheck report: could not write the class page: {exc}", file=sys.stderr)
        return 1
    print(f"class page in {page}; tables in {summary}")
    return 0
