"""What the class page shows, computed from a class's reports: the score distribution, each property's pass
rate and failure groups, each contract function's use, the submissions that need a look by hand, the roster's
loose ends and the provenance.

Nothing here reads a message to learn what happened: a property that did not load, lacks functions or was
stopped by the time limit says so in ``reason`` and ``missing``, and each error carries its kind
(:data:`~vicheck.grading.report.records.ERROR_KINDS`). Messages are only grouped by their shape and shown.
"""

from __future__ import annotations

import os
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from vicheck.grading.report.classpage._plain import first_sentence, plain_rst
from vicheck.grading.report.diagnosis import only_through
from vicheck.grading.report.folder import ClassReports, StudentReport
from vicheck.grading.report.records import ERROR_KINDS, GradeReport, PropertyResult

__all__ = [
    "BIN_WIDTH",
    "LOOK_KINDS",
    "NUMBER_PLACEHOLDER",
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
    "report_percent",
]

#: what stands for a number in a failure message's shape
NUMBER_PLACEHOLDER = "<n>"
#: width of a histogram bin, in percent of the maximum score
BIN_WIDTH = 10
#: the kinds of trouble that put a submission on the "needs a look" list (the labels of the error kinds), in
#: the order the page lists them
LOOK_KINDS: tuple[str, ...] = tuple(ERROR_KINDS.values())
# a number not glued to an identifier: 3, -0.25, 1e-06, 4.5E+3, .5 (float32 or kl_divergence_1 stay)
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w])")


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
    #: of the ``failed``: how many failed only through a helper found to hold the mistake (the report's
    #: ``diagnosis``), probably consequences of that helper's mistake
    consequences: int = 0

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
    #: students whose diagnosis finds the function fails on its own (a root: the mistake is probably there)
    own: int = 0
    #: students where it fails only through a helper (its failing properties went through another root)
    through: int = 0


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


