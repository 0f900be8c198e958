"""The grade report's data: one :class:`PropertyResult` per property, one :class:`GradeReport` per run, and
the one reader of its JSON (:meth:`GradeReport.from_json`, lenient where it must be).

The JSON written by ``--grade-report`` is :meth:`GradeReport.to_json`; its field names are an interface
(instructors' scripts read them): ``submission``, ``score``, ``max_score``, ``properties`` (each ``name``,
``functions``, ``category``, ``weight``, ``passed``, ``message``, ``counterexample``, ``seconds``, ``status``,
``reason``, ``missing``, ...), ``errors`` and ``error_kinds``, plus provenance fields for replaying a
disputed grade.

What went wrong is data, not prose: each error has a kind (:data:`ERROR_KINDS`, in ``error_kinds``, one per
entry of ``errors``), and a property that has no verdict of its own says why in ``reason``
(:data:`PROPERTY_REASONS`) and, when functions are missing, which in ``missing``. Readers (the class page,
the gradebook exports) use these fields; only a report written before they existed is classified from its
text, once, when it is read (:func:`_legacy_error_kind`).
"""

from __future__ import annotations

import copy
import operator
import os
import re
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vicheck.grading.report.outputs import write_json_atomic

__all__ = [
    "ERROR_KINDS",
    "PROPERTY_REASONS",
    "GradeReport",
    "PropertyResult",
    "iso_utc",
    "now_utc",
    "read_report",
]

#: the kinds of error a report records, each with the label the class page shows, in the order the page
#: lists them
ERROR_KINDS: dict[str, str] = {
    "grader_failure": "grader failure",
    "not_gradable": "not gradable",
    "time_limit": "time limit",
    "notebook_cell": "notebook cell",
    "load_error": "load error",
    "isolation_event": "isolation event",
    "other": "other error",
}

#: why a property has no verdict of its own ("": it ran, and ``passed`` says how it went)
PROPERTY_REASONS: dict[str, str] = {
    "": "ran",
    "missing": "the submission defines no function it calls",
    "not_loaded": "the submission did not load",
    "time_limit": "the submission's time limit was reached before it ran",
    "grader_failure": "the grader failed before it ran",
    "not_run": "deselected or interrupted",
}


@dataclass
class PropertyResult:
    """One property's verdict. ``status`` is ``"passed"``, ``"failed"``, ``"pending"`` or ``"not run"``;
    ``reason`` (a key of :data:`PROPERTY_REASONS`) says why a property failed or was not run without a verdict
    on values of its own, ``missing`` which contract functions it needed that the submission lacks."""

    name: str
    functions: list[str]
    category: str
    weight: float
    passed: bool = False
    message: str = ""
    counterexample: str = ""
    seconds: float = 0.0
    status: str = "pending"
    visibility: str = "visible"
    description: str = ""
    reason: str = ""
    missing: list[str] = field(default_factory=list)
    #: the contract functions its calls reached (the submission's own call graph, traced where its code ran),
    #: each with how often it ran: of the failing example when it failed (the shrunk one whose ``message`` is
    #: reported), else of its last example; empty where nothing was traced
    reached: dict[str, int] = field(default_factory=dict)
    #: set (``"through integrate"``) when the rubric carries errors forward and the property fails only
    #: through a root of the diagnosis: its points are given (``score`` counts them)
    carried_forward: str = ""

    @property
    def earned(self) -> float:
        """The points it earns: its weight when it passed or its error is carried forward, else 0."""
        return self.weight if self.passed or self.carried_forward else 0.0

    def stop(self, reason: str, message: str) -> None:
        """Mark the property not run, for ``reason`` (a key of :data:`PROPERTY_REASONS`)."""
        self.status, self.passed, self.reason, self.message = "not run", False, reason, message


