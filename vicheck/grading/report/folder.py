"""A graded class as it lies on disk: every ``<name>.json`` report in an output folder of ``vicheck grade``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from vicheck.grading.report.records import GradeReport, read_report

__all__ = ["ClassReports", "StudentReport", "load_reports"]

#: JSON files beside the reports that are not reports
_COMPANION_SUFFIXES = (".gradescope.json",)


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
            report = read_report(path)
        except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
            result.skipped.append(f"{name}: not a vicheck grade report ({exc})")
            continue
        result.students.append(StudentReport(path.stem, report, path))
    result.students.sort(key=lambda s: s.name)
    return result
