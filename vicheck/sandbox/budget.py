"""The time a submission may use: per load, per call, and in all (callbacks into the grader excluded).

Time is counted on the submission's own clock where there is one: the CPU time of its control group (every
process it started, :meth:`vicheck.sandbox.resources.Group.cpu_seconds`), which a loaded machine does not
inflate, so the same code gets the same verdict however many other submissions run beside it. A wait on
that clock still ends after :data:`~vicheck.sandbox.limits.WALL_BACKSTOP` times its limit in wall-clock
seconds (a call that sleeps or blocks uses no CPU). Without a group (the ``rlimits`` level) the clock is the
wall clock.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from vicheck.sandbox.limits import WALL_BACKSTOP, Limits

__all__ = ["CPUS", "Deadline", "TimeBudget"]

#: the most CPUs a group's processes can run on at once: its CPU time grows at most this fast
CPUS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
#: the shortest wait between two readings of a CPU clock near its limit (its overshoot is at most this)
_STEP = 0.005


class Deadline:
    """When one wait (a load, a call) ends: after ``limit`` seconds on ``clock`` (CPU seconds; ``None``:
    the wall clock), or after ``backstop`` times ``limit`` in wall-clock seconds, whichever comes first.
    Seconds the grader spends on the submission's behalf (callbacks) are :meth:`exclude`\\ d."""

    def __init__(self, limit: float, clock: Callable[[], float] | None, backstop: float = WALL_BACKSTOP) -> None:
        self.limit, self.clock = limit, clock
        self.wall_limit = limit * backstop if clock is not None else limit
        self.wall_start = time.monotonic()
        self.cpu_start = clock() if clock is not None else 0.0
        self.excluded = 0.0
        # a reading of the CPU clock: until (wall time) ``_sure_until`` the limit cannot have been reached
        self._sure_until = self.wall_start + limit / CPUS

    def exclude(self, seconds: float, cpu_seconds: float = 0.0) -> None:
        """``seconds`` of wall-clock time (a callback), and ``cpu_seconds`` the clock counted meanwhile (calls
        the callback made, charged by those calls), do not count."""
        self.excluded += seconds
        self._sure_until += seconds
        if self.clock is not None:
            self.cpu_start += cpu_seconds

    def wall(self) -> float:
        return time.monotonic() - self.wall_start - self.excluded

    def used(self) -> float:
        """What the wait has cost the submission so far: CPU seconds on its clock, else wall-clock seconds."""
        if self.clock is None:
            return max(0.0, self.wall())
        return max(0.0, self.clock() - self.cpu_start)

    def left(self) -> float:
        """Seconds to wait before asking again; ``<= 0`` once the deadline has passed."""
        now = time.monotonic()
        wall_left = self.wall_limit - (now - self.wall_start - self.excluded)
        if self.clock is None or wall_left <= 0:
            return wall_left
        if now < self._sure_until:
            return min(wall_left, max(self._sure_until - now, _STEP))
        cpu_left = self.limit - (self.clock() - self.cpu_start)
        if cpu_left <= 0:
            return cpu_left
        # the group's CPU time grows at most CPUS times as fast as the wall clock
        self._sure_until = now + cpu_left / CPUS
        return min(wall_left, max(cpu_left / CPUS, _STEP))

    def on_wall_clock(self) -> bool:
        """Whether the wait ended on its wall-clock backstop rather than its own clock."""
        return self.clock is not None and self.wall() >= self.wall_limit


class TimeBudget:
    """Seconds spent by one submission (on its clock: see the module), against its
    :class:`~vicheck.sandbox.limits.Limits`.

    A wait is limited by the smaller of its own limit (``call_seconds``, ``load_seconds``) and what is left
    of ``submission_seconds``; :meth:`cut_short` says whether a wait that expired was cut by the total.
    """

    def __init__(self, limits: Limits, clock: Callable[[], float] | None = None) -> None:
        self.limits = limits
        self.clock = clock
        #: seconds on the clock, and in wall-clock time (callbacks excluded from both)
        self.spent = 0.0
        self.wall_spent = 0.0
        self.exhausted = False

    @property
    def left(self) -> float:
        """Seconds left on the clock; on a CPU clock, no more than the wall-clock backstop leaves (so that a
        submission whose calls sleep is still bounded in all)."""
        left = self.limits.submission_seconds - self.spent
        if self.clock is not None:
            left = min(left, (self.limits.submission_seconds * WALL_BACKSTOP - self.wall_spent) / WALL_BACKSTOP)
        return left

    def for_call(self) -> float:
        return min(self.limits.call_seconds, self.left)

    def for_load(self) -> float:
        return min(self.limits.load_seconds, self.left)

    def deadline(self, limit: float) -> Deadline:
        """A wait of ``limit`` seconds on this budget's clock, starting now."""
        return Deadline(limit, self.clock)

    def charge(self, seconds: float, wall: float | None = None) -> None:
        """Count ``seconds`` on the clock and ``wall`` (default: the same) in wall-clock time."""
        self.spent += max(0.0, seconds)
        self.wall_spent += max(0.0, seconds if wall is None else wall)

    def charge_wait(self, deadline: Deadline) -> None:
        """Count what ``deadline``'s wait has cost so far."""
        self.charge(deadline.used(), deadline.wall())

    def cut_short(self, limit: float, own_limit: float) -> bool:
        """Whether a wait of ``limit`` that expired was shorter than its ``own_limit`` (the total ran out);
        marks the budget exhausted when so."""
        if limit < own_limit:
            self.exhausted = True
        return self.exhausted