@dataclass
class GradeReport:
    """A whole run: the submission, its score, every property and every error met on the way."""

    submission: str
    properties: list[PropertyResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    profile: str = ""
    hypothesis_seed: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    rubric: str = ""
    hidden_left_out: int = 0
    running: str = ""
    complete: bool = False
    submission_sha256: str = ""
    #: how the submission's code was isolated: ``namespaces``, ``uid``, ``process`` or ``none`` (in process)
    isolation: str = ""
    #: how its resources were bounded as a whole: ``cgroup2``, ``cgroup1`` (a control group per submission),
    #: ``rlimits`` (each process's own) or ``none`` (in the grader's process)
    resources: str = ""
    #: when grading finished (UTC, ISO 8601; ``SOURCE_DATE_EPOCH`` when set): the newest of two reports of one
    #: student wins when folders graded apart are merged
    graded_at: str = ""
    #: the kind of each entry of ``errors`` (a key of :data:`ERROR_KINDS`), in the same order
    error_kinds: list[str] = field(default_factory=list)
    #: the failures traced to the functions where the mistakes are, most to fix first
    #: (:func:`vicheck.grading.report.diagnosis.diagnose`): each root ``function``, ``category``, its own
    #: failing ``properties`` and, in ``through``, the ``function``/``properties`` that fail through it
    diagnosis: list[dict[str, Any]] = field(default_factory=list)
    #: whether the rubric carries errors forward (``[grading] carried_forward``)
    carried_forward: bool = False

    @property
    def score(self) -> float:
        return float(sum(p.earned for p in self.properties))

    @property
    def max_score(self) -> float:
        return float(sum(p.weight for p in self.properties))

    @property
    def percent(self) -> float:
        """The score in percent of the maximum, to one decimal (0 when there is no maximum)."""
        return round(100.0 * self.score / self.max_score, 1) if self.max_score > 0 else 0.0

    def add_error(self, kind: str, text: str) -> None:
        """Record an error of ``kind`` (a key of :data:`ERROR_KINDS`)."""
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {kind!r}")
        self._align_kinds()
        self.errors.append(text)
        self.error_kinds.append(kind)

    def error_items(self) -> list[tuple[str, str]]:
        """Every error as ``(kind, text)``."""
        self._align_kinds()
        return list(zip(self.error_kinds, self.errors, strict=True))

    def has_error(self, kind: str) -> bool:
        return any(k == kind for k, _ in self.error_items())

    @property
    def grader_failed(self) -> bool:
        """Whether the report is no grade: grading did not finish, or the grader failed on the way."""
        return not self.complete or self.has_error("grader_failure")

    def _aligned_kinds(self) -> list[str]:
        # errors appended by hand (a test, an older caller) get their kind from their text
        kinds = list(self.error_kinds[: len(self.errors)])
        return kinds + [_legacy_error_kind(text) for text in self.errors[len(kinds) :]]

    def _align_kinds(self) -> None:
        if len(self.error_kinds) != len(self.errors):
            self.error_kinds = self._aligned_kinds()

    def to_json(self) -> dict[str, Any]:
        """The report's JSON form, sharing nothing mutable with the report."""
        return copy.deepcopy(self._json_view())

    def _json_view(self) -> dict[str, Any]:
        # the JSON form with the report's own lists and dicts inside, for serialising at once: the plugin
        # writes the report around every property, and dataclasses.asdict's recursive deep copy was most of
        # what that cost
        data: dict[str, Any] = {
            "submission": self.submission,
            "score": self.score,
            "max_score": self.max_score,
            "properties": [dict(zip(_PROPERTY_FIELDS, _property_values(p), strict=True)) for p in self.properties],
            "errors": self.errors,
        }
        data.update((name, getattr(self, name)) for name in _REPORT_FIELDS if name not in data)
        if len(self.error_kinds) != len(self.errors):  # the JSON always gives every error its kind
            data["error_kinds"] = self._aligned_kinds()
        return data

    @classmethod
    def from_json(cls, data: Any) -> GradeReport:
        """A report from its JSON form, tolerating fields a newer or older vicheck added or lacked.

        ``ValueError`` when ``data`` is not a grade report (no ``submission`` text, no ``properties`` list,
        a property without a name, bad functions or weight)."""
        if not isinstance(data, dict) or not isinstance(data.get("submission"), str):
            raise ValueError("no submission field")
        if not isinstance(data.get("properties"), list) or not isinstance(data.get("errors", []), list):
            raise ValueError("no properties list")
        props = [_property_from_json(p) for p in data["properties"]]
        known = {k: v for k, v in data.items() if k in _REPORT_FIELD_SET and k != "properties"}
        report = cls(properties=props, **known)
        report.errors = [str(e) for e in report.errors]
        kinds = report.error_kinds if isinstance(report.error_kinds, list) else []
        report.error_kinds = [k if k in ERROR_KINDS else "other" for k in map(str, kinds)]
        report._align_kinds()
        if not isinstance(report.diagnosis, list):
            report.diagnosis = []
        report.diagnosis = [d for d in report.diagnosis if isinstance(d, dict)]
        report.carried_forward = report.carried_forward is True
        return report

    def write(self, path: str | os.PathLike[str], *, interim: bool = False) -> None:
        """Write the JSON report; ``interim``: a snapshot of a run still going (compact JSON, written after
        every property, where the indented form cost a pure-Python encoding of the whole report each time)."""
        write_json_atomic(Path(path), self._json_view(), indent=None if interim else 2)


_PROPERTY_FIELDS = tuple(f.name for f in fields(PropertyResult))
_PROPERTY_FIELD_SET = frozenset(_PROPERTY_FIELDS)
_property_values = operator.attrgetter(*_PROPERTY_FIELDS)
_REPORT_FIELDS = tuple(f.name for f in fields(GradeReport))
_REPORT_FIELD_SET = frozenset(_REPORT_FIELDS)


def read_report(path: str | os.PathLike[str]) -> GradeReport:
    """The report in the JSON file ``path``: ``OSError``, ``UnicodeDecodeError`` or ``ValueError``
    (``json.JSONDecodeError`` among them) when it cannot be read as one."""
    import json

    return GradeReport.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def _property_from_json(data: Any) -> PropertyResult:
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ValueError("a property without a name")
    known = {k: v for k, v in data.items() if k in _PROPERTY_FIELD_SET}
    known.setdefault("functions", [])
    known.setdefault("category", "")
    known.setdefault("weight", 0.0)
    prop = PropertyResult(**known)
    if not isinstance(prop.functions, list) or not isinstance(prop.weight, (int, float)):
        raise ValueError(f"property {prop.name}: bad functions or weight")
    prop.weight = float(prop.weight)
    if "status" not in data:  # reports older than the status field
        not_run = prop.message.startswith("not run")
        prop.status = "passed" if prop.passed else ("not run" if not_run else "failed")
    if "reason" not in data:  # reports older than the reason field
        prop.reason, prop.missing = _legacy_reason(prop)
    if prop.reason not in PROPERTY_REASONS:
        prop.reason = "not_run" if prop.status == "not run" else ""
    if not isinstance(prop.missing, list):
        prop.missing = []
    prop.missing = [str(m) for m in prop.missing]
    if not isinstance(prop.reached, dict):
        prop.reached = {}
    prop.reached = {str(k): int(v) for k, v in prop.reached.items() if isinstance(v, int)}
    prop.carried_forward = str(prop.carried_forward or "")
    return prop


# ------------------------------------------------------------------------------- reports written before kinds
# These read the sentences older versions of the grader wrote (and only them): a report written since has its
# kinds as fields, and nothing else parses a message.

_LEGACY_MISSING = re.compile(r"submission defines no ((?:`[^`]+`(?:, )?)+)")
_LEGACY_NOT_LOADED = "not graded: the submission did not load ("


def _legacy_reason(p: PropertyResult) -> tuple[str, list[str]]:
    if p.passed:
        return "", []
    if p.message.startswith(_LEGACY_NOT_LOADED):
        return "not_loaded", []
    found = _LEGACY_MISSING.search(p.message)
    if found:
        return "missing", re.findall(r"`([^`]+)`", found.group(1))
    if p.status == "not run":
        if "time limit" in p.message:
            return "time_limit", []
        if "grader failed" in p.message:
            return "grader_failure", []
        return "not_run", []
    return "", []


def _legacy_error_kind(error: str) -> str:
    text = error.strip()
    low = text.lower()
    if low.startswith("the grader failed"):
        return "grader_failure"
    if low.startswith("cannot grade this submission"):
        return "not_gradable"
    # the load problem of a child that died or ran past the load time limit while loading
    if re.match(r"load: ", text) or re.match(r"loading .* failed", text):
        return "load_error"
    if "time limit" in low:
        return "time_limit"
    if re.match(r"cell \d+", text):
        return "notebook_cell"
    if re.match(r"(line \d+|load\b|notebook\b)", text):
        return "load_error"
    if any(w in low for w in ("timed out", "crashed the child", "killed", "memory", "child restarted")):
        return "isolation_event"
    return "other"


def now_utc() -> datetime:
    """Now, or ``SOURCE_DATE_EPOCH`` when set (the reproducible-builds convention: a regrade then writes the
    very same bytes)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc)
    return datetime.now(timezone.utc)


def iso_utc(moment: datetime) -> str:
    """``moment`` as the report's ``graded_at``: UTC, ISO 8601, to the second."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