class RosterMatchView(Protocol):
    """What the class page reads of a roster match (:class:`vicheck.grading.report.roster.RosterMatch`): the
    roster's ``kind`` (``canvas`` or ``moodle``), the submissions that match no student of it (``unmatched``)
    and the students, by display name, with no submission (``missing``)."""

    @property
    def kind(self) -> str: ...

    @property
    def unmatched(self) -> Sequence[str]: ...

    @property
    def missing(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class RosterStats:
    """The class against its roster: submissions whose grade reaches no student of the roster (``unmatched``,
    never to be dropped silently) and students without a submission (``missing``)."""

    kind: str
    unmatched: tuple[str, ...]
    missing: tuple[str, ...]


@dataclass(frozen=True)
class ClassStatistics:
    """Everything the class page shows; ``roster`` is ``None`` when no roster was given."""

    folder: Path
    students: tuple[StudentReport, ...]
    scores: ScoreStats
    properties: tuple[PropertyStats, ...]
    functions: tuple[FunctionStats, ...]
    needs_look: tuple[NeedsLook, ...]
    provenance: Provenance
    skipped: tuple[str, ...]
    roster: RosterStats | None = None
    #: whether any report has a diagnosis (traced calls): the page then tells a function's own failures from
    #: those through a helper (reports written before the diagnosis existed leave the page as it was)
    diagnosed: bool = False


def message_shape(message: str) -> str:
    """The first line of ``message`` with every number replaced by :data:`NUMBER_PLACEHOLDER`."""
    first = message.strip().split("\n", 1)[0]
    return " ".join(_NUMBER.sub(NUMBER_PLACEHOLDER, first).split())


def report_percent(report: GradeReport) -> float:
    """The score in percent of the maximum, unrounded (the statistics round only what they show)."""
    return 100.0 * report.score / report.max_score


def _status(p: PropertyResult) -> str:
    """passed, failed or not run (a pending or running property of an unfinished run was not run)."""
    if p.passed:
        return "passed"
    return "failed" if p.status == "failed" else "not run"


def _score_stats(students: Sequence[StudentReport]) -> ScoreStats:
    counted = [
        (s.name, report_percent(s.report)) for s in students if s.report.max_score > 0 and not s.report.grader_failed
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
    diagnoses = {s.name: s.report.diagnosis for s in students}
    for s in students:
        for p in s.report.properties:
            by_name[p.name].append((s.name, p))
    stats = []
    for name, entries in by_name.items():
        descriptions = Counter(p.description for _, p in entries if p.description)
        description = descriptions.most_common(1)[0][0] if descriptions else ""
        statuses = Counter(_status(p) for _, p in entries)
        stats.append(
            PropertyStats(
                name=name,
                concept=first_sentence(description) if description else "",
                description=plain_rst(description),
                functions=tuple(dict.fromkeys(f for _, p in entries for f in p.functions)),
                weights=tuple(sorted({p.weight for _, p in entries})),
                category=Counter(p.category for _, p in entries).most_common(1)[0][0],
                graded=len(entries),
                passed=statuses["passed"],
                failed=statuses["failed"],
                not_run=statuses["not run"],
                groups=_failure_groups([(s, p) for s, p in entries if not p.passed]),
                consequences=sum(1 for s, p in entries if only_through(p, diagnoses[s])),
            )
        )
    stats.sort(key=lambda p: (p.pass_rate, -p.graded, p.name))
    return tuple(stats)


def _contract_names() -> tuple[str, ...]:
    try:
        from reference.contract import NAMES
    except ImportError:  # an installation without the reference: only the names the reports mention
        return ()
    return tuple(NAMES)


def _lacks(p: PropertyResult, fn: str) -> bool:
    """Whether ``p`` shows that its submission does not define ``fn``: it says so, or the submission did not
    load (and then defines nothing that can be seen)."""
    return p.reason == "not_loaded" or (p.reason == "missing" and fn in p.missing)


def _function_stats(students: Sequence[StudentReport]) -> tuple[FunctionStats, ...]:
    contract = _contract_names()
    mentioned = dict.fromkeys(f for s in students for p in s.report.properties for f in p.functions)
    names = list(contract) + sorted(f for f in mentioned if f not in contract)
    stats = []
    for fn in names:
        props: dict[str, None] = {}
        considered = defined = pass_all = own = through = 0
        for s in students:
            mine = [p for p in s.report.properties if fn in p.functions]
            if not mine:
                continue
            props.update(dict.fromkeys(p.name for p in mine))
            considered += 1
            defined += not any(_lacks(p, fn) for p in mine)
            pass_all += all(p.passed for p in mine)
            roots = {d.get("function") for d in s.report.diagnosis}
            own += fn in roots
            through += fn not in roots and any(only_through(p, s.report.diagnosis) for p in mine)
        stats.append(FunctionStats(fn, tuple(props), considered, defined, pass_all, fn in contract, own, through))
    return tuple(stats)


def _problems(r: GradeReport) -> list[tuple[str, str]]:
    """What needs a look in one report, as (label, detail) in the page's order."""
    problems = [(ERROR_KINDS[kind], " ".join(text.split())) for kind, text in r.error_items()]
    kinds = {k for k, _ in problems}
    if not r.complete and ERROR_KINDS["grader_failure"] not in kinds:
        running = f" while {r.running} was running" if r.running else ""
        unfinished = f"the report is incomplete: grading did not finish{running}"
        problems.insert(0, (ERROR_KINDS["grader_failure"], unfinished))
    if ERROR_KINDS["time_limit"] not in kinds:
        stopped = [p.name for p in r.properties if p.status == "not run" and p.reason == "time_limit"]
        if stopped:
            problems.append((ERROR_KINDS["time_limit"], f"{len(stopped)} properties not run: time limit reached"))
    if ERROR_KINDS["load_error"] not in kinds:
        unloaded = next((p for p in r.properties if p.reason == "not_loaded"), None)
        if unloaded is not None:  # the errors do not say it (a report edited, or from elsewhere): the properties do
            problems.append((ERROR_KINDS["load_error"], " ".join(unloaded.message.split())))
    problems.sort(key=lambda kd: LOOK_KINDS.index(kd[0]))
    return problems


def _needs_look(students: Sequence[StudentReport]) -> tuple[NeedsLook, ...]:
    flagged = (NeedsLook(s.name, tuple(_problems(s.report))) for s in students)
    return tuple(f for f in flagged if f.problems)


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


def class_statistics(
    reports: ClassReports, *, now: datetime | None = None, matches: RosterMatchView | None = None
) -> ClassStatistics:
    """What the class page shows, computed from ``reports`` (``now`` dates the page; default: now, or
    ``SOURCE_DATE_EPOCH``). ``matches``: the class matched against a roster (``None`` without one)."""
    students = tuple(reports.students)
    roster = None
    if matches is not None:
        roster = RosterStats(matches.kind, tuple(matches.unmatched), tuple(matches.missing))
    return ClassStatistics(
        folder=reports.folder,
        students=students,
        scores=_score_stats(students),
        properties=_property_stats(students),
        functions=_function_stats(students),
        needs_look=_needs_look(students),
        provenance=_provenance(students, _format_date(now or _default_now())),
        skipped=tuple(reports.skipped),
        roster=roster,
        diagnosed=any(s.report.diagnosis for s in students),
    )
