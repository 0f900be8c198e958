"""The result as text and HTML: the table by function, failures with message, counterexample and the
``assumes`` line, hidden properties counted, formulas readable, the student's text escaped."""

from __future__ import annotations

import html

from vicheck.check.render import (
    docstring_html,
    docstring_text,
    function_rows,
    readable_math,
    render_html,
    render_text,
)
from vicheck.grading.report.records import GradeReport, PropertyResult

EVIL = "<script>alert('x')</script>"


def _report() -> GradeReport:
    failing = PropertyResult(
        "kl1_matches_exact",
        ["kl_divergence_1"],
        "correctness",
        3.0,
        False,
        status="failed",
        message=(
            f"kl_divergence_1 is not KL(p || q)\n  input:    kl_divergence_1({EVIL})\n  expected: 0.61\n"
            "  got:      -0.61\n  assumes:  quadrature of p log(p/q) over the window"
        ),
        counterexample=f"kl_divergence_1({EVIL})",
        description=r"KL(p || q) by quadrature: :math:`\frac{h^2}{8}V(f')` and :math:`\mathcal N(\mu,\sigma^2)`.",
    )
    return GradeReport(
        submission="s.py",
        properties=[
            failing,
            PropertyResult("sigmoid_ok", ["sigmoid"], "correctness", 1.0, True, status="passed"),
            PropertyResult(
                "both", ["sigmoid", "kl_divergence_1"], "correctness", 1.0, False, status="not run", message="not run"
            ),
        ],
        errors=[f"cell 3: NameError: {EVIL}"],
        hidden_left_out=2,
        profile="grade",
        isolation="namespaces",
        complete=True,
    )


def test_formulas_are_readable() -> None:
    assert readable_math(r"\mathcal N(\mu,\sigma^2)") == "𝒩(μ,σ²)"
    assert readable_math(r"\frac{h^2}{8}V(f')") == "h²/8V(f')"
    assert readable_math(r"z\,\sigma/\sqrt N") == "z σ/√N"
    assert readable_math(r"\mathrm{KL}(q\,\|\,p)") == "KL(q ‖ p)"
    assert readable_math(r"2\max|f''|") == "2 max|f''|"
    assert docstring_text("``f(x)`` is :math:`\\le 1` (:data:`ALPHA`)") == "f(x) is ≤ 1 (ALPHA)"
    assert str(docstring_html("a ``<b>`` :math:`x<y`")) == 'a <code>&lt;b&gt;</code> <i class="math">x&lt;y</i>'


def test_rows_count_a_property_under_each_function_it_exercises() -> None:
    rows = {r.function: r for r in function_rows(_report())}
    assert list(rows) == ["sigmoid", "kl_divergence_1"]  # the contract's order
    assert (rows["sigmoid"].passed, rows["sigmoid"].failed, rows["sigmoid"].not_run) == (1, 0, 1)
    assert rows["kl_divergence_1"].failing == ("kl1_matches_exact", "both")


def test_text() -> None:
    text = render_text(_report(), "s.py")
    assert text.startswith("vicheck check: s.py: 1 of 3 visible properties passed, 1 failed, 1 not run")
    assert "2 hidden properties run only in the final grading" in text
    assert "FAILED  kl1_matches_exact  (kl_divergence_1)" in text
    assert "assumes:  quadrature" in text and "h²/8V(f')" in text
    assert "cell 3: NameError" in text


def test_html_escapes_the_students_text_by_construction() -> None:
    page = render_html(_report(), f"title {EVIL}")
    assert "<script" not in page
    assert html.escape(EVIL, quote=False) in page.replace("&#39;", "'")
    assert "kl1_matches_exact" in page and "2 hidden properties" in page
    assert "<details open" in page and "𝒩(μ,σ²)" in page
    unescaped = html.unescape(page)
    assert f"kl_divergence_1({EVIL})" in unescaped and "assumes:  quadrature" in unescaped
