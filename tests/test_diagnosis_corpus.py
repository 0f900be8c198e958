"""The diagnosis on the submission corpus, end to end: ``vicheck grade`` (jailed children, traced calls, grade
profile) of every single-mistake submission, the correct ones, the lecture's code and a submission with two
independent mistakes, once for the module (correctness properties only: the diagnosis of a single mistake is
about them; the lecture's own code fails robustness properties).

* every wrong submission's mistaken function (its ``mutates:``) is the root of ``diagnosis[0]``;
* the helpers a wrong caller calls are no roots (a correct helper under a wrong caller names the caller alone);
* two independent mistakes give two roots; correct code gives no diagnosis;
* with ``carried_forward = true`` a helper's mistake costs only the points of the properties that fail on their
  own; without it the grade is what it was before the diagnosis existed (the points of the passed properties).
"""

from __future__ import annotations

import pytest

from tests.corpus_grades import LECTURE, TWO_MISTAKES, grade
from tests.kill_matrix import CORPUS, Submission, corpus

SUBMISSIONS = corpus()
WRONG = [s for s in SUBMISSIONS if s.kind == "wrong"]
CORRECT = [s for s in SUBMISSIONS if s.kind == "correct"]
#: wrong submissions whose mistaken function is not diagnosis[0]'s root, with the reason (none today)
EXCEPTIONS: dict[str, str] = {}


@pytest.fixture(scope="module")
def carried(corpus_grades: dict[str, dict]) -> dict[str, dict]:
    """Every submission of the corpus graded once, correctness properties, errors carried forward."""
    return corpus_grades


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """A helper-mistake submission graded without carrying errors forward (the default)."""
    paths = [CORPUS / "wrong" / "integrate_step_over_N.py"]
    return grade(paths, tmp_path_factory.mktemp("plain"), '[grading]\ncategories = ["correctness"]\n')


def roots(report: dict) -> list[str]:
    return [d["function"] for d in report["diagnosis"]]


def test_the_mistaken_function_is_the_first_root(carried: dict[str, dict]) -> None:
    wrong = []
    for sub in WRONG:
        report = carried[sub.name]
        if not roots(report) or roots(report)[0] != sub.mutates:
            wrong.append(f"{sub.name}: mutates {sub.mutates}, diagnosis {roots(report)}")
    unexpected = [w for w in wrong if w.split(":")[0] not in EXCEPTIONS]
    assert not unexpected, "\n".join(unexpected)
    print(f"diagnosis[0] is the mistaken function in {len(WRONG) - len(wrong)} of {len(WRONG)}")


@pytest.mark.parametrize(
    ("name", "helpers"),
    [("dkl_flipped", {"integrate", "kl_divergence_1"}), ("elbo_wrong_sign", {"integrate", "likelihood", "DKL_QP"})],
)
def test_a_correct_helper_under_a_wrong_caller_names_the_caller_alone(
    carried: dict[str, dict], name: str, helpers: set[str]
) -> None:
    report = carried[name]
    reached = set().union(*(p["reached"] for p in report["properties"] if not p["passed"]))
    assert helpers & reached, f"{name}: the trace shows no helper call ({reached})"
    assert len(roots(report)) == 1 and not helpers & set(roots(report)), roots(report)


def test_two_independent_mistakes_are_two_roots(carried: dict[str, dict]) -> None:
    assert set(roots(carried[TWO_MISTAKES.stem])) == {"integrate", "derivative_lp"}


def test_correct_code_has_no_diagnosis(carried: dict[str, dict]) -> None:
    for sub in [*CORRECT, Submission(LECTURE, "correct", "none", "")]:
        report = carried[sub.name]
        assert report["diagnosis"] == [], f"{sub.name}: {report['diagnosis']}"
        assert all(p["passed"] for p in report["properties"]), sub.name


def test_carried_forward_costs_only_the_helpers_points(carried: dict[str, dict], plain: dict[str, dict]) -> None:
    name = "integrate_step_over_N"
    report = carried[name]
    own = {p for d in report["diagnosis"] for p in d["properties"]}
    assert own == {p["name"] for p in report["properties"] if "integrate" in p["functions"] and not p["passed"]}
    lost = sum(p["weight"] for p in report["properties"] if p["name"] in own)
    assert report["score"] == report["max_score"] - lost
    forward = [p for p in report["properties"] if p["carried_forward"]]
    assert forward and all(p["carried_forward"] == "through integrate" and not p["passed"] for p in forward)

    today = plain[name]
    assert today["score"] == sum(p["weight"] for p in today["properties"] if p["passed"]) < report["score"]
    assert not any(p["carried_forward"] for p in today["properties"])
    assert today["diagnosis"] == report["diagnosis"]
