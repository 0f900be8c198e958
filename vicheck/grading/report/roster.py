"""The instructor's roster (a gradebook exported from Canvas or Moodle) and which submission is which student.

Two kinds of roster, told apart by their header row:

* **Canvas** ("Export Entire Gradebook", Canvas Instructor Guide, *How do I export grades in the
  Gradebook?*): columns ``Student, ID, SIS User ID, SIS Login ID, Section`` (some exports add ``Integration
  ID``, a TA's export may lack ``SIS User ID``), then one column per assignment. The row whose first cell is
  ``Points Possible`` (Canvas writes it indented, ``"    Points Possible"``) and the muted / "Manual Posting"
  row (no student, no ID) are not students and are skipped; Canvas's ``Test Student`` is kept, as a student.
* **Moodle** (Grades > Export > Plain text file, Moodle docs, *Grade export*): columns ``First name, Last name,
  ID number, Institution, Department, Email address``, then the grade items.

A file is read as UTF-8 (a byte-order mark, which Excel writes, is dropped), as CSV with its quoting (a name
``"Smith, Jane"`` is one cell), blank lines passed over. A file with neither header is a ``ValueError`` of one
line naming the file and the columns expected.

Matching (:meth:`Roster.match`): submission names are output-folder names, which the grader sanitises
(``re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")``), so every roster key is sanitised the same way and
compared case-insensitively. Routes, the first that finds a student wins:

* Canvas: the student's ``SIS Login ID``, then the Canvas ``ID``, then the mapping file;
* Moodle: the ``Email address``, then the email's local part (before ``@``), then the ``ID number``, then the
  mapping file.

The mapping file (``--roster-map``) is a CSV with header ``submission,student``: ``student`` is any key above
(Canvas also accepts the ``SIS User ID``). A mapping row naming no student of the roster, or a key several
students share, is a problem: its submission stays unmatched.

Nothing is dropped silently. A submission that matches no student is in :attr:`RosterMatch.unmatched`; a key
that several students share matches none of them. **Two or more submissions matching one student is a
conflict: none of them is given to the student** (a gradebook never gets a grade picked by a tie-break), the
submissions are listed in :attr:`RosterMatch.unmatched` and :attr:`RosterMatch.conflicts`, the student in
:attr:`RosterMatch.missing`, and :attr:`RosterMatch.problems` says why, one line each. Resolve a conflict with
the mapping file or by removing the stray submission.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Roster", "RosterConflict", "RosterMatch", "RosterStudent", "read_roster", "roster_key"]

_CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
_MOODLE_COLUMNS = ("First name", "Last name", "ID number", "Email address")
#: the routes of each kind, in the order they are tried (the mapping file comes after them)
_ROUTES: dict[str, tuple[str, ...]] = {
    "canvas": ("sis_login_id", "id"),
    "moodle": ("email", "email_local", "idnumber"),
}
#: the keys a mapping file's ``student`` cell may name
_MAPPING_KEYS: dict[str, tuple[str, ...]] = {
    "canvas": ("sis_login_id", "id", "sis_user_id"),
    "moodle": ("email", "email_local", "idnumber"),
}


def roster_key(text: str) -> str:
    """``text`` as the grader names an output folder (the same sanitisation), lower-cased: what is compared."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip()).strip("._").lower()


@dataclass(frozen=True)
class RosterStudent:
    """One student of the roster. ``name``: the display name (Canvas's ``Student``, Moodle's first and last
    name); the other fields are the roster's cells ("" where the roster has no such column)."""

    name: str
    id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    idnumber: str = ""

    def key(self, route: str) -> str:
        """The sanitised key of ``route`` (``sis_login_id``, ``id``, ``sis_user_id``, ``email``,
        ``email_local``, ``idnumber``); "" when the student has none."""
        if route == "email_local":
            local, at, _ = self.email.partition("@")
            return roster_key(local) if at else ""
        return roster_key(str(getattr(self, route)))


@dataclass(frozen=True)
class RosterConflict:
    """Several submissions that match one student: none of them is given to the student."""

    student: RosterStudent
    submissions: tuple[str, ...]


