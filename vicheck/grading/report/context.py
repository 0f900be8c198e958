"""What a class format is drawn from: the class's reports, the roster when there is one, and the options."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from vicheck.grading.report.folder import ClassReports, StudentReport

if TYPE_CHECKING:
    from vicheck.grading.report.classpage.statistics import ClassStatistics
    from vicheck.grading.report.roster import Roster, RosterMatch

__all__ = ["ClassContext", "ClassOptions"]


@dataclass(frozen=True)
class ClassOptions:
    """The instructor's choices for the gradebook exports.

    ``assignment``: the gradebook column's name (default: the output folder's name); ``moodle_key``:
    ``email`` or ``idnumber``, the column Moodle matches students by; ``moodle_feedback``: add each
    student's feedback text to ``moodle.csv``."""

    assignment: str = ""
    moodle_key: str = "email"
    moodle_feedback: bool = False


@dataclass
class ClassContext:
    """A graded class in ``folder`` (where its class files are written), for the class formats."""

    reports: ClassReports
    now: datetime | None = None
    roster: Roster | None = None
    options: ClassOptions = field(default_factory=ClassOptions)

    @property
    def folder(self) -> Path:
        return self.reports.folder

    @property
    def students(self) -> list[StudentReport]:
        return self.reports.students

    @property
    def assignment(self) -> str:
        return self.options.assignment or self.folder.resolve().name

    @cached_property
    def statistics(self) -> ClassStatistics:
        """What the class page shows (computed once, for every format that uses it)."""
        from vicheck.grading.report.classpage.statistics import class_statistics

        return class_statistics(self.reports, now=self.now, matches=self.matches)

    @cached_property
    def matches(self) -> RosterMatch | None:
        """Which submission is which student of the roster (``None`` without a roster)."""
        if self.roster is None:
            return None
        return self.roster.match([s.name for s in self.students])
