"""What a run's failures say in the report: why a submission did not load, a failure's message and
counterexample, its short form in pytest's output, and the kind of each error met while grading."""

from __future__ import annotations

import re
from typing import Any

import pytest

from properties._checks import PropertyFailure
from vicheck.grading.report.records import GradeReport
from vicheck.implementation import Event, Implementation, LoadProblem, SubmissionProblem

__all__ = ["brief_failures", "explain", "load_failure", "record_errors"]

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
#: an isolation event's kind (:data:`vicheck.implementation.EVENT_KINDS`) -> the report's error kind; the
#: other events (time-outs of calls, crashes, restarts, limits) are isolation events
_EVENT_KINDS = {"time_limit": "time_limit", "load_failed": "load_error"}


def record_errors(report: GradeReport, problems: list[LoadProblem], events: list[Event]) -> None:
    """Add the load problems and the isolation events to ``report``'s errors, each with its kind."""
    for p in problems:
        report.add_error("notebook_cell" if p.where.startswith("cell ") else "load_error", str(p))
    for e in events:
        report.add_error(_EVENT_KINDS.get(e.kind, "isolation_event"), str(e))


def load_failure(implementation: Implementation) -> str | None:
    """Why the submission did not load (its load problem's kind and detail), or ``None`` when it loaded.

    It did not load when its process died, was killed or passed the load time limit while loading (the
    ``load`` problem :class:`~vicheck.sandbox.isolated.IsolatedImplementation` records), when its notebook
    could not be read (``notebook``), when its whole time limit ran out while loading, and when a ``.py``
    file's top-level code stopped on an error before it had defined any contract name (the last ``line N``
    problem, the error that stopped it). A ``.py`` that stopped after defining some contract names loaded in
    part, and a notebook whose cells raised loaded (each cell runs): a name then missing is truly missing.
    """
    problems = implementation.load_problems()
    for p in problems:
        if p.where in ("load", "notebook"):
            return f"{p.exc_type}: {p.message}"
    if implementation.names():
        return None
    stopped = [p for p in problems if p.where.startswith("line ")]
    if stopped:
        return str(stopped[-1])
    # the budget ran out during the first load (nothing loaded, so no call ran): IsolatedImplementation records
    # it only as an event
    return next((e for e in implementation.events() if e.kind == "time_limit"), None)


def explain(exc: BaseException) -> tuple[str, str]:
    """(message, counterexample) for the report, from the final (shrunk) failure."""
    notes = [n for n in getattr(exc, "__notes__", []) if n.startswith("Falsifying")]
    example = notes[0] if notes else ""
    if isinstance(exc, PropertyFailure):
        return str(exc), exc.call or example
    text = str(exc).strip().splitlines()
    # an object's address (Hypothesis' FlakyFailure shows the test's arguments) differs from run to run
    first = _ADDRESS.sub("", text[0]) if text else ""
    return f"{type(exc).__name__}: {first}"[:2000], example


def brief_failures(item: pytest.Function) -> None:
    """A property that fails because of the submission is shown by its message (what was called, what was
    expected, what came back) and Hypothesis' falsifying example, from the line that raised it. pytest's
    long form added the suite's source around every frame of the traceback, re-parsing each file it quotes
    for every failure and for every example Hypothesis reports: a fifth of the grader's time on a submission
    that fails a dozen properties. Any other exception (the suite's own bug) keeps the long form."""
    long_form = item.repr_failure

    def repr_failure(excinfo: pytest.ExceptionInfo[BaseException]) -> Any:
        exc = excinfo.value
        if not isinstance(exc, (PropertyFailure, SubmissionProblem)):
            return long_form(excinfo)
        # the property's own line that failed (the check it called raised the exception)
        frames = [e for e in excinfo.traceback if e.path == item.path] or list(excinfo.traceback)[-1:]
        where = f"{frames[-1].path}:{frames[-1].lineno + 1}: " if frames else ""
        notes = "".join(f"\n{note}" for note in getattr(exc, "__notes__", ()))
        return f"{where}{type(exc).__name__}\n{exc}{notes}"

    item.repr_failure = repr_failure  # type: ignore[method-assign]
