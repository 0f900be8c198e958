"""Behaviour of the reference: dtype in / dtype out, ValueErrors naming the argument, extreme inputs, the
transforms, batched versus one-at-a-time evaluation, the k3 estimator, and a slow obviously-correct
trapezoid beside the fast one."""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributions as dist

import reference as R
from reference.examples import make_normal_mixture

DTYPES = [pytest.param(torch.float32, id="float32"), pytest.param(torch.float64, id="float64")]


def t(x: float, dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor(x, dtype=dtype)


# ---- dtype in, dtype out ----------------------------------------------------------------------------------

CALLS = {
    "sigmoid": lambda d: R.sigmoid(torch.linspace(-3, 3, 7, dtype=d)),
    "sigmoid_prime": lambda d: R.sigmoid_prime(torch.linspace(-3, 3, 7, dtype=d)),
    "derivative_lp": lambda d: R.derivative_lp(
        dist.Beta(t(2.0, d), t(2.0, d)), torch.tensor([-0.5, 0.25, 0.5, 0.75, 1.5], dtype=d)
    ),
    "lp_transformed": lambda d: R.lp_transformed(
        torch.linspace(-3, 3, 7, dtype=d), dist.Gamma(t(1.0, d), t(1.0, d)), R.exp_transform()
    ),
    "integrate": lambda d: R.integrate(torch.exp, t(0.0, d), t(1.0, d)),
    "kl_divergence_1": lambda d: R.kl_divergence_1(make_normal_mixture(d), dist.Normal(t(0.0, d), t(1.0, d)), -5, 7),
    "kl_divergence": lambda d: R.kl_divergence(make_normal_mixture(d), dist.Normal(t(0.0, d), t(1.0, d)), -5, 7),
    "kl_divergence_2": lambda d: R.kl_divergence_2(make_normal_mixture(d), dist.Normal(t(0.0, d), t(1.0, d))),
    "kl_divergence_k3": lambda d: R.kl_divergence_k3(make_normal_mixture(d), dist.Normal(t(0.0, d), t(1.0, d))),
    "mode_seeking_loss": lambda d: R.mode_seeking_loss(make_normal_mixture(d))((t(4.0, d), t(0.5, d))),
    "mass_covering_loss": lambda d: R.mass_covering_loss(make_normal_mixture(d))((t(2.0, d), t(2.5, d))),
    "likelihood": lambda d: R.likelihood(torch.linspace(0, 1, 5, dtype=d)),
    "DKL_QP": lambda d: R.DKL_QP((t(-0.3, d), t(0.8, d))),
    "ELBO_loss": lambda d: R.ELBO_loss((t(-0.3, d), t(0.8, d))),
    "log_evidence": lambda d: R.log_evidence(dtype=d),
    "integrate_simpson": lambda d: R.integrate_simpson(torch.exp, t(0.0, d), t(1.0, d)),
    "integrate_gauss_legendre": lambda d: R.integrate_gauss_legendre(torch.exp, t(0.0, d), t(1.0, d)),
    "log_integrate": lambda d: R.log_integrate(lambda x: -x * x, t(-5.0, d), t(5.0, d)),
    "gauss_hermite_expectation": lambda d: R.gauss_hermite_expectation(torch.square, t(0.0, d), t(1.0, d)),
    "autodiff_example": lambda d: R.autodiff_example(t(2.0, d))[0],
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CALLS))
def test_dtype_in_dtype_out(name: str, dtype: torch.dtype) -> None:
    out = CALLS[name](dtype)
    assert out.dtype == dtype, f"{name}: {dtype} in, {out.dtype} out"
    assert bool(torch.isfinite(out).all())


@pytest.mark.parametrize("dtype", DTYPES)
def test_transforms_keep_dtype(dtype: torch.dtype) -> None:
    y = torch.linspace(-2, 2, 5, dtype=dtype)
    for T in (R.exp_transform(), R.sigmoid_transform(), R.affine_transform(t(1.0, dtype), t(4.0, dtype))):
        assert T(y).dtype == dtype and T.log_abs_det_jacobian(y, T(y)).dtype == dtype


# ---- ValueError naming the argument and the value ---------------------------------------------------------

