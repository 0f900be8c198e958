"""The submission of a running kernel: the code it has executed so far, as a notebook.

A student who calls :func:`vicheck.check` in a cell has not necessarily saved the notebook, and the saved
file may hold cells that were never run, or miss the order they ran in. What the kernel holds is what it
executed: IPython's input history (``HistoryManager.input_hist_raw``: each executed cell's source as typed,
magics included, in the order of execution; a cell run twice is there twice). :func:`history_cells` reads
it, :func:`notebook_from_cells` writes it as an nbformat 4 notebook with one code cell per execution, which
the grader then loads as it loads a saved notebook (each cell runs in turn in the jailed child; a cell that
raises is recorded and the next one runs).

The check's own code is left out: a cell that calls :mod:`vicheck`'s ``check`` (``vicheck.check()``, ``r =
vicheck.check("sigmoid")``, ``check()`` after ``from vicheck import check``) is left out whole, as the
other statements of such a cell are about the check (they use its result), and a statement that imports
vicheck is left out of any cell, so that the graded notebook neither runs a check inside the check nor
fails on an ``import vicheck`` the jail cannot satisfy. A cell that does not parse as Python (IPython syntax
such as ``%time``, or a syntax error) is kept whole: the grader deals with it as with a saved notebook's.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["history_cells", "notebook_from_cells", "strip_check_calls"]


def _checker_names(tree: ast.Module) -> set[str]:
    """Names a cell binds to vicheck or to its ``check`` (``import vicheck as v``, ``from vicheck import
    check``)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {a.asname or a.name.split(".")[0] for a in node.names if a.name.split(".")[0] == "vicheck"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "vicheck":
            names |= {a.asname or a.name for a in node.names}
    return names


def _is_checker_import(node: ast.stmt) -> bool:
    if isinstance(node, ast.Import):
        return all(a.name.split(".")[0] == "vicheck" for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return bool(node.module) and str(node.module).split(".")[0] == "vicheck"
    return False


def _calls_checker(node: ast.stmt, names: set[str]) -> bool:
    """Whether the statement calls ``vicheck.check`` (or a name bound to vicheck's check) anywhere in it."""
    for sub in ast.walk(node):
        if not isinstance(sub, ast.Call):
            continue
        func = sub.func
        while isinstance(func, ast.Attribute):
            func = func.value  # vicheck.check(...), vicheck.check.something(...)
        if isinstance(func, ast.Name) and (func.id == "vicheck" or func.id in names):
            return True
    return False


def strip_check_calls(source: str, known: set[str] | None = None) -> str:
    """The part of the cell ``source`` that is the student's code: "" when it calls vicheck's check, else
    ``source`` without its statements that import vicheck (and "" when nothing else is left). ``known``:
    the names earlier cells bound to vicheck (updated with this cell's). A cell that does not parse is
    returned whole."""
    known = set() if known is None else known
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    known |= _checker_names(tree)
    if any(_calls_checker(node, known) for node in tree.body):
        return ""
    drop = [node for node in tree.body if _is_checker_import(node)]
    if not drop:
        return source
    lines = source.splitlines(keepends=True)
    dropped: set[int] = set()
    for node in drop:
        dropped.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    kept = "".join(line for number, line in enumerate(lines, start=1) if number not in dropped)
    return kept if kept.strip() else ""


def history_cells(shell: Any) -> list[str]:
    """The sources the IPython ``shell`` has executed, in order, without the check's own cells and imports
    (the cell running now, which called the check, among them)."""
    raw: Sequence[str] = list(getattr(shell.history_manager, "input_hist_raw", []) or [])
    known: set[str] = set()
    cells: list[str] = []
    for source in raw[1:]:  # entry 0 is an empty placeholder (execution counts start at 1)
        kept = strip_check_calls(source, known)
        if kept.strip():
            cells.append(kept)
    return cells


def notebook_from_cells(cells: Iterable[str], path: Path) -> Path:
    """Write ``cells`` as an nbformat 4 notebook of code cells to ``path``; ``path``."""
    notebook: dict[str, Any] = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "cells": [
            {
                "cell_type": "code",
                "id": f"cell-{i}",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": source,
            }
            for i, source in enumerate(cells, start=1)
        ],
    }
    path.write_text(json.dumps(notebook, indent=1) + "\n", encoding="utf-8")
    return path
