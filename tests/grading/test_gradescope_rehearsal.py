"""The Gradescope autograder rehearsed end to end (``scripts/gradescope-rehearsal``) on a bare Debian root.

The script builds the bundle, runs ``setup.sh`` as root in a ``debootstrap --variant=minbase`` root, then
``run_autograder`` for six submissions in fresh copies of that image, and checks each ``results.json`` against
Gradescope's format and against ``vicheck grade`` here. This test runs it as a user would and reads back what it
left. It needs root, bubblewrap, debootstrap and the Debian mirror and PyPI; without the first three it skips,
saying why, unless ``VICHECK_REQUIRE_REHEARSALS=1`` (set by ``.ci/run`` where it installed them): then it fails.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.rehearsals import cannot_rehearse
from vicheck.grading.report.formats import _gradescope_spec as spec

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gradescope-rehearsal"
LOGIC = ROOT / "scripts" / "rehearsal" / "gradescope.py"
#: the issue's budget for one rehearsal; debootstrap (~30 s) and setup.sh (~90 s) included
DEADLINE_S = 8 * 60


def _machine_problem() -> str:
    """The script's own check of the machine (root, bubblewrap, debootstrap, ...), asked without running it."""
    found = importlib.util.spec_from_file_location("gradescope_rehearsal", LOGIC)
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    sys.modules[found.name] = module  # its dataclasses look their module up there
    found.loader.exec_module(module)
    problem: str = module.machine_problem()
    return problem


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    why = _machine_problem()
    if why:
        cannot_rehearse(why)
    base = tmp_path_factory.mktemp("gradescope")
    work, summary = base / "work", base / "summary.json"
    env = {**os.environ, "PYTHON": sys.executable}
    try:
        proc = subprocess.run(
            [str(SCRIPT), "--keep", str(work), "--json", str(summary)],
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
            env=env,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the rehearsal ran past {DEADLINE_S} s:\n{exc.stdout}\n{exc.stderr}")
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return json.loads(summary.read_text()), work


def _results(work: Path, case: str) -> dict[str, Any]:
    parsed: dict[str, Any] = spec.parse((work / "runs" / case / "results" / "results.json").read_bytes())
    return parsed


def test_every_submission_gets_a_valid_results_json_matching_vicheck_grade(
    rehearsal: tuple[dict[str, Any], Path],
) -> None:
    summary, work = rehearsal
    rows = {row["case"]: row for row in summary["submissions"]}
    assert sorted(rows) == sorted(["lecture", "mistake", "notebook", "writes-results", "hangs-at-import", "crashes"])
    assert all(row["problems"] == [] for row in rows.values()), rows
    for case in rows:
        results = _results(work, case)
        assert spec.problems(results) == [], case
        here = json.loads((work / "here" / "grades" / f"{case}.gradescope.json").read_text())
        assert results["score"] == here["score"], case
        assert [(t["name"], t["status"], t["score"]) for t in results["tests"]] == [
            (t["name"], t["status"], t["score"]) for t in here["tests"]
        ], case
        # the grader jails the submission even inside the container: never the grader's own process
        assert results["extra_data"]["isolation"] in ("namespaces", "uid", "process"), case


def test_verdicts_are_the_ones_a_teacher_expects(rehearsal: tuple[dict[str, Any], Path]) -> None:
    _, work = rehearsal
    lecture, mistake = _results(work, "lecture"), _results(work, "mistake")
    assert 0 < mistake["score"] < lecture["score"] <= sum(t["max_score"] for t in lecture["tests"])
    assert _results(work, "notebook")["score"] > 0
    forged = _results(work, "writes-results")
    assert forged["score"] == lecture["score"] and "FORGED" not in json.dumps(forged)
    for case, said in (("hangs-at-import", "load time limit"), ("crashes", "SIGSEGV")):
        results = _results(work, case)
        assert results["score"] == 0 and said in results["output"], case
        assert {t["extra_data"].get("reason") for t in results["tests"]} == {"not_loaded"}, case
    hidden = [t for t in lecture["tests"] if t["name"].startswith("kl2_")]
    assert hidden and all(t["visibility"] == "hidden" for t in hidden)  # the bundled rubric's [visibility]


def test_setup_and_submission_times_are_recorded(rehearsal: tuple[dict[str, Any], Path]) -> None:
    summary, work = rehearsal
    assert summary["setup_seconds"] > 0 and summary["seconds"] < DEADLINE_S
    assert all(row["seconds"] > 0 for row in summary["submissions"])
    setup_log = (work / "logs" / "setup.log").read_text()
    assert "--index-url http://127.0.0.1:" in setup_log  # the reachable index the bundle was built with