NORMAL = dist.Normal(0.0, 1.0)
BAD = [
    pytest.param(lambda: R.integrate(torch.exp, 0.0, 1.0, N=1), r"N .*1", id="integrate-N"),
    pytest.param(lambda: R.integrate(torch.exp, 1.0, 1.0), r"a < b.*a=1\.0", id="integrate-a>=b"),
    pytest.param(lambda: R.kl_divergence_1(NORMAL, NORMAL, -1, 1, N=0), r"N .*0", id="kl1-N"),
    pytest.param(lambda: R.kl_divergence_1(NORMAL, NORMAL, 2, -2), r"a < b.*a=2", id="kl1-a>=b"),
    pytest.param(lambda: R.kl_divergence_2(NORMAL, NORMAL, N=0), r"N .*0", id="kl2-N"),
    pytest.param(lambda: R.DKL_QP((0.0, 0.0)), r"sigma .*0\.0", id="DKL_QP-sigma"),
    pytest.param(lambda: R.ELBO_loss((0.0, -1.0)), r"sigma .*-1\.0", id="ELBO-sigma"),
    pytest.param(lambda: R.mode_seeking_loss(NORMAL)((0.0, -0.5)), r"sigma .*-0\.5", id="mode-sigma"),
    pytest.param(lambda: R.mass_covering_loss(NORMAL)((0.0, 0.0)), r"sigma .*0\.0", id="mass-sigma"),
    pytest.param(lambda: R.likelihood(torch.tensor([0.5, 1.5])), r"\[0, 1\].*1\.5", id="likelihood-p>1"),
    pytest.param(lambda: R.likelihood(torch.tensor([-0.1])), r"\[0, 1\].*-0\.1", id="likelihood-p<0"),
    pytest.param(lambda: R.affine_transform(4.0, 1.0), r"a < b.*a=4\.0", id="affine-a>=b"),
    pytest.param(lambda: R.log_evidence(a=4.0, b=-4.0), r"a < b.*a=.*4\.", id="log_evidence-a>=b"),
]


