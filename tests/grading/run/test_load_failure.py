"""A submission that did not load says so in every property, and the class page files it as a load error.

Every property of a submission that did not load reads "not graded: the submission did not load (<kind>:
<detail>)", never "submission defines no …": its process ended or was killed while it was imported, it ran
past the load time limit, or its top-level code raised before it had defined any contract name. A ``.py``
that stopped after defining some contract names loaded in part, and a notebook whose cells raised loaded:
then a missing name is truly missing. The rules are checked on :func:`vicheck.grading.run.plugin._load_failure`
with stand-in implementations, and end to end on a class graded by ``vicheck grade``.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.rubrics import SIGMOID_SELF_CHECK
from vicheck.cli import main
from vicheck.grading.report.classpage.statistics import class_statistics
from vicheck.grading.report.folder import load_reports
from vicheck.grading.report.records import GradeReport, PropertyResult
from vicheck.grading.run.verdicts import load_failure as _load_failure
from vicheck.implementation import Event, Implementation, LoadProblem, MissingName

ROOT = Path(__file__).resolve().parents[3]
HOSTILE = ROOT / "tests" / "hostile"
LECTURE = ROOT / "tests" / "submissions" / "lecture_4_functions.py"
NOT_LOADED = "not graded: the submission did not load ("
RUBRIC = SIGMOID_SELF_CHECK


class Stand(Implementation):
    """An implementation that loaded (or not) as told."""

    label = "stand-in"

    def __init__(self, names: set[str], problems: list[LoadProblem], events: list[Event] | None = None) -> None:
        self._names, self._problems, self._events = frozenset(names), problems, events or []

    def names(self) -> frozenset[str]:
        return self._names

    def get(self, name: str) -> Any:
        raise MissingName(name)

    def invoke(self, target: Any, /, *args: Any, seed: int | None = None, **kwargs: Any) -> Any:
        raise MissingName(str(target))

    def load_problems(self) -> list[LoadProblem]:
        return list(self._problems)

    def events(self) -> list[Event]:
        return list(self._events)


CRASH = LoadProblem("load", "SubmissionCrashed", "exit status 3")
LINE = LoadProblem("line 5", "FileNotFoundError", "no such file: 'w.pt'", "DATA = torch.load('w.pt')")
CELL = LoadProblem("cell 2", "ValueError", "boom", "raise ValueError('boom')")


@pytest.mark.parametrize(
    ("names", "problems", "events", "expected"),
    [
        # the child died, was killed or passed the load time limit while loading: did not load
        (set(), [CRASH], [], "SubmissionCrashed: exit status 3"),
        (set(), [LoadProblem("load", "LoadTimeout", "loading did not finish within 2 s")], [], "LoadTimeout: "),
        (set(), [LoadProblem("notebook", "NotJSONError", "bad")], [], "NotJSONError: bad"),
        # a .py stopped before any contract name: did not load, naming the line and the exception
        (set(), [LINE], [], "line 5 (`DATA = torch.load('w.pt')`): FileNotFoundError: no such file: 'w.pt'"),
        # ... after some: loaded in part; a notebook whose cells raised: loaded
        ({"sigmoid"}, [LINE], [], None),
        (set(), [CELL], [], None),
        ({"sigmoid"}, [CELL], [], None),
        # loaded and defines nothing: truly missing names
        (set(), [], [], None),
        # the whole time limit ran out while loading
        (set(), [], [Event("time limit of 5 s exhausted while loading", "time_limit")], "time limit of 5 s"),
        # a time limit is told by its kind, not by its words
        (set(), [], [Event("budget gone", "time_limit")], "budget gone"),
        (set(), [], [Event("child restarted", "restart")], None),
    ],
)
def test_what_did_not_load_means(
    names: set[str], problems: list[LoadProblem], events: list[Event], expected: str | None
) -> None:
    why = _load_failure(Stand(names, problems, events))
    if expected is None:
        assert why is None
    else:
        assert why is not None and why.startswith(expected)


def _report(folder: Path, name: str, message: str, errors: list[str], reason: str = "not_loaded") -> None:
    """A report as the grader writes it: each error with its kind, each property with its reason."""
    missing = ["sigmoid"] if reason == "missing" else []
    props = [
        PropertyResult("sigmoid_matches_logistic", ["sigmoid"], "correctness", 1.0, status="failed", message=message),
        PropertyResult("T_is_the_sigmoid_and_inverts", ["T"], "correctness", 1.0, status="failed", message=message),
    ]
    for p in props:
        p.reason, p.missing = reason, missing
    report = GradeReport(name, props, complete=True)
    for e in errors:
        report.add_error("load_error", e)
    report.write(folder / f"{name}.json")


def test_the_class_page_files_a_load_failure_as_one(tmp_path: Path) -> None:
    unloaded = f"{NOT_LOADED}SubmissionCrashed: exit status 3)"
    _report(tmp_path, "crashed", unloaded, ["load: SubmissionCrashed: exit status 3"])
    _report(
        tmp_path,
        "late",
        f"{NOT_LOADED}LoadTimeout: loading did not finish within 2 s (load time limit))",
        ["load: LoadTimeout: loading did not finish within 2 s (load time limit)"],
    )
    _report(tmp_path, "bare", unloaded, [])  # the errors say nothing: the properties do
    _report(tmp_path, "lacking", "submission defines no `sigmoid`", [], reason="missing")
    st = class_statistics(load_reports(tmp_path))
    kinds = {f.student: f.kinds for f in st.needs_look}
    assert kinds == {"crashed": ("load error",), "late": ("load error",), "bare": ("load error",)}
    sigmoid = next(f for f in st.functions if f.name == "sigmoid")
    assert sigmoid.students == 4 and sigmoid.defined == 0


# --------------------------------------------------------------------------------------------- a class


@dataclass
class Graded:
    out: Path
    rc: int
    stderr: str
    reports: dict[str, dict]

    def messages(self, name: str) -> dict[str, str]:
        return {p["name"]: p["message"] for p in self.reports[name]["properties"]}


def _notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("import torch"))
    nb.cells.append(nbformat.v4.new_code_cell("raise ValueError('a cell that raised')"))
    nb.cells.append(nbformat.v4.new_code_cell("def sigmoid(x):\n    return torch.exp(x) / (1 + torch.exp(x))"))
    nbformat.write(nb, str(path))


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    arena = tmp_path_factory.mktemp("load-failure")
    klass, out, rubric = arena / "class", arena / "grades", arena / "rubric.toml"
    klass.mkdir()
    for name in ("os_exit_at_import", "sigkill_at_import", "raises_at_import", "exit_at_import"):
        shutil.copyfile(HOSTILE / f"{name}.py", klass / f"{name}.py")
    shutil.copyfile(LECTURE, klass / "honest.py")
    _notebook(klass / "notebook.ipynb")
    rubric.write_text(RUBRIC)
    cmd = [sys.executable, "-m", "vicheck", "grade", str(klass), "--out", str(out), "--rubric", str(rubric)]
    cmd += ["--profile", "dev", "--self-check", "--isolation", "process", "--jobs", "2", "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, cwd=arena)
    reports = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json") if not p.name.endswith(".gradescope.json")}
    return Graded(out, proc.returncode, proc.stderr, reports)


UNLOADED = {
    "os_exit_at_import": "SubmissionCrashed: exit status 3",
    "sigkill_at_import": "SubmissionCrashed: killed by SIGKILL",
    "raises_at_import": 'line 5 (`DATA = torch.load("weights_not_submitted.pt")`): FileNotFoundError: ',
}


def test_the_class_was_graded(graded: Graded) -> None:
    assert graded.rc == 0, graded.stderr
    assert set(graded.reports) == {*UNLOADED, "exit_at_import", "honest", "notebook"}
    assert all(r["properties"] and r["complete"] for r in graded.reports.values())


@pytest.mark.parametrize("name", sorted(UNLOADED))
def test_every_property_of_a_submission_that_did_not_load_says_so(graded: Graded, name: str) -> None:
    for prop, message in graded.messages(name).items():
        assert message.startswith(f"{NOT_LOADED}{UNLOADED[name]}"), (prop, message)
        assert "defines no" not in message, (prop, message)
    assert graded.reports[name]["score"] == 0


def test_a_submission_that_loaded_in_part_or_whose_cells_raised_lacks_only_what_it_lacks(graded: Graded) -> None:
    honest = graded.messages("honest")
    for name in ("exit_at_import", "notebook"):  # both define sigmoid and not sigmoid_prime
        messages = graded.messages(name)
        assert messages["sigmoid_matches_logistic"] == honest["sigmoid_matches_logistic"] == "", name
        assert messages["sigmoid_prime_matches_derivative"] == "submission defines no `sigmoid_prime`", name
        assert not any(m.startswith(NOT_LOADED) for m in messages.values()), name


def test_the_class_page_lists_them_as_load_errors(graded: Graded) -> None:
    assert main(["report", str(graded.out)]) == 0
    page = (graded.out / "index.html").read_text()
    section = page[page.index('id="needs-look"') :]
    flagged = dict(re.findall(r'<tr data-student="([^"]+)" data-kinds="([^"]+)"', section))
    for name in UNLOADED:
        assert "load error" in flagged[name].split(";"), flagged
    assert "honest" not in flagged
    rows = {r["submission"]: r for r in csv.DictReader((graded.out / "summary.csv").open())}
    assert all(rows[name]["score"] == "0" for name in UNLOADED)
    sigmoid = next(f for f in class_statistics(load_reports(graded.out)).functions if f.name == "sigmoid")
    assert sigmoid.defined == 3  # honest, exit_at_import and the notebook; none of those that did not load
