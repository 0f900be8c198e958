"""Failure messages name what a property assumes about the method, and tell a legitimate alternative from a
mistake where the suite can (docs/assumptions.md, properties/_assumptions.py).

Small alternative implementations run in this process: each uses a valid method other than the lecture's
(antithetic, stratified or control-variate Monte Carlo for ``kl_divergence_2``, a Monte Carlo ELBO, wider
integration windows, Simpson's rule, a finite-difference derivative). Each either passes or fails with a
message that names the assumption, with the "the instructor may accept it" hint where the suite can tell.
The corpus' wrong submissions fail without that hint.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributions as dist
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from properties import test_coin, test_fits, test_kl, test_quadrature, test_transforms
from properties._assumptions import (
    EXACT_JACOBIAN,
    HINT,
    MC_RATE,
    PLAIN_MC,
    estimator_note,
    exact_derivative,
    window_quadrature,
)
from properties._checks import PropertyFailure
from vicheck.implementation import Implementation
from vicheck.sandbox.loading import InProcessImplementation

ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS = ROOT / "tests" / "submissions"


def _functions(**functions: Any) -> InProcessImplementation:
    module = types.ModuleType("alternative")
    for name, value in functions.items():
        setattr(module, name, value)
    return InProcessImplementation(module, label="alternative")


def _file(path: Path) -> InProcessImplementation:
    module = types.ModuleType(f"submission_{path.stem}")
    module.__file__ = str(path)
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), module.__dict__)
    return InProcessImplementation(module, label=path.stem)


LECTURE = _file(SUBMISSIONS / "lecture_4_functions.py").module


def _run(prop: Callable[..., None], impl: Implementation) -> PropertyFailure | None:
    """The property on its own (derandomized) examples: None when it holds, else the reported failure."""
    try:
        prop(impl=impl)
    except PropertyFailure as failure:
        return failure
    return None


def _run_on(prop: Callable[..., None], impl: Implementation, **example: Any) -> PropertyFailure | None:
    """The property on one given example, run by Hypothesis (so its final replay writes the whole note)."""
    inner = prop.hypothesis.inner_test  # type: ignore[attr-defined]

    @settings(
        max_examples=1,
        database=None,
        derandomize=True,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.just(example))
    def once(kwargs: dict[str, Any]) -> None:
        inner(impl, **kwargs)

    try:
        once()
    except PropertyFailure as failure:
        return failure
    return None


def _hinted(failure: PropertyFailure | None) -> bool:
    return failure is not None and HINT in str(failure)


# --- the message format ----------------------------------------------------------------------------------


def test_assumes_is_rendered_after_got_and_note() -> None:
    failure = PropertyFailure("f is wrong", call="f(1)", expected="2", got="3", note="noted", assumes="a method")
    assert str(failure).splitlines() == [
        "f is wrong",
        "  input:    f(1)",
        "  expected: 2",
        "  got:      3",
        "  note:     noted",
        "  assumes:  a method",
    ]
    assert failure.assumes == "a method" and failure.note == "noted"
    assert "assumes" not in str(PropertyFailure("f is wrong", got="3"))


def test_assumption_texts_never_carry_the_hint() -> None:
    """The hint marks a diagnosis; an assumption alone says "can accept", never the hint's words."""
    for text in (PLAIN_MC, MC_RATE, EXACT_JACOBIAN, exact_derivative("x"), window_quadrature("[-4, 4]")):
        assert HINT not in text


# --- Monte Carlo: kl_divergence_2 -----------------------------------------------------------------------------


def _symmetric(p: dist.Distribution) -> bool:
    return isinstance(p, (dist.Normal, dist.Laplace))