@pytest.mark.parametrize(("call", "message"), BAD)
def test_bad_arguments_raise_value_error(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


# ---- extreme inputs ---------------------------------------------------------------------------------------


def test_far_apart_kl_is_finite() -> None:
    p = dist.Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    q = dist.Normal(torch.tensor(30.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    # KL = 30^2 / 2 = 450. Quadrature on +-12: the trapezoid is at machine precision (1e-12 relative).
    assert float(R.kl_divergence_1(p, q, -12, 12, N=2000)) == pytest.approx(450.0, rel=1e-12)
    torch.manual_seed(0)
    est = R.monte_carlo_kl(p, q, 100_000)
    # log p - log q = 450 - 30 x: sd 30, se 0.095; 5.33 se is a two-sided false alarm of 1e-7.
    assert math.isfinite(float(est.value))
    assert abs(float(est.value) - 450.0) <= 5.33 * 30 / math.sqrt(100_000)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_finite_and_in_range_at_extremes(dtype: torch.dtype) -> None:
    big = torch.finfo(dtype).max
    tiny = torch.finfo(dtype).tiny
    x = torch.tensor([-big, -1e4, -100.0, -tiny, 0.0, tiny, 100.0, 1e4, big], dtype=dtype)
    s, ds = R.sigmoid(x), R.sigmoid_prime(x)
    assert bool(torch.isfinite(s).all()) and bool(((s >= 0) & (s <= 1)).all())
    assert bool(torch.isfinite(ds).all()) and bool(((ds >= 0) & (ds <= 0.25)).all())
    assert float(s[-1]) == 1.0 and float(s[0]) == 0.0 and float(s[4]) == 0.5 and float(ds[4]) == 0.25


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_prime_never_rounds_above_a_quarter(dtype: torch.dtype) -> None:
    """Near 0, sigma(x) sigma(-x) rounds each factor to 0.5 +- an ulp, and their product can round to just
    above 1/4 (0.25000000000000006 at x = 2.87e-14 in float64, found by the dev profile's random search)."""
    magnitudes = torch.logspace(-30, 0, 20_001, dtype=torch.float64)
    x = torch.cat([magnitudes, -magnitudes, torch.tensor([2.866404555661346e-14], dtype=torch.float64)]).to(dtype)
    assert float(R.sigmoid_prime(x).max()) <= 0.25


# ---- the transforms ---------------------------------------------------------------------------------------

TRANSFORMS = [
    pytest.param(R.exp_transform, dist.Gamma(2.0, 1.5), (-30.0, 5.0), id="exp-Gamma"),
    pytest.param(R.sigmoid_transform, dist.Beta(2.0, 3.0), (-40.0, 40.0), id="sigmoid-Beta"),
    pytest.param(
        lambda: R.affine_transform(torch.tensor(1.0, dtype=torch.float64), torch.tensor(4.0, dtype=torch.float64)),
        dist.Uniform(1.0, 4.0),
        (0.0, 1.0),
        id="affine-Uniform",
    ),
]


@pytest.mark.parametrize(("make", "d", "window"), TRANSFORMS)
def test_transform_inverse_and_jacobian(make: object, d: dist.Distribution, window: tuple[float, float]) -> None:
    T = make()  # type: ignore[operator]
    y = torch.linspace(-3, 3, 13, dtype=torch.float64, requires_grad=True)
    if isinstance(d, dist.Uniform):
        y = torch.linspace(0.05, 0.95, 13, dtype=torch.float64, requires_grad=True)
    x = T(y)
    assert torch.allclose(T.inv(x), y, rtol=1e-12, atol=1e-12)  # float64 round trip: a few ulp
    (dx,) = torch.autograd.grad(x.sum(), y)
    expected = torch.log(dx.abs())
    got = T.log_abs_det_jacobian(y, x).expand_as(expected)
    assert torch.allclose(got, expected, rtol=1e-6, atol=1e-6)  # the transforms' float32 parameters


@pytest.mark.parametrize(("make", "d", "window"), TRANSFORMS)
def test_lp_transformed_integrates_to_one(make: object, d: dist.Distribution, window: tuple[float, float]) -> None:
    T = make()  # type: ignore[operator]
    a, b = window
    y = torch.linspace(a, b, 200_001, dtype=torch.float64)
    density = R.lp_transformed(y, d, T).exp()
    if isinstance(d, dist.Uniform):
        # The affine density is 1 on (0, 1): d = U(1, 4), scale 3, so (1/3) * 3.
        # (U(1, 4)'s support is [1, 4): the end point y = 1 maps outside it, density 0 there.)
        inner = density[:-1]
        assert torch.allclose(inner, torch.ones_like(inner), atol=1e-6)
    # Trapezoid on 2e5 points of a smooth density: error ~h^2 ~ 1e-8; the parameters are float32 (1e-6).
    assert float(torch.trapezoid(density, y)) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("shape", [(), (5,)], ids=["scalar", "vector"])
def test_derivative_lp_closed_form_and_zero_outside(shape: tuple[int, ...]) -> None:
    d = dist.Beta(torch.tensor(2.0, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64))
    inside = torch.full(shape, 0.3, dtype=torch.float64) if shape == () else torch.linspace(0.1, 0.9, 5).double()
    # Beta(2, 2): p(x) = 6 x (1 - x), p'(x) = 6 - 12 x.
    assert torch.allclose(R.derivative_lp(d, inside), 6 - 12 * inside, rtol=1e-12, atol=1e-12)
    outside = (
        torch.full(shape, 1.5, dtype=torch.float64) if shape == () else torch.tensor([-1.0, -0.1, 1.1, 2, 5.0]).double()
    )
    out = R.derivative_lp(d, outside)
    assert out.shape == outside.shape and bool((out == 0).all())


# ---- batched evaluation equals one-at-a-time --------------------------------------------------------------


def test_batched_equals_one_at_a_time() -> None:
    f64 = torch.float64
    mix = make_normal_mixture(f64)
    mus = torch.linspace(-2, 5, 4, dtype=f64).reshape(-1, 1).expand(4, 3)
    sigmas = torch.linspace(0.3, 2.5, 3, dtype=f64).reshape(1, -1).expand(4, 3)
    losses = {
        "mode": R.mode_seeking_loss(mix),
        "mass": R.mass_covering_loss(mix),
        "DKL_QP": R.DKL_QP,
        "ELBO": R.ELBO_loss,
    }
    for name, loss in losses.items():
        batched = loss((mus, sigmas))
        assert batched.shape == (4, 3), name
        single = torch.stack([loss((m, s)) for m, s in zip(mus.reshape(-1), sigmas.reshape(-1), strict=True)]).reshape(
            4, 3
        )
        # Same terms, summed along another memory layout: a few ulp of the sum.
        assert torch.allclose(batched, single, rtol=1e-12, atol=1e-14), name
    q = dist.Normal(mus, sigmas)
    batched = R.kl_divergence_1(q, mix, mus - 10 * sigmas, mus + 10 * sigmas)
    single = torch.stack(
        [
            R.kl_divergence_1(dist.Normal(m, s), mix, m - 10 * s, m + 10 * s)
            for m, s in zip(mus.reshape(-1), sigmas.reshape(-1), strict=True)
        ]
    ).reshape(4, 3)
    assert torch.allclose(batched, single, rtol=1e-12, atol=1e-14)


# ---- k3 estimator -----------------------------------------------------------------------------------------


def test_k3_unbiased_and_nonnegative() -> None:
    f64 = torch.float64
    p = dist.Normal(torch.tensor(0.0, dtype=f64), torch.tensor(1.0, dtype=f64))
    q = dist.Normal(torch.tensor(1.0, dtype=f64), torch.tensor(1.5, dtype=f64))
    exact = float(dist.kl_divergence(p, q))
    torch.manual_seed(1)
    est = R.monte_carlo_kl(p, q, 200_000, estimator="k3")
    # CLT: |mean - KL| <= 5.33 standard errors has two-sided false-alarm probability 1e-7 (k3 has all
    # moments here: r = q/p is bounded on this pair, since q is wider than p).
    assert abs(float(est.value) - exact) <= 5.33 * float(est.stderr)
    x = p.sample((10_000,))
    log_r = q.log_prob(x) - p.log_prob(x)
    terms = torch.expm1(log_r) - log_r
    assert bool((terms >= 0).all())  # (r - 1) - log r >= 0 for every r > 0


# ---- a slow, obviously correct version beside the fast one -------------------------------------------------


def slow_trapezoid(f: object, a: float, b: float, N: int) -> float:
    """Trapezoid rule by a plain Python loop over the N - 1 panels, one point at a time, in float64."""
    h = (b - a) / (N - 1)
    total = 0.0
    for i in range(N - 1):
        left, right = a + i * h, a + (i + 1) * h
        total += (f(left) + f(right)) / 2 * h  # type: ignore[operator]
    return total


def test_integrate_matches_slow_trapezoid() -> None:
    f = lambda x: math.exp(-x * x) * math.cos(3 * x)  # noqa: E731
    fast = R.integrate(
        lambda x: torch.exp(-x * x) * torch.cos(3 * x), torch.tensor(-2.0, dtype=torch.float64), 3.0, N=301
    )
    # Same rule, different summation order: round-off of 300 terms, ~1e-14.
    assert float(fast) == pytest.approx(slow_trapezoid(f, -2.0, 3.0, 301), rel=1e-12)


def test_kl_divergence_1_matches_slow_trapezoid() -> None:
    def log_mix(x: float) -> float:
        return math.log(
            0.4 * math.exp(-0.5 * ((x + 1) / 0.75) ** 2) / (0.75 * math.sqrt(2 * math.pi))
            + 0.6 * math.exp(-0.5 * ((x - 4) / 0.5) ** 2) / (0.5 * math.sqrt(2 * math.pi))
        )

    def integrand(x: float) -> float:
        lq = -0.5 * x * x - 0.5 * math.log(2 * math.pi)
        return math.exp(log_mix(x)) * (log_mix(x) - lq)

    mix = make_normal_mixture(torch.float64)
    normal = dist.Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    fast = R.kl_divergence_1(mix, normal, -5, 7, N=401)
    assert float(fast) == pytest.approx(slow_trapezoid(integrand, -5.0, 7.0, 401), rel=1e-12)


def test_derivative_lp_one_sided_at_support_end_points() -> None:
    d = dist.Beta(torch.tensor(2.0, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64))
    # p(x) = 6 x (1 - x) is smooth on [0, 1]: one-sided p'(0) = 6, p'(1) = -6 (log p = -inf there, so
    # p * d/dx log p would be 0 * inf). A quadratic p makes the second-order one-sided difference exact up
    # to rounding: 3 roundings of p ~ 1e-16 over the step eps^(1/3) ~ 6e-6 gives ~1e-10.
    out = R.derivative_lp(d, torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert out.tolist() == pytest.approx([6.0, -6.0], abs=1e-8)


def test_affine_transform_with_python_numbers_keeps_float64() -> None:
    T = R.affine_transform(1.0, 4.0)
    y = torch.linspace(0.1, 0.9, 3, dtype=torch.float64)
    assert T.log_abs_det_jacobian(y, T(y)).dtype == torch.float64
