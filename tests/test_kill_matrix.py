"""Power of the property suite: every wrong submission of the corpus fails at least one correctness
property that exercises the function it got wrong, and every correct one passes every correctness
property (grade profile: derandomized, so these verdicts are the same on every run)."""

from __future__ import annotations

import re

import pytest

from reference.contract import NAMES
from tests.kill_matrix import ROOT, Submission, corpus

SUBMISSIONS = corpus()
WRONG = [s for s in SUBMISSIONS if s.kind == "wrong"]
CORRECT = [s for s in SUBMISSIONS if s.kind == "correct"]
MATRIX = ROOT / "docs" / "kill-matrix.md"


def test_corpus_is_large_enough_and_well_formed() -> None:
    assert len(WRONG) >= 25, f"only {len(WRONG)} wrong submissions"
    assert len(CORRECT) >= 5, f"only {len(CORRECT)} correct submissions"
    for sub in WRONG:
        assert sub.mutates in NAMES, f"{sub.name}: 'mutates: {sub.mutates}' is not a contract name"
    assert all(s.mutates == "none" for s in CORRECT)


@pytest.fixture(scope="module")
def wrong_results(corpus_grades: dict[str, dict]) -> dict[str, dict]:
    """Each wrong submission's correctness properties: the corpus as graded once for the session
    (``tests/corpus_grades.py``: ``vicheck grade``, jailed, grade profile)."""
    return {s.name: corpus_grades[s.name] for s in WRONG}


@pytest.fixture(scope="module")
def correct_results(corpus_grades: dict[str, dict]) -> dict[str, dict]:
    return {s.name: corpus_grades[s.name] for s in CORRECT}


@pytest.mark.parametrize("sub", WRONG, ids=[s.name for s in WRONG])
def test_wrong_submission_is_killed(sub: Submission, wrong_results: dict[str, dict]) -> None:
    report = wrong_results[sub.name]
    exercising = [p for p in report["properties"] if sub.mutates in p["functions"]]
    assert exercising, f"no correctness property exercises {sub.mutates}"
    killers = [p["name"] for p in exercising if not p["passed"]]
    assert killers, f"{sub.name} ({sub.mistake}) passed every property exercising {sub.mutates}"


@pytest.mark.parametrize("sub", CORRECT, ids=[s.name for s in CORRECT])
def test_correct_submission_passes(sub: Submission, correct_results: dict[str, dict]) -> None:
    report = correct_results[sub.name]
    failed = [
        f"{p['name']}: {p['message'].splitlines()[0] if p['message'] else ''}"
        for p in report["properties"]
        if not p["passed"]
    ]
    assert not failed, f"{sub.name} is correct but failed: {failed}"
    assert len(report["properties"]) >= 30


def _committed_matrix() -> tuple[list[str], dict[str, list[str]]]:
    text = MATRIX.read_text(encoding="utf-8")
    props = re.findall(r"^\d+\. `([^`]+)`", text, re.M)
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 + len(props) and cells[1] in ("wrong", "correct"):
            rows[cells[0]] = cells[4:]
    return props, rows


def test_committed_kill_matrix_agrees(wrong_results: dict[str, dict]) -> None:
    """docs/kill-matrix.md (linked from the README) says what the suite does today for the properties run here."""
    props, rows = _committed_matrix()
    assert set(rows) == {s.name for s in SUBMISSIONS}, "regenerate: python -m tests.kill_matrix"
    for sub in WRONG:
        for p in wrong_results[sub.name]["properties"]:
            assert p["name"] in props, f"{p['name']} missing from the matrix: regenerate it"
            cell = rows[sub.name][props.index(p["name"])]
            assert cell == ("·" if p["passed"] else "✗"), (
                f"{sub.name} x {p['name']}: matrix says {cell}, the suite says passed={p['passed']}; regenerate it"
            )
