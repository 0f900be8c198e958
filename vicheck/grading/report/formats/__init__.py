r"""Output formats: one module per format in this package, each registered by one decorator.

A **student format** is a file per submission drawn from its :class:`~vicheck.grading.report.records.GradeReport`
(``json``, ``md``, ``junit``, ``gradescope``, ``log``); a **class format** is a file per class drawn from every
report in an output folder (``summary.csv``, ``summary.md``, ``index.html``, ``canvas.csv``, ``moodle.csv``).
Like torch's ``register_kl``, adding one is one function in one new file of this package::

    @class_format("grades.tsv", help="one line per student, tab-separated")
    def write_tsv(ctx: ClassContext, path: Path) -> None:
        write_text_atomic(path, "".join(f"{s.name}\t{s.report.score:g}\n" for s in ctx.students))

Every module here is imported the first time the registry is read (:func:`student_formats`,
:func:`class_formats`), so a new file needs no other edit: ``vicheck grade --formats`` and the rubric's
``formats`` accept its name, and ``vicheck report`` redraws it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from vicheck.grading.report.context import ClassContext
    from vicheck.grading.report.records import GradeReport

__all__ = [
    "ClassFormat",
    "ClassWriter",
    "StudentContext",
    "StudentFormat",
    "StudentWriter",
    "choose_formats",
    "class_format",
    "class_formats",
    "student_format",
    "student_formats",
]


@dataclass(frozen=True)
class StudentContext:
    """What a student format may need besides the report: ``seconds`` the run took (Gradescope's
    ``execution_time``)."""

    seconds: float = 0.0


StudentWriter = Callable[["GradeReport", Path, StudentContext], None]
ClassWriter = Callable[["ClassContext", Path], None]
_S = TypeVar("_S", bound=StudentWriter)
_C = TypeVar("_C", bound=ClassWriter)


@dataclass(frozen=True)
class StudentFormat:
    """A file per student, ``<name><suffix>`` in the output folder.

    ``required``: always written (the report itself and the run's log). ``by_run``: the pytest run writes
    the file itself (the report, around every property; the log, its output), and ``run_option`` names the
    pytest option through which a run writes it when it can (``--junitxml``): the grader then writes its own
    form only where the run did not (a run that was killed)."""

    name: str
    suffix: str
    write: StudentWriter
    help: str
    default: bool = True
    required: bool = False
    by_run: bool = False
    run_option: str | None = None

    def path(self, out: Path, student: str) -> Path:
        return out / f"{student}{self.suffix}"


@dataclass(frozen=True)
class ClassFormat:
    """A file per class, named ``name`` in the output folder. ``roster``: written only when a roster of that
    kind (``canvas`` or ``moodle``) is given, and then by default. ``links``: the file links to the other class
    files that exist (the class page): it is written after them."""

    name: str
    write: ClassWriter
    help: str
    default: bool = True
    roster: str | None = None
    links: bool = False


_STUDENT: dict[str, StudentFormat] = {}
_CLASS: dict[str, ClassFormat] = {}
_loaded = False


def _register(registry: dict[str, StudentFormat] | dict[str, ClassFormat], name: str, fmt: object) -> None:
    if name in _STUDENT or name in _CLASS:
        raise ValueError(f"output format {name!r} is registered twice")
    registry[name] = fmt  # type: ignore[assignment]


def student_format(
    name: str,
    *,
    suffix: str,
    help: str,
    default: bool = True,
    required: bool = False,
    by_run: bool = False,
    run_option: str | None = None,
) -> Callable[[_S], _S]:
    """Register the decorated ``write(report, path, ctx)`` as the student format ``name``."""

    def register(write: _S) -> _S:
        _register(_STUDENT, name, StudentFormat(name, suffix, write, help, default, required, by_run, run_option))
        return write

    return register


def class_format(
    name: str, *, help: str, default: bool = True, roster: str | None = None, links: bool = False
) -> Callable[[_C], _C]:
    """Register the decorated ``write(ctx, path)`` as the class format ``name`` (its file name)."""

    def register(write: _C) -> _C:
        _register(_CLASS, name, ClassFormat(name, write, help, default, roster, links))
        return write

    return register


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if not module.startswith("_"):
            importlib.import_module(f"{__name__}.{module}")


def student_formats() -> dict[str, StudentFormat]:
    """Every student format, by name, in the order of registration."""
    _load_all()
    return dict(_STUDENT)


def class_formats() -> dict[str, ClassFormat]:
    """Every class format, by name (its file name); those that link to the others last."""
    _load_all()
    return dict(sorted(_CLASS.items(), key=lambda item: item[1].links))


def choose_formats(
    names: Iterable[str] | None, *, roster: str | None = None
) -> tuple[list[StudentFormat], list[ClassFormat]]:
    """The formats to write: the ``names`` given (plus the required ones), or every default one; a roster
    format only with a roster of its kind. ``ValueError``, naming them, for unknown names or for a roster
    format asked for without its roster."""
    students, classes = student_formats(), class_formats()
    if names is None:
        chosen_s = [f for f in students.values() if f.default or f.required]
        chosen_c = [f for f in classes.values() if f.default and f.roster in (None, roster)]
        return chosen_s, chosen_c
    wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    unknown = [n for n in wanted if n not in students and n not in classes]
    if unknown:
        known = ", ".join([*students, *classes])
        plural = "s" if len(unknown) > 1 else ""
        raise ValueError(f"unknown output format{plural} {', '.join(unknown)} (known: {known})")
    no_roster = [n for n in wanted if n in classes and classes[n].roster is not None and classes[n].roster != roster]
    if no_roster:
        needs = ", ".join(f"{n} needs a {classes[n].roster} roster (--roster)" for n in no_roster)
        raise ValueError(needs)
    chosen_s = [f for f in students.values() if f.required or f.name in wanted]
    chosen_c = [f for f in classes.values() if f.name in wanted]
    return chosen_s, chosen_c
