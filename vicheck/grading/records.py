"""The grade report's data: one :class:`PropertyResult` per property, one :class:`GradeReport` per run.

The JSON written by ``--grade-report`` is :meth:`GradeReport.to_json`; its field names are an
interface (instructors' scripts read them): ``submission``, ``score``, ``max_score``, ``properties``
(each ``name``, ``functions``, ``category``, ``weight``, ``passed``, ``message``, ``counterexample``,
``seconds``) and ``errors``, plus provenance fields for replaying a disputed grade.
"""

from __future__ import annotations

import copy
import json
import operator
import os
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["PropertyResult", "GradeReport", "write_json_atomic"]


@dataclass
class PropertyResult:
    """One property's verdict. ``status`` is ``"passed"``, ``"failed"``, ``"pending"`` or ``"not run"``."""

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

    @property
    def score(self) -> float:
        return float(sum(p.weight for p in self.properties if p.passed))

    @property
    def max_score(self) -> float:
        return float(sum(p.weight for p in self.properties))

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
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GradeReport:
        props = [PropertyResult(**p) for p in data.get("properties", [])]
        known = {f for f in cls.__dataclass_fields__ if f != "properties"}
        return cls(properties=props, **{k: v for k, v in data.items() if k in known})

    def write(self, path: str | os.PathLike[str], *, interim: bool = False) -> None:
        """Write the JSON report; ``interim``: a snapshot of a run still going (compact JSON, written after
        every property, where the indented form cost a pure-Python encoding of the whole report each time)."""
        write_json_atomic(Path(path), self._json_view(), indent=None if interim else 2)


_PROPERTY_FIELDS = tuple(f.name for f in fields(PropertyResult))
_property_values = operator.attrgetter(*_PROPERTY_FIELDS)
_REPORT_FIELDS = tuple(f.name for f in fields(GradeReport))


def write_json_atomic(path: Path, data: Any, indent: int | None = 2) -> None:
    """Write JSON so that a reader (or a kill mid-write) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        # json.dumps, not json.dump: only dumps uses the C encoder (when not indenting)
        fh.write(json.dumps(data, indent=indent))
        fh.write("\n")
    os.replace(tmp, path)