@dataclass(frozen=True)
class RosterMatch:
    """Which submission is which student.

    ``by_student``: every roster student in roster order with the submission given to them (``None``: none,
    or a conflict); ``routes``: each matched submission with the route that matched it (``sis_login_id``,
    ``id``, ``email``, ``email_local``, ``idnumber``, ``mapping``); ``unmatched``: submissions given to no
    student (no key matched, a shared key, a mapping problem, or a conflict); ``missing``: display names of
    the students given no submission, in roster order; ``conflicts``: several submissions for one student;
    ``problems``: one line for each thing not matched for a reason other than "no such key"."""

    kind: str
    by_student: tuple[tuple[RosterStudent, str | None], ...]
    unmatched: tuple[str, ...]
    missing: tuple[str, ...]
    conflicts: tuple[RosterConflict, ...] = ()
    problems: tuple[str, ...] = ()
    routes: tuple[tuple[str, str], ...] = ()

    def submission_for(self, student: RosterStudent) -> str | None:
        """The submission given to ``student`` (``None``: none)."""
        for s, name in self.by_student:
            if s == student:
                return name
        return None


@dataclass(frozen=True)
class Roster:
    """The students of a roster file (in its order) and the mapping file's rows
    (``(line, submission, student)``, as written)."""

    kind: str
    path: Path
    students: tuple[RosterStudent, ...]
    mapping: tuple[tuple[int, str, str], ...] = ()
    mapping_path: Path | None = None

    def match(self, submission_names: Iterable[str]) -> RosterMatch:
        """Match the submissions (output-folder names) to the roster's students; see the module's docstring."""
        names = list(dict.fromkeys(submission_names))
        problems: list[str] = []
        tables = {route: _index(self.students, route) for route in _MAPPING_KEYS[self.kind]}
        mapped = self._read_mapping(tables, problems)
        found: dict[str, tuple[RosterStudent, str]] = {}
        for name in names:
            key = roster_key(name)
            hit = self._route(name, key, tables, problems)
            via_map = mapped.get(key)
            if hit is not None:
                if via_map is not None and via_map != hit[0]:
                    problems.append(
                        f"submission {name}: matches {hit[0].name} by {hit[1]}; the mapping's "
                        f"{via_map.name} is not used"
                    )
                found[name] = hit
            elif via_map is not None:
                found[name] = (via_map, "mapping")
        claims: dict[RosterStudent, list[str]] = {}
        for name, (student, _) in found.items():
            claims.setdefault(student, []).append(name)
        conflicts = tuple(RosterConflict(s, tuple(subs)) for s, subs in claims.items() if len(subs) > 1)
        for c in conflicts:
            problems.append(
                f"{c.student.name}: {len(c.submissions)} submissions match ({', '.join(c.submissions)}); "
                "none is given to the student"
            )
        given = {s: subs[0] for s, subs in claims.items() if len(subs) == 1}
        by_student = tuple((s, given.get(s)) for s in self.students)
        return RosterMatch(
            kind=self.kind,
            by_student=by_student,
            unmatched=tuple(n for n in names if n not in found or found[n][0] not in given),
            missing=tuple(s.name for s, sub in by_student if sub is None),
            conflicts=conflicts,
            problems=tuple(problems),
            routes=tuple((n, found[n][1]) for n in names if n in found and found[n][0] in given),
        )

    def _route(
        self, name: str, key: str, tables: dict[str, dict[str, list[RosterStudent]]], problems: list[str]
    ) -> tuple[RosterStudent, str] | None:
        if not key:
            return None
        for route in _ROUTES[self.kind]:
            hits = tables[route].get(key, [])
            if len(hits) == 1:
                return hits[0], route
            if hits:
                problems.append(f"submission {name}: its {route} is shared by {_names(hits)}; matched to none")
                return None
        return None

    def _read_mapping(
        self, tables: dict[str, dict[str, list[RosterStudent]]], problems: list[str]
    ) -> dict[str, RosterStudent]:
        mapped: dict[str, RosterStudent] = {}
        refused: set[str] = set()
        for line, submission, student in self.mapping:
            sub_key, student_key = roster_key(submission), roster_key(student)
            if not sub_key or sub_key in refused:
                continue
            hits = list(
                dict.fromkeys(s for route in _MAPPING_KEYS[self.kind] for s in tables[route].get(student_key, []))
            )
            where = f"{self.mapping_path or 'roster map'} line {line}"
            if not hits:
                problems.append(f"{where}: {student!r} (for submission {submission}) is not in the roster")
            elif len(hits) > 1:
                problems.append(f"{where}: {student!r} names several students ({_names(hits)})")
            elif sub_key in mapped and mapped[sub_key] != hits[0]:
                problems.append(f"{where}: submission {submission} is mapped to two students; neither is used")
                del mapped[sub_key]
                refused.add(sub_key)
            else:
                mapped[sub_key] = hits[0]
        return mapped


