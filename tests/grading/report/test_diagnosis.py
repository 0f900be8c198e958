"""The diagnosis (vicheck.grading.report.diagnosis) on hand-made reports: roots, what fails through them,
undecidable cases said both ways, and the error carried forward."""

from __future__ import annotations

from pathlib import Path

from vicheck.grading.report.diagnosis import carry_forward, diagnose, fix_first, only_through
from vicheck.grading.report.records import GradeReport, PropertyResult


def prop(
    name: str,
    functions: tuple[str, ...],
    reached: dict[str, int] | None,
    *,
    passed: bool = False,
    weight: float = 1.0,
    category: str = "correctness",
) -> PropertyResult:
    return PropertyResult(
        name=name,
        functions=list(functions),
        category=category,
        weight=weight,
        passed=passed,
        status="passed" if passed else "failed",
        reached=dict(reached or {}),
    )


def chain(*, integrate_ok: bool = False, dkl_ok: bool = True, elbo_ok: bool = True) -> list[PropertyResult]:
    """integrate <- kl_divergence_1 <- DKL_QP <- ELBO_loss, each with a property of its own; a property fails
    when a function its example reached is wrong."""
    wrong = {"integrate": not integrate_ok, "kl_divergence_1": False, "DKL_QP": not dkl_ok, "ELBO_loss": not elbo_ok}
    calls = {
        "integrate": {"integrate": 1},
        "kl_divergence_1": {"kl_divergence_1": 1, "integrate": 1},
        "DKL_QP": {"DKL_QP": 1, "kl_divergence_1": 1, "integrate": 1},
        "ELBO_loss": {"ELBO_loss": 1, "DKL_QP": 1, "kl_divergence_1": 1, "integrate": 1},
    }
    out = []
    for f, reached in calls.items():
        ok = not any(wrong[g] for g in reached)
        out.append(prop(f"{f}_a", (f,), reached, passed=ok, weight=2.0))
        out.append(prop(f"{f}_b", (f,), reached, passed=ok))
    return out


def test_a_mistaken_helper_is_the_root_and_its_callers_fail_through_it() -> None:
    d = diagnose(chain())
    assert [e["function"] for e in d] == ["integrate"]
    assert d[0]["properties"] == ["integrate_a", "integrate_b"]
    assert {t["function"]: t["properties"] for t in d[0]["through"]} == {
        "DKL_QP": ["DKL_QP_a", "DKL_QP_b"],
        "ELBO_loss": ["ELBO_loss_a", "ELBO_loss_b"],
        "kl_divergence_1": ["kl_divergence_1_a", "kl_divergence_1_b"],
    }
    assert d[0]["points"] == 12.0
    assert fix_first(d) == [
        "Fix first: `integrate` (2 properties); `DKL_QP`, `ELBO_loss` and `kl_divergence_1` fail through it"
    ]


def test_a_correct_helper_under_a_wrong_caller_names_the_caller_alone() -> None:
    d = diagnose(chain(integrate_ok=True, dkl_ok=False))
    assert [e["function"] for e in d] == ["DKL_QP"]
    assert d[0]["through"] == [{"function": "ELBO_loss", "properties": ["ELBO_loss_a", "ELBO_loss_b"]}]


def test_two_independent_mistakes_are_two_roots_the_larger_first() -> None:
    props = [
        *chain(),
        prop("sigmoid_a", ("sigmoid",), {"sigmoid": 1}, weight=5.0),
        prop("sigmoid_prime_a", ("sigmoid_prime",), {"sigmoid_prime": 1}, passed=True),
    ]
    assert [e["function"] for e in diagnose(props)] == ["integrate", "sigmoid"]
    assert diagnose(props)[1] == {
        "function": "sigmoid",
        "category": "correctness",
        "properties": ["sigmoid_a"],
        "points": 5.0,
        "through": [],
    }


def test_a_function_failing_on_its_own_and_through_a_root_is_said_both_ways() -> None:
    props = [*chain(), prop("DKL_QP_direct", ("DKL_QP",), {"DKL_QP": 1})]
    d = {e["function"]: e for e in diagnose(props)}
    assert set(d) == {"integrate", "DKL_QP"}
    assert "DKL_QP_direct" in d["DKL_QP"]["properties"]
    through = {t["function"]: t["properties"] for t in d["integrate"]["through"]}
    assert through["DKL_QP"] == ["DKL_QP_a", "DKL_QP_b"]
    # DKL_QP_a reached integrate and may be DKL_QP's own mistake: not "only through" integrate
    dkl_a = next(p for p in props if p.name == "DKL_QP_a")
    assert only_through(dkl_a, diagnose(props)) == []
    elbo_a = next(p for p in props if p.name == "ELBO_loss_a")
    assert sorted(only_through(elbo_a, diagnose(props))) == ["DKL_QP", "integrate"]


