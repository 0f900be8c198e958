"""The rubric loader: defaults, the example file, weights/visibility matching and one-line errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from vicheck.grading.rubric import Rubric, load_rubric
from vicheck.sandbox.limits import Limits

EXAMPLE = Path(__file__).resolve().parents[2] / "vicheck" / "examples" / "rubric.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rubric.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_rubric() -> None:
    r = load_rubric(None)
    assert r == Rubric()
    assert r.source == "default" and r.profile == "grade" and r.sha256 == ""
    assert r.categories == frozenset({"correctness", "robustness"})
    assert r.default_visibility == "visible" and r.hidden == () and r.aliases == {}
    assert r.limits == Limits()
    assert r.weight_for("anything", 2.5) == 2.5
    assert r.visibility_for("anything") == "visible"
    assert r.counts("correctness") and r.counts("robustness") and not r.counts("style")


def test_example_rubric_loads() -> None:
    r = load_rubric(EXAMPLE)
    assert r.source == str(EXAMPLE)
    assert r.sha256 == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    assert r.weight_for("kl1_matches_closed_form", 1) == 3
    assert r.visibility_for("kl2_unbiased[normal]") == "hidden"
    assert r.limits.submission_seconds == 400 and r.limits.memory_mb == 2048


def test_full_layout(tmp_path: Path) -> None:
    r = load_rubric(
        write(
            tmp_path,
            """
[grading]
profile = "ci"
categories = ["correctness"]
default_visibility = "visible"
[weights]
"kl1_*" = 3
"lp_transformed_integrates_to_one" = 2
"lp_transformed_integrates_to_one[exp-Gamma]" = 5
"sig*" = 1.5
"sigmoid_*" = 0
[visibility]
hidden = ["kl2_*"]
[aliases]
kl_divergence_2 = "kl_mc"
[limits]
call_seconds = 5
submission_seconds = 100
load_seconds = 30
memory_mb = 512
""",
        )
    )
    assert r.profile == "ci" and r.categories == frozenset({"correctness"})
    assert not r.counts("robustness")
    assert r.weight_for("kl1_matches_closed_form", 1) == 3
    # an exact name wins, with or without its parameters; "[...]" in an exact name is not a glob class
    assert r.weight_for("lp_transformed_integrates_to_one[exp-Gamma]", 1) == 5
    assert r.weight_for("lp_transformed_integrates_to_one[sigmoid-Beta]", 1) == 2
    # among globs the last matching one wins
    assert r.weight_for("sigmoid_prime_matches", 1) == 0
    assert r.weight_for("sign_flip", 1) == 1.5
    assert r.weight_for("unmatched", 7) == 7
    assert r.visibility_for("kl2_x") == "hidden" and r.visibility_for("kl1_x") == "visible"
    assert r.aliases == {"kl_divergence_2": "kl_mc"}
    assert r.limits == Limits(5, 100, 30, 512)


def test_hidden_by_default_with_visible_exceptions(tmp_path: Path) -> None:
    r = load_rubric(
        write(
            tmp_path,
            '[grading]\ndefault_visibility = "hidden"\n[visibility]\nvisible = ["sigmoid_*"]\nhidden = ["sigmoid_x"]\n',
        )
    )
    assert r.visibility_for("sigmoid_prime") == "visible"
    assert r.visibility_for("sigmoid_x") == "hidden"  # hidden wins over visible
    assert r.visibility_for("kl1") == "hidden"


@pytest.mark.parametrize(
    ("text", "table", "key"),
    [
        ("[grading]\nprofil = 'grade'\n", "[grading]", "profil"),
        ("[grading]\nprofile = 'fast'\n", "[grading]", "profile"),
        ("[grading]\ncategories = 'correctness'\n", "[grading]", "categories"),
        ("[grading]\ndefault_visibility = 'secret'\n", "[grading]", "default_visibility"),
        ("[weights]\n'kl1_*' = 'three'\n", "[weights]", "kl1_*"),
        ("[weights]\n'kl1_*' = -1\n", "[weights]", "kl1_*"),
        ("[weights]\n'kl1_*' = true\n", "[weights]", "kl1_*"),
        ("[visibility]\nhidden = 'kl2_*'\n", "[visibility]", "hidden"),
        ("[visibility]\nhiden = ['kl2_*']\n", "[visibility]", "hiden"),
        ("[aliases]\nnot_a_contract_name = 'x'\n", "[aliases]", "not_a_contract_name"),
        ("[aliases]\nkl_divergence_2 = 3\n", "[aliases]", "kl_divergence_2"),
        ("[aliases]\nkl_divergence_2 = 'kl mc'\n", "[aliases]", "kl_divergence_2"),
        ("[limits]\ncall_seconds = 0\n", "[limits]", "call_seconds"),
        ("[limits]\nsubmission_seconds = '900'\n", "[limits]", "submission_seconds"),
        ("[limits]\nmemory_mb = 1.5\n", "[limits]", "memory_mb"),
        ("[limits]\nwall_seconds = 1\n", "[limits]", "wall_seconds"),
        ("[scoring]\nx = 1\n", "[scoring]", ""),
        ("grading = 3\n", "[grading]", ""),
    ],
)
def test_errors_are_one_line_and_name_file_table_key(tmp_path: Path, text: str, table: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as info:
        load_rubric(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message and table in message and key in message


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[grading\nprofile = 1")
    with pytest.raises(ValueError, match="not valid TOML") as info:
        load_rubric(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    with pytest.raises(ValueError, match="cannot read"):
        load_rubric(tmp_path / "missing.toml")


def test_rubric_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Rubric().profile = "dev"  # type: ignore[misc]
