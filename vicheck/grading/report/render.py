"""Drawing the chosen formats: a student's files from their report, a class's files from its folder."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from vicheck.grading.report.context import ClassContext
from vicheck.grading.report.formats import ClassFormat, StudentContext, StudentFormat
from vicheck.grading.report.records import GradeReport

__all__ = ["student_paths", "write_class_files", "write_student_files"]


def student_paths(
    out: Path, name: str, formats: Iterable[StudentFormat], overrides: Mapping[str, Path] | None = None
) -> dict[str, Path]:
    """Where each of ``formats`` goes for student ``name`` (``overrides``: a path chosen by the user, such as
    Gradescope's ``--gradescope-results``)."""
    chosen = {f.name: f.path(out, name) for f in formats}
    chosen.update((k, v) for k, v in (overrides or {}).items() if k in chosen)
    return chosen


def write_student_files(
    report: GradeReport,
    paths: Mapping[str, Path],
    formats: Iterable[StudentFormat],
    ctx: StudentContext,
    *,
    only_missing: bool = False,
) -> None:
    """Write each of ``formats``; one the run writes itself (``by_run``, ``run_option``) only where the run
    left no file. ``only_missing``: leave every file that exists (a reused report)."""
    for fmt in formats:
        path = paths[fmt.name]
        if path.exists() and (only_missing or fmt.by_run or fmt.run_option is not None):
            continue
        fmt.write(report, path, ctx)


def write_class_files(ctx: ClassContext, formats: Iterable[ClassFormat]) -> tuple[list[Path], list[str]]:
    """Write each class format into the class's folder: the files written, and one line per format that
    could not be (a view of the reports never stops the others, nor grading)."""
    written: list[Path] = []
    failed: list[str] = []
    for fmt in sorted(formats, key=lambda f: f.links):  # a page that links to the others goes last
        path = ctx.folder / fmt.name
        try:
            fmt.write(ctx, path)
        except Exception as exc:  # a broken view is reported, the grades stand
            failed.append(f"could not write {fmt.name}: {type(exc).__name__}: {exc}")
        else:
            written.append(path)
    return written, failed
