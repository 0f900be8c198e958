"""The time a submission may use: per load, per call, and in all (callbacks into the grader excluded)."""

from __future__ import annotations

from vicheck.sandbox.limits import Limits

__all__ = ["TimeBudget"]


class TimeBudget:
    """Wall-clock seconds spent by one submission, against its :class:`~vicheck.sandbox.limits.Limits`.

    A wait is limited by the smaller of its own limit (``call_seconds``, ``load_seconds``) and what is left
    of ``submission_seconds``; :meth:`cut_short` says whether a wait that expired was cut by the total.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.spent = 0.0
        self.exhausted = False

    @property
    def left(self) -> float:
        return self.limits.submission_seconds - self.spent

    def for_call(self) -> float:
        return min(self.limits.call_seconds, self.left)

    def for_load(self) -> float:
        return min(self.limits.load_seconds, self.left)

    def charge(self, seconds: float) -> None:
        self.spent += max(0.0, seconds)

    def cut_short(self, limit: float, own_limit: float) -> bool:
        """Whether a wait of ``limit`` that expired was shorter than its ``own_limit`` (the total ran out);
        marks the budget exhausted when so."""
        if limit < own_limit:
            self.exhausted = True
        return self.exhausted
