"""Merge output folders of ``vicheck grade`` graded apart (a class split across machines, submissions regraded
later) into one, for ``vicheck report A/ B/ --out grades/``.

Every student's files are copied into ``out``, byte for byte, each through a temporary file and a rename (the
file's modification time kept): the report ``<name>.json``, its companions ``<name>.md``, ``<name>.junit.xml``,
``<name>.gradescope.json``, ``<name>.log``, and the resume key ``.vicheck/<name>.json``; the report is written
last, so a merge killed midway leaves the older report in place and merging again finishes the job. Class
files (``summary.csv``, ``index.html``, ...) are not copied: draw them again from ``out``.

Where several folders hold one student, the **newest report wins**: by ``graded_at``, else (a report older
than that field) by its file's modification time; on a tie, the folder named later. Each such choice is in
:attr:`MergeResult.replaced`.

Refused (:class:`MergeRefused`, one line naming the folders and values): reports of different rubrics
(``report.rubric``), profiles (``report.profile``) or vicheck versions (``report.versions["vicheck"]``),
across all reports of all folders: their scores are not comparable.

``out`` may be one of the sources: only the other folders' files are then copied in. An ``out`` not named
among them that already holds reports (a merge run again) counts as a source named first: a newer report in
it is kept, and the merge is idempotent. Nothing is ever deleted;
a companion in ``out`` left from a report that lost (the winner has no such file) is listed in
:attr:`MergeResult.stale`. JSON files that are not reports are passed over, each with a note in
:attr:`MergeResult.skipped`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from vicheck.grading.report.folder import StudentReport, load_reports
from vicheck.grading.report.outputs import STATE_DIR, write_bytes_atomic
from vicheck.grading.report.records import GradeReport

__all__ = ["COMPANION_SUFFIXES", "MergeChoice", "MergeRefused", "MergeResult", "merge_folders"]

#: a student's files beside the report (``<name><suffix>``), copied with it
COMPANION_SUFFIXES: tuple[str, ...] = (".md", ".junit.xml", ".gradescope.json", ".log")


class MergeRefused(ValueError):
    """The folders cannot be merged; the message is one line saying which differ and how."""


@dataclass(frozen=True)
class MergeChoice:
    """Several folders held student ``name``: the report in ``kept`` (a folder) won over those in ``over``."""

    name: str
    kept: Path
    over: tuple[Path, ...]
    reason: str

    def describe(self) -> str:
        """One line: ``alice: kept B/ (graded ...), newer than A/ (graded ...)``."""
        return f"{self.name}: kept {self.kept}/ over {', '.join(f'{p}/' for p in self.over)} ({self.reason})"


@dataclass(frozen=True)
class MergeResult:
    """What a merge did. ``students``: every student now merged into ``out``; ``copied``: the files written
    (a file already the same in ``out`` is not); ``replaced``: each student several folders held;
    ``skipped``: notes on files passed over; ``stale``: companions in ``out`` from a report that lost."""

    out: Path
    students: tuple[str, ...]
    copied: tuple[Path, ...]
    replaced: tuple[MergeChoice, ...]
    skipped: tuple[str, ...]
    stale: tuple[Path, ...]


#: what must be one value across the merged reports: (what it is called, how it is read)
_SAME: tuple[tuple[str, Callable[[GradeReport], str]], ...] = (
    ("rubric", lambda r: r.rubric),
    ("profile", lambda r: r.profile),
    ("vicheck version", lambda r: str(r.versions.get("vicheck", ""))),
)


def merge_folders(sources: list[Path], out: Path) -> MergeResult:
    """Merge the output folders ``sources`` into ``out`` (see the module's docstring). ``MergeRefused`` when
    they cannot be merged; ``FileNotFoundError`` / ``NotADirectoryError`` for a source that is not a folder."""
    folders = list({_resolved(Path(s)): Path(s) for s in sources}.values())  # a folder named twice: once
    if not folders:
        raise MergeRefused("nothing to merge: no folder given")
    out_index = next((i for i, f in enumerate(folders) if _same_folder(f, out)), None)
    if out_index is None and out.is_dir() and load_reports(out).students:
        folders.insert(0, out)  # a merge run again: what out holds counts, as the first folder
        out_index = 0
    loaded = [load_reports(f) for f in folders]
    _check_same(folders, [c.students for c in loaded])
    out.mkdir(parents=True, exist_ok=True)
    skipped = [f"{folder}/{note}" for folder, c in zip(folders, loaded, strict=True) for note in c.skipped]

    held_by: dict[str, list[tuple[int, StudentReport]]] = {}
    for i, c in enumerate(loaded):
        for s in c.students:
            held_by.setdefault(s.name, []).append((i, s))
    copied: list[Path] = []
    replaced: list[MergeChoice] = []
    stale: list[Path] = []
    for name in sorted(held_by):
        held = held_by[name]
        win_index, winner = max(held, key=lambda h: (_when(h[1]), h[0]))
        if len(held) > 1:
            losers = [h for h in held if h[0] != win_index]
            replaced.append(_choice(name, folders, win_index, winner, losers))
        if win_index == out_index:
            continue
        copied += _copy_student(winner, out)
        if out_index is not None:
            stale += _stale(winner, out)
    return MergeResult(out, tuple(sorted(held_by)), tuple(copied), tuple(replaced), tuple(skipped), tuple(stale))


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def _check_same(folders: list[Path], students: list[list[StudentReport]]) -> None:
    """``MergeRefused`` (one line) where the reports differ in rubric, profile or vicheck version."""
    problems: list[str] = []
    for what, read in _SAME:
        seen: dict[str, dict[Path, int]] = {}
        for folder, group in zip(folders, students, strict=True):
            for s in group:
                counts = seen.setdefault(read(s.report), {})
                counts[folder] = counts.get(folder, 0) + 1
        if len(seen) > 1:
            parts = []
            for value, counts in seen.items():
                where = ", ".join(f"{f}/ ({n} report{'s' if n > 1 else ''})" for f, n in counts.items())
                parts.append(f"{value or 'not recorded'!r} in {where}")
            problems.append(f"{what}: " + " vs ".join(parts))
    if problems:
        raise MergeRefused("cannot merge reports graded differently: " + "; ".join(problems))


def _when(s: StudentReport) -> datetime:
    """When the report was graded: ``graded_at``, else the report file's modification time (UTC)."""
    text = s.report.graded_at.strip()
    if text:
        try:
            stamp = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            pass
        else:
            return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(s.json_path.stat().st_mtime, tz=timezone.utc)


def _choice(
    name: str, folders: list[Path], win_index: int, winner: StudentReport, losers: list[tuple[int, StudentReport]]
) -> MergeChoice:
    def stamp(s: StudentReport) -> str:
        return f"graded {s.report.graded_at}" if s.report.graded_at else f"file modified {_when(s).isoformat()}"

    win_time = _when(winner)
    if any(_when(s) == win_time for _, s in losers):
        reason = f"{stamp(winner)}, the same time: the folder named later wins"
    else:
        reason = f"{stamp(winner)}, newer than " + ", ".join(stamp(s) for _, s in losers)
    return MergeChoice(name, folders[win_index], tuple(folders[i] for i, _ in losers), reason)


def _files(s: StudentReport) -> list[tuple[Path, Path]]:
    """The student's files that exist, as ``(source, path relative to the folder)``: companions, the resume
    key, and the report last."""
    folder = s.json_path.parent
    rel = [Path(s.name + suffix) for suffix in COMPANION_SUFFIXES]
    rel += [Path(STATE_DIR) / f"{s.name}.json", Path(s.json_path.name)]
    return [(folder / r, r) for r in rel if (folder / r).is_file()]


def _copy_student(s: StudentReport, out: Path) -> list[Path]:
    written: list[Path] = []
    for src, rel in _files(s):
        target = out / rel
        data = src.read_bytes()
        if target.is_file() and target.read_bytes() == data:
            continue
        write_bytes_atomic(target, data)
        stat = src.stat()
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        written.append(target)
    return written


def _stale(winner: StudentReport, out: Path) -> list[Path]:
    """The student's files in ``out`` that the winning folder does not have (left from the report that lost)."""
    have = {rel for _, rel in _files(winner)}
    rel = [Path(winner.name + suffix) for suffix in COMPANION_SUFFIXES] + [Path(STATE_DIR) / f"{winner.name}.json"]
    return [out / r for r in rel if r not in have and (out / r).is_file()]