def _index(students: Sequence[RosterStudent], route: str) -> dict[str, list[RosterStudent]]:
    table: dict[str, list[RosterStudent]] = {}
    for s in students:
        key = s.key(route)
        if key:
            table.setdefault(key, []).append(s)
    return table


def _names(students: Iterable[RosterStudent]) -> str:
    return ", ".join(s.name for s in students)


# ------------------------------------------------------------------------------------------------ reading


def read_roster(path: Path, *, mapping: Path | None = None) -> Roster:
    """The roster in the CSV file ``path`` (a Canvas or Moodle export, told apart by its header) and the rows
    of the mapping file ``mapping`` (``submission,student``). ``ValueError`` (one line, naming the file) for a
    file that is neither, or a mapping file without its header; ``OSError`` when a file cannot be read."""
    rows = [row for _, row in _rows(path)]
    header = [c.strip() for c in rows[0]] if rows else []
    kind = _kind(header)
    if kind is None:
        raise ValueError(
            f"{path}: not a Canvas gradebook export (columns {', '.join(_CANVAS_COLUMNS)}) "
            f"nor a Moodle grades export (columns {', '.join(_MOODLE_COLUMNS)})"
        )
    col = {name.lower(): i for i, name in reversed(list(enumerate(header)))}

    def cell(row: list[str], name: str) -> str:
        i = col.get(name.lower())
        return row[i].strip() if i is not None and i < len(row) else ""

    students: list[RosterStudent] = []
    for row in rows[1:]:
        if kind == "canvas":
            student = RosterStudent(
                name=cell(row, "Student"),
                id=cell(row, "ID"),
                sis_user_id=cell(row, "SIS User ID"),
                sis_login_id=cell(row, "SIS Login ID"),
                section=cell(row, "Section"),
            )
            if student.name == "Points Possible" or not (
                student.name or student.id or student.sis_user_id or student.sis_login_id
            ):
                continue  # the Points Possible row, the muted / manual-posting row
        else:
            first, last, email, idnumber = (
                cell(row, c) for c in ("First name", "Last name", "Email address", "ID number")
            )
            if not (first or last or email or idnumber):
                continue
            name = " ".join(p for p in (first, last) if p) or email or idnumber
            student = RosterStudent(name=name, first_name=first, last_name=last, email=email, idnumber=idnumber)
        students.append(student)
    rows_map = _read_mapping(mapping) if mapping is not None else ()
    return Roster(kind=kind, path=path, students=tuple(students), mapping=rows_map, mapping_path=mapping)


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """The non-blank rows of the CSV file ``path``, each with its (last) line number."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as CSV UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise ValueError(f"{path}: not a CSV file ({exc})") from None


def _kind(header: list[str]) -> str | None:
    names = {c.lower() for c in header}
    if {"student", "id"} <= names and ({"sis login id", "sis user id", "section"} & names):
        return "canvas"
    if "email address" in names or "id number" in names:
        if {"first name", "last name"} & names:
            return "moodle"
    return None


def _read_mapping(path: Path) -> tuple[tuple[int, str, str], ...]:
    rows = _rows(path)
    header = [c.strip().lower() for c in rows[0][1]] if rows else []
    if "submission" not in header or "student" not in header:
        raise ValueError(f"{path}: a roster map is a CSV file with the header submission,student")
    i, j = header.index("submission"), header.index("student")
    out: list[tuple[int, str, str]] = []
    for line, row in rows[1:]:
        sub = row[i].strip() if i < len(row) else ""
        student = row[j].strip() if j < len(row) else ""
        if sub or student:
            out.append((line, sub, student))
    return tuple(out)