def test_a_shared_property_blames_the_function_not_cleared_by_a_property_of_its_own() -> None:
    props = [
        prop("flips_ok", ("flips",), {"flips": 1}, passed=True),
        prop("likelihood_of_flips", ("likelihood", "flips"), {"likelihood": 1, "flips": 1}),
    ]
    assert [e["function"] for e in diagnose(props)] == ["likelihood"]
    props[0] = prop("flips_wrong", ("flips",), {"flips": 1})
    d = diagnose(props)
    assert [e["function"] for e in d] == ["flips"]
    # the shared property exercises flips too: it counts as flips' own, not as failing through it
    assert d[0]["properties"] == ["flips_wrong", "likelihood_of_flips"] and d[0]["through"] == []


def test_categories_are_diagnosed_apart_correctness_first() -> None:
    props = [
        prop("integrate_extreme", ("integrate",), {"integrate": 1}, category="robustness", weight=9.0),
        prop("dkl_value", ("DKL_QP",), {"DKL_QP": 1, "integrate": 1}),
    ]
    d = diagnose(props)
    assert [(e["function"], e["category"]) for e in d] == [("DKL_QP", "correctness"), ("integrate", "robustness")]
    assert fix_first(d) == ["Fix first: `DKL_QP` (1 property)", "Then: `integrate` (1 property) (robustness)"]
    again = diagnose([*props, prop("integrate_value", ("integrate",), {"integrate": 1})])
    assert fix_first(again, code="") == ["Fix first: integrate (1 property); DKL_QP fails through it"]


def test_untraced_properties_count_their_functions_missing_ones_are_roots_the_rest_left_out() -> None:
    missing = prop("kl2_vs_kl1", ("kl_divergence_2", "kl_divergence_1"), None)
    missing.reason, missing.missing = "missing", ["kl_divergence_2"]
    not_run = prop("kl2_b", ("kl_divergence_2",), None)
    not_run.stop("not_run", "not run")
    not_loaded = prop("kl2_c", ("kl_divergence_2",), None)
    not_loaded.reason = "not_loaded"
    old = prop("sigmoid_a", ("sigmoid",), None)
    # a missing function is the root of the properties needing it (the others they exercise are not)
    assert [e["function"] for e in diagnose([missing, not_run, not_loaded, old])] == ["kl_divergence_2", "sigmoid"]
    assert diagnose([prop("ok", ("sigmoid",), {"sigmoid": 1}, passed=True)]) == []


def test_carried_forward_gives_the_points_of_properties_failing_only_through_a_root() -> None:
    plain = GradeReport(submission="s", properties=chain(), complete=True)
    carry_forward(plain, enabled=False)
    assert plain.score == 0.0 and not any(p.carried_forward for p in plain.properties)
    assert plain.diagnosis[0]["function"] == "integrate"

    carried = GradeReport(submission="s", properties=chain(), complete=True)
    carry_forward(carried, enabled=True)
    assert carried.score == carried.max_score - 3.0  # only integrate's own points are lost
    by_name = {p.name: p for p in carried.properties}
    assert by_name["ELBO_loss_a"].carried_forward == "through integrate"
    assert by_name["integrate_a"].carried_forward == ""
    again = GradeReport.from_json(carried.to_json())
    assert again.score == carried.score and again.diagnosis == carried.diagnosis and again.carried_forward


def test_the_feedback_and_the_check_say_what_to_fix_first(tmp_path: Path) -> None:
    from vicheck.check.render import render_html, render_text
    from vicheck.grading.report.formats import StudentContext, student_formats

    report = GradeReport(submission="s.py", properties=chain(), complete=True, profile="grade")
    carry_forward(report, enabled=True)
    first = "Fix first: `integrate` (2 properties); `DKL_QP`, `ELBO_loss` and `kl_divergence_1` fail through it"
    student_formats()["md"].write(report, tmp_path / "s.md", StudentContext(seconds=1.0))
    md = (tmp_path / "s.md").read_text(encoding="utf-8")
    assert md.index(f"**{first}.**") < md.index("## Properties")
    assert "| `ELBO_loss_a` | **failed** (error carried forward through integrate) | 2 / 2 |" in md
    assert "*Probably a consequence of:* `integrate`, which it calls" in md
    text = render_text(report, "s.py")
    assert first.replace("`", "") in text.splitlines()
    assert "  probably a consequence of integrate, which it calls" in text
    html = render_html(report, "s.py")
    assert "<strong>Fix first: <code>integrate</code> (2 properties); <code>DKL_QP</code>" in html
    assert "<em>Probably a consequence of</em> <code>integrate</code>" in html
    # nothing to say when nothing failed
    clean = GradeReport(submission="c.py", properties=[prop("ok", ("sigmoid",), {"sigmoid": 1}, passed=True)])
    carry_forward(clean, enabled=True)
    assert "Fix first" not in render_text(clean, "c.py")
