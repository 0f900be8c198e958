"""``vicheck check FILE``: its exit statuses (0 every property passed, 1 one failed, 2 it could not run), its
messages, and what it says of hidden properties."""

from __future__ import annotations

import json
from pathlib import Path

from tests.check.helpers import CORRECTNESS_RUBRIC, LECTURE, lecture_source, vicheck


def test_all_passed_exits_0(tmp_path: Path) -> None:
    run = vicheck("check", str(LECTURE), "--function", "log_evidence", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 of 3 visible properties passed" in run.stdout
    assert "log_evidence" in run.stdout and "FAILED" not in run.stdout
    assert not list(tmp_path.iterdir())  # no output folder, nothing written beside it


def test_a_failure_exits_1_with_message_counterexample_and_assumes(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.py"
    wrong.write_text(lecture_source(mistake=True), encoding="utf-8")
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(CORRECTNESS_RUBRIC, encoding="utf-8")
    result = tmp_path / "result.json"
    run = vicheck(
        "check",
        str(wrong),
        "-f",
        "sigmoid_prime",
        "--rubric",
        str(rubric),
        "--classroom-result",
        str(result),
        cwd=tmp_path,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    out = run.stdout
    assert "0 of 1 visible property passed, 1 failed" in out
    assert "FAILED  sigmoid_prime_matches_derivative  (sigmoid_prime)" in out
    assert "input:    sigmoid_prime(0.0)" in out and "got:      [0.5]" in out
    assert "assumes:  sigmoid_prime computed exactly" in out
    assert "σ'(y) = σ(y) σ(-y)" in out  # the docstring's formula, readable
    data = json.loads(result.read_text())
    assert data["status"] == "fail" and [t["name"] for t in data["tests"]] == ["sigmoid_prime_matches_derivative"]


def test_hidden_properties_are_counted_never_named(tmp_path: Path) -> None:
    rubric = tmp_path / "rubric.toml"
    rubric.write_text('[grading]\ncategories = ["correctness"]\n[visibility]\nhidden = ["log_evidence_is_*"]\n')
    run = vicheck("check", str(LECTURE), "-f", "log_evidence", "--rubric", str(rubric), cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 of 2 visible properties passed" in run.stdout
    assert "1 hidden property exercising log_evidence runs only in the final grading" in run.stdout
    assert "log_evidence_is_log_beta_3_4" not in run.stdout


def test_a_file_that_does_not_load_fails_every_property_saying_why(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\nraise SystemExit(3)\n" + lecture_source(), encoding="utf-8")
    run = vicheck("check", str(broken), "-f", "sigmoid", "--quick", cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "0 of" in run.stdout and "did not load" in run.stdout


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    run = vicheck("check", str(tmp_path / "nowhere.py"), "--classroom-result", str(result), cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip() == f"vicheck check: {tmp_path / 'nowhere.py'}: no such file"
    data = json.loads(result.read_text())  # the workflow still has a result to report
    assert data["status"] == "error" and "no such file" in data["tests"][0]["message"]


def test_an_unknown_function_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    run = vicheck("check", str(LECTURE), "--function", "sigmoid", "--function", "kl_divergnce_1", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip() == "vicheck check: --function: not a function of the lecture: kl_divergnce_1"
    assert run.stdout == ""


def test_a_rubric_that_does_not_read_exits_2(tmp_path: Path) -> None:
    rubric = tmp_path / "rubric.toml"
    rubric.write_text("[grading]\nprofile = 3\n")
    run = vicheck("check", str(LECTURE), "--rubric", str(rubric), cwd=tmp_path)
    assert run.returncode == 2 and "rubric.toml" in run.stderr and "profile" in run.stderr


def test_a_file_of_another_kind_exits_2(tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("not code")
    run = vicheck("check", str(other), cwd=tmp_path)
    assert run.returncode == 2 and run.stderr.startswith("vicheck check: ")


def test_a_function_whose_properties_are_all_hidden_says_so_and_exits_0(tmp_path: Path) -> None:
    """Nothing visible to run is no failure: the answer is how many hidden properties exercise it."""
    rubric = tmp_path / "rubric.toml"
    # the three properties that exercise log_evidence
    rubric.write_text(
        '[visibility]\nhidden = ["kl_minus_elbo_*", "elbo_below_*", "log_evidence_*"]\n', encoding="utf-8"
    )
    run = vicheck("check", str(LECTURE), "--function", "log_evidence", "--rubric", str(rubric), cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no visible property exercises log_evidence" in run.stdout
    assert "3 hidden properties exercising log_evidence run only in the final grading" in run.stdout
    assert "pytest exited" not in run.stdout + run.stderr