def antithetic_kl2(p: dist.Distribution, q: dist.Distribution, N: int = 500) -> torch.Tensor:
    """Antithetic pairs (x, 2 mean - x) for a symmetric p; the plain estimator otherwise."""
    if not _symmetric(p):
        x = p.sample((N,))
    else:
        half = p.sample(((N + 1) // 2,))
        x = torch.cat([half, 2 * p.mean - half])[:N]
    return (p.log_prob(x) - q.log_prob(x)).mean()


def stratified_kl2(p: dist.Distribution, q: dist.Distribution, N: int = 500) -> torch.Tensor:
    """One uniform draw in each of N strata of p's quantiles (inverse cdf) where torch has one: the error
    shrinks faster than 1/sqrt(N)."""
    if not _symmetric(p):
        x = p.sample((N,))
    else:
        u = (torch.arange(N, dtype=torch.float64) + torch.rand(N, dtype=torch.float64)) / N
        x = p.icdf(u.clamp(1e-12, 1 - 1e-12).to(p.mean.dtype))
    return (p.log_prob(x) - q.log_prob(x)).mean()


def control_variate_kl2(p: dist.Distribution, q: dist.Distribution, N: int = 500) -> torch.Tensor:
    """log p/q - c (q/p - 1) with E_p[q/p] = 1: unbiased for any c; c = 10 makes its variance larger than the
    plain estimator's (a badly chosen control-variate coefficient)."""
    x = p.sample((N,))
    log_ratio = p.log_prob(x) - q.log_prob(x)
    return (log_ratio - 10.0 * torch.expm1(-log_ratio)).mean()


STANDARD, SHIFTED = dist.Normal(0.0, 1.0), dist.Normal(1.0, 1.0)
KL2_PROPERTIES = [
    test_kl.test_kl2_matches_exact_within_clt_bound,
    test_kl.test_kl2_unbiased_over_seeds,
    test_kl.test_kl2_error_shrinks_as_inverse_sqrt_n,
]


@pytest.mark.parametrize("estimator", [antithetic_kl2, stratified_kl2], ids=["antithetic", "stratified"])
@pytest.mark.parametrize("prop", KL2_PROPERTIES, ids=lambda p: p.__name__.removeprefix("test_"))
def test_variance_reduced_estimators_pass_or_are_told_apart(estimator: Callable[..., Any], prop: Any) -> None:
    """A smaller variance meets the plain estimator's CLT bounds; an error shrinking faster than 1/sqrt(N)
    (stratified sampling) passes the rate property when centred on KL. Should a draw make one fail, the
    message names the assumption."""
    failure = _run(prop, _functions(kl_divergence_2=estimator))
    assert failure is None or failure.assumes in (PLAIN_MC, MC_RATE), str(failure)


def test_stratified_estimator_passes_the_rate_property_although_its_variance_falls_faster() -> None:
    """On a Normal pair the stratified estimator's variance falls far faster than 1/N (16 Var(16N)/Var(N)
    far below the lower F quantile, which used to fail); centred on KL, it passes."""
    impl = _functions(kl_divergence_2=stratified_kl2)
    assert _run_on(test_kl.test_kl2_error_shrinks_as_inverse_sqrt_n, impl, pair=(STANDARD, SHIFTED), seed=7) is None


def test_exact_antithetic_estimates_are_named_and_a_reused_draw_is_not() -> None:
    """For equal-scale Normals log p - log q is linear in x, so antithetic pairs are exact: the estimates do
    not vary with the seed. The message says the estimator has no Monte Carlo error (antithetic?), with the
    hint; the lecture's estimator re-seeded inside (a mistake) also does not vary, but gets no hint."""
    pair = (dist.Normal(0.5, 1.2), dist.Normal(-1.0, 1.2))
    exact = _run_on(
        test_kl.test_kl2_error_shrinks_as_inverse_sqrt_n, _functions(kl_divergence_2=antithetic_kl2), pair=pair, seed=1
    )
    assert exact is not None and exact.summary == "kl_divergence_2 does not vary with the seed"
    assert "Antithetic" in exact.note and _hinted(exact) and "Monte Carlo" in exact.assumes
    reseeds = _run_on(
        test_kl.test_kl2_error_shrinks_as_inverse_sqrt_n,
        _file(SUBMISSIONS / "wrong" / "kl2_reseeds.py"),
        pair=pair,
        seed=1,
    )
    assert reseeds is not None and reseeds.summary == exact.summary and not _hinted(reseeds), str(reseeds)


def test_larger_variance_unbiased_estimator_gets_the_hint() -> None:
    """A control variate with a bad coefficient is unbiased with about 190 times the plain variance: where
    one estimate misses the plain CLT bound, the further estimates show it centred, more variable and
    shrinking with N, and the message says so."""
    impl = _functions(kl_divergence_2=control_variate_kl2)
    failures = (
        _run_on(test_kl.test_kl2_matches_exact_within_clt_bound, impl, pair=(STANDARD, SHIFTED), seed=seed)
        for seed in range(20)
    )
    failure = next((f for f in failures if f is not None), None)
    assert failure is not None, "no seed of 20 missed the plain bound (each misses with probability 0.65)"
    assert failure.assumes == PLAIN_MC
    assert _hinted(failure) and "larger variance" in failure.note, str(failure)


# --- the diagnosis itself, on synthetic estimates ---------------------------------------------------------------


def _normal(k: int, mean: float, sd: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return mean + sd * torch.randn(k, generator=g, dtype=torch.float64)


@pytest.mark.parametrize(
    ("case", "hint", "words"),
    [
        ("unbiased, larger variance, error shrinking as 1/sqrt(N)", True, "larger variance"),
        ("ignores N (same spread at both N)", False, "does not shrink"),
        ("biased", False, "a bias"),
        ("sum instead of mean (grows with N)", False, "off KL"),
        ("plain variance", False, "about the plain estimator's variance"),
    ],
)
def test_estimator_note_tells_alternatives_from_mistakes(case: str, hint: bool, words: str) -> None:
    kl, sd, n = 0.5, 1.0, 1000
    spread = {"plain variance": sd, "biased": 3 * sd}.get(case, 20 * sd)
    centre = kl + (0.5 if case == "biased" else 0.0)
    values = _normal(64, centre, spread / n**0.5, seed=1)
    if case.startswith("ignores N"):
        other = _normal(200, kl, spread / n**0.5, seed=2)
    elif case.startswith("sum"):
        other = _normal(200, 16 * kl, 4 * spread / n**0.5, seed=2)
    else:
        other = _normal(200, kl, spread / (16 * n) ** 0.5, seed=2)
    note = estimator_note(values, kl, sd, n, 1e-6, other=(16 * n, lambda: other))
    assert (HINT in note) is hint, note
    assert words in note, note


# --- quadrature: windows, rules, Monte Carlo losses -------------------------------------------------------------


def _log_space_kl(w: dist.Distribution, v: dist.Distribution, a: Any, b: Any, N: int = 500) -> torch.Tensor:
    x = torch.linspace(float(a), float(b), N)
    lw, lv = w.log_prob(x), v.log_prob(x)
    return torch.trapezoid(torch.exp(lw) * (lw - lv), x)


def _q(X: Any) -> dist.Normal:
    mu, sigma = (float(t) for t in X)
    return dist.Normal(torch.tensor(mu), torch.tensor(sigma))


def wide_dkl_qp(X: Any) -> torch.Tensor:
    q = _q(X)
    return _log_space_kl(q, LECTURE.posterior_unconstrained, q.loc - 8 * q.scale, q.loc + 8 * q.scale)


def wide_elbo_loss(X: Any) -> torch.Tensor:
    q = _q(X)
    x = torch.linspace(float(q.loc - 8 * q.scale), float(q.loc + 8 * q.scale), 500)
    lq = q.log_prob(x)
    log_joint = 3 * torch.nn.functional.logsigmoid(x) + 4 * torch.nn.functional.logsigmoid(-x)
    return torch.trapezoid(torch.exp(lq) * (lq - log_joint), x)


def wide_log_evidence() -> torch.Tensor:
    x = torch.linspace(-8.0, 8.0, 500)
    log_joint = 3 * torch.nn.functional.logsigmoid(x) + 4 * torch.nn.functional.logsigmoid(-x)
    return torch.log(torch.trapezoid(torch.exp(log_joint), x))


def wide_mode_seeking_loss(target: dist.Distribution) -> Callable[[Any], torch.Tensor]:
    return lambda X: _log_space_kl(_q(X), target, _q(X).loc - 8 * _q(X).scale, _q(X).loc + 8 * _q(X).scale)


def wide_mass_covering_loss(target: dist.Distribution) -> Callable[[Any], torch.Tensor]:
    return lambda X: _log_space_kl(target, _q(X), -8.0, 12.0)


WIDE = _functions(
    DKL_QP=wide_dkl_qp,
    ELBO_loss=wide_elbo_loss,
    log_evidence=wide_log_evidence,
    mode_seeking_loss=wide_mode_seeking_loss,
    mass_covering_loss=wide_mass_covering_loss,
)


@pytest.mark.parametrize(
    "prop",
    [
        test_coin.test_dkl_qp_matches_exact,
        test_coin.test_elbo_loss_matches_exact,
        test_coin.test_log_evidence_is_log_beta_3_4,
        test_coin.test_kl_minus_elbo_is_log_evidence,
        test_fits.test_mode_seeking_loss_is_kl_q_to_target,
        test_fits.test_mass_covering_loss_is_kl_target_to_q,
    ],
    ids=lambda p: p.__name__.removeprefix("test_"),
)
def test_wider_windows_pass(prop: Any) -> None:
    """Windows twice the lecture's (mu +- 8 sigma, [-8, 8], [-8, 12]) with the trapezoid rule on 500 points:
    the windows are "the lecture's or wider", so these pass."""
    failure = _run(prop, WIDE)
    assert failure is None, str(failure)


@pytest.mark.parametrize(
    "prop",
    [
        test_quadrature.test_integrate_exact_for_affine_functions,
        test_quadrature.test_integrate_error_falls_as_h_squared,
        test_kl.test_kl1_matches_exact,
    ],
    ids=lambda p: p.__name__.removeprefix("test_"),
)
def test_simpsons_rule_passes(prop: Any) -> None:
    assert _run(prop, _file(SUBMISSIONS / "correct" / "simpson.py")) is None


def _monte_carlo_q(X: Any, log_target: Callable[[torch.Tensor], torch.Tensor], N: int = 2000) -> torch.Tensor:
    q = _q(X)
    x = q.sample((N,))
    return (q.log_prob(x) - log_target(x)).mean()


def monte_carlo_dkl_qp(X: Any) -> torch.Tensor:
    return _monte_carlo_q(X, LECTURE.posterior_unconstrained.log_prob)


def monte_carlo_elbo_loss(X: Any) -> torch.Tensor:
    return _monte_carlo_q(X, lambda x: 3 * torch.nn.functional.logsigmoid(x) + 4 * torch.nn.functional.logsigmoid(-x))


@pytest.mark.parametrize(
    ("name", "prop", "function"),
    [
        ("DKL_QP", test_coin.test_dkl_qp_matches_exact, monte_carlo_dkl_qp),
        ("ELBO_loss", test_coin.test_elbo_loss_matches_exact, monte_carlo_elbo_loss),
    ],
)
def test_monte_carlo_elbo_is_named_with_the_hint(name: str, prop: Any, function: Any) -> None:
    """A Monte Carlo KL / ELBO (the usual estimate in variational inference) misses the quadrature tolerance;
    the message says it varies with the seed and is centred on the exact value, and names the windows and
    quadrature the property assumes."""
    failure = _run(prop, _functions(**{name: function}))
    assert failure is not None
    assert failure.assumes == window_quadrature("q's window mu ± 4 sigma")
    assert _hinted(failure) and "different value for each seed" in failure.note, str(failure)


def fd_derivative_lp(d: dist.Distribution, x: torch.Tensor) -> torch.Tensor:
    """A central difference of the density (float32), instead of autograd."""
    if not bool(d.support.check(x)):
        return torch.tensor(0.0)
    h = 1e-3 * max(1.0, abs(float(x)))
    return (d.log_prob(x + h).exp() - d.log_prob(x - h).exp()) / (2 * h)


def test_finite_difference_derivative_is_named_with_the_hint() -> None:
    failure = _run(
        test_transforms.test_derivative_lp_matches_analytic_derivative, _functions(derivative_lp=fd_derivative_lp)
    )
    assert failure is not None
    assert failure.assumes == exact_derivative("the derivative of the density")
    assert _hinted(failure) and "finite difference" in failure.note, str(failure)


# --- mistakes get no hint ---------------------------------------------------------------------------------------

MISTAKES = [
    ("kl2_ignores_N", test_kl.test_kl2_matches_exact_within_clt_bound),
    ("kl2_ignores_N", test_kl.test_kl2_error_shrinks_as_inverse_sqrt_n),
    ("kl2_sum_not_mean", test_kl.test_kl2_unbiased_over_seeds),
    ("kl2_sum_not_mean", test_kl.test_kl2_error_shrinks_as_inverse_sqrt_n),
    ("kl2_samples_from_q", test_kl.test_kl2_unbiased_over_seeds),
    ("kl2_reseeds", test_kl.test_kl2_unbiased_over_seeds),
    ("kl2_reseeds", test_kl.test_kl2_error_shrinks_as_inverse_sqrt_n),
    ("kl1_flipped_ratio", test_kl.test_kl1_matches_exact),
    ("elbo_window_ignores_mu", test_coin.test_elbo_loss_matches_exact),
    ("dkl_sigma_as_variance", test_coin.test_dkl_qp_matches_exact),
    ("log_evidence_no_log", test_coin.test_log_evidence_is_log_beta_3_4),
    ("mass_covering_window_of_q", test_fits.test_mass_covering_loss_is_kl_target_to_q),
    ("integrate_left_riemann", test_quadrature.test_integrate_error_falls_as_h_squared),
    ("derivative_of_log_density", test_transforms.test_derivative_lp_matches_analytic_derivative),
    ("sigmoid_prime_squared_sigmoid", test_transforms.test_sigmoid_prime_matches_derivative),
]


@pytest.mark.parametrize(("submission", "prop"), MISTAKES, ids=[f"{s}-{p.__name__[5:]}" for s, p in MISTAKES])
def test_mistakes_fail_without_the_hint(submission: str, prop: Any) -> None:
    failure = _run(prop, _file(SUBMISSIONS / "wrong" / f"{submission}.py"))
    assert failure is not None, f"{submission} passed {prop.__name__}"
    assert not _hinted(failure), str(failure)


def test_monte_carlo_alias_is_named_but_not_excused() -> None:
    """kl_divergence must be the quadrature kl_divergence_1: a Monte Carlo one is named as such, no hint."""
    failure = _run(
        test_kl.test_kl_divergence_is_the_quadrature_alias, _file(SUBMISSIONS / "wrong" / "kl_alias_monte_carlo.py")
    )
    assert failure is not None and "Monte Carlo" in failure.note and not _hinted(failure), str(failure)
