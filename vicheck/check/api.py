"""``vicheck.check()``: a self-check from a notebook cell, terminal IPython or a Python script.

In a running IPython (a Jupyter kernel, terminal IPython) without a file, the submission is the code the
shell has executed so far (:mod:`vicheck.check.history`), written as a notebook into a folder of this
session's and graded as the saved notebook would be; with a file (``vicheck.check("solution.py")``) it is
that file. The visible properties run as grading runs them (:mod:`vicheck.check.run`), in a process of their
own forked from a warm runner this session keeps (:mod:`vicheck.check.session`), never in the calling
process: a hang or a crash of the student's code ends in that run's jailed child, and the call returns with
the time limit's or the crash's message. An interrupt (the kernel's stop button) stops the run.

The result is shown where the call was made: as HTML under the cell in a notebook (plain text in terminal
IPython, whose display is text), printed in a plain Python script; the call returns it as a
:class:`CheckResult` as well.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vicheck.check.render import render_html, render_text, summary
from vicheck.check.run import CheckSettings, CheckUsage, run_check, settings_for, unknown_functions
from vicheck.grading.report.records import GradeReport

__all__ = ["CheckResult", "check"]


@dataclass
class CheckResult:
    """A self-check's result: the report, and how to show it (``_repr_html_`` in a notebook, ``str()`` as
    text)."""

    report: GradeReport
    title: str
    functions: tuple[str, ...] = ()
    #: the execution count of the cell that showed it (IPython): not shown twice by the same cell
    _shown_in: int | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        """Whether every visible property checked passed."""
        return bool(self.report.properties) and all(p.passed for p in self.report.properties)

    @property
    def failed(self) -> list[str]:
        """The names of the properties that did not pass."""
        return [p.name for p in self.report.properties if not p.passed]

    def text(self) -> str:
        return render_text(self.report, self.title, self.functions)

    def _repr_html_(self) -> str:
        return render_html(self.report, self.title, self.functions)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        # short: the result was shown already; a REPL echoing the returned value need not repeat it
        return f"<vicheck CheckResult: {summary(self.report)}>"

    def _mimebundle(self) -> dict[str, str]:
        return {"text/plain": self.text(), "text/html": self._repr_html_()}

    def _ipython_display_(self) -> None:
        from IPython.display import display

        count = _execution_count()
        if count is not None and count == self._shown_in:
            return  # the cell that called check() showed it already; the value it returned is not shown again
        display(self._mimebundle(), raw=True)

    def show(self) -> None:
        """Show the result: HTML in a notebook, text in terminal IPython and elsewhere."""
        if _shell() is None:
            print(self.text(), end="", flush=True)
            return
        from IPython.display import display

        display(self._mimebundle(), raw=True)
        self._shown_in = _execution_count()


def _shell() -> Any:
    """The running IPython shell, or ``None`` (a plain Python process). IPython is not imported for this:
    a process where IPython runs has imported it already."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    get = getattr(ipython, "get_ipython", None)
    return get() if callable(get) else None


def _execution_count() -> int | None:
    shell = _shell()
    count = getattr(shell, "execution_count", None)
    return count if isinstance(count, int) else None


_HISTORY_DIR: Path | None = None


def _history_folder() -> Path:
    """This process's folder for the notebooks built from its history (removed at exit)."""
    global _HISTORY_DIR
    if _HISTORY_DIR is None or not _HISTORY_DIR.is_dir():
        import atexit
        import shutil

        _HISTORY_DIR = Path(tempfile.mkdtemp(prefix="vicheck-kernel-"))
        atexit.register(shutil.rmtree, _HISTORY_DIR, True)
    return _HISTORY_DIR


def _is_path(target: str) -> bool:
    """Whether a target names a file: a .py/.ipynb, a path, or an existing file that is no function's name."""
    if target.endswith((".py", ".ipynb")) or os.sep in target or "/" in target:
        return True
    from vicheck.check.run import contract_names

    return target not in contract_names() and Path(target).exists()


def _split(targets: Sequence[str | os.PathLike[str]]) -> tuple[Path | None, tuple[str, ...]]:
    """(the file named, or None; the function names)."""
    path: Path | None = None
    names: list[str] = []
    for target in targets:
        if isinstance(target, os.PathLike) or _is_path(str(target)):
            if path is not None:
                raise CheckUsage(f"check one file at a time: {path} and {target}")
            path = Path(target)
        else:
            names.append(str(target))
    unknown = unknown_functions(names)
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        raise CheckUsage(f"not a function of the lecture{plural}: {', '.join(unknown)} (nor a .py or .ipynb file)")
    return path, tuple(dict.fromkeys(names))


def _submission(path: Path | None) -> tuple[Path, str]:
    """The file to check and how to name it for the student."""
    if path is not None:
        from vicheck.sandbox.loading import resolve_submission_path

        try:
            resolved = resolve_submission_path(path)
        except (ValueError, OSError) as exc:
            raise CheckUsage(str(exc)) from None
        return resolved, str(path)
    shell = _shell()
    if shell is None or getattr(shell, "history_manager", None) is None:
        raise CheckUsage(
            "outside IPython there is no executed code to check: name the file, vicheck.check('solution.py')"
        )
    from vicheck.check.history import history_cells, notebook_from_cells

    cells = history_cells(shell)
    target = _history_folder() / "kernel-history.ipynb"
    notebook_from_cells(cells, target)
    return target, f"the code this kernel has run ({len(cells)} cell{'s' if len(cells) != 1 else ''})"


def check(
    *targets: str | os.PathLike[str],
    rubric: str | os.PathLike[str] | None = None,
    quick: bool = False,
    show: bool = True,
) -> CheckResult:
    """Check your code against the visible properties, as the final grading runs them.

    ``vicheck.check()`` checks the code this notebook's kernel has run so far (no need to save it);
    ``vicheck.check("kl_divergence_1", "sigmoid")`` only the properties exercising those functions;
    ``vicheck.check("solution.py")`` (or ``.ipynb``) a file instead. ``rubric``: the instructor's rubric file
    (which properties are hidden, the profile, the limits); ``quick``: the dev profile (fewer, random
    examples). The result is shown (HTML in a notebook, text elsewhere; ``show=False`` does not) and returned.

    ``ValueError`` (:class:`~vicheck.check.run.CheckUsage`) for a name that is no function of the lecture or a
    file that is not there; :class:`~vicheck.check.run.CheckFailed` when the check itself could not run."""
    path, functions = _split(targets)
    settings: CheckSettings = settings_for(Path(rubric) if rubric is not None else None, quick=quick)
    submission, title = _submission(path)
    if _shell() is not None:  # an interactive session: later calls fork from a warm runner
        from vicheck.check.session import session_for

        report = session_for(settings).run(submission, functions)
    else:  # a script checks once: a fresh run costs less than starting a warm runner
        report = run_check(submission, settings, functions)
    result = CheckResult(report, title, functions)
    if show:
        result.show()
    return result
