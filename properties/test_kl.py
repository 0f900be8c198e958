r"""KL divergence by quadrature (``kl_divergence_1``, its alias ``kl_divergence``) and by Monte Carlo
(``kl_divergence_2``).

:math:`\mathrm{KL}(p\,\|\,q) = \int p\log(p/q) \ge 0` with equality iff :math:`p = q` (Gibbs' inequality;
Cover and Thomas, *Elements of Information Theory*, Thm. 2.6.3), invariant under a shared bijection.

Quadrature tolerance: :math:`\frac{h^2}{8}V(f')` for :math:`f = p\log(p/q)` on the window (the trapezoid
rule with the N asked for), plus the KL mass outside the window, plus float32 rounding of
:math:`\int p\,(|\log p| + |\log q| + |x\,\partial_x\log(p/q)| + 1)`. The window holds all but 2e-7 of
:math:`p` and the pairs are those whose densities are representable in float32 on it
(:math:`\log q > -80`), as the lecture's ``exp(log_prob)`` needs.
"""

from __future__ import annotations

import math

import torch
import torch.distributions as dist
from hypothesis import assume, given
from hypothesis import strategies as st

from . import _oracles as oracle
from . import strategies as s
from ._checks import Caller, check, check_at_least, check_close, text
from ._registry import prop
from ._tolerances import Z, clt_bound, rounding_bound, trapezoid_bound, variance_ratio_bounds

F32 = torch.float32
N_QUAD = 500


def _window_and_tolerance(p: dist.Distribution, q: dist.Distribution, N: int, tail: float = 1e-7):
    """(a, b, tolerance, reason) for kl_divergence_1(p, q, a, b, N) in float32, or None when q's density
    underflows float32 on the window (outside the correctness domain)."""
    a, b = oracle.window(p, tail)
    p64, q64 = oracle.as_float64(p), oracle.as_float64(q)
    x = torch.linspace(a, b, 2001, dtype=torch.float64)
    if float(q64.log_prob(x).min()) < -80 or float(p64.log_prob(x).min()) < -300:
        return None
    f = oracle._integrand(p, q)
    quad_err = trapezoid_bound(f, a, b, N)
    inside = oracle.kl_window(p, q, a, b)
    outside = abs(oracle.kl_exact(p, q) - inside)

    def sens(u: torch.Tensor) -> torch.Tensor:
        u = u.clone().requires_grad_(True)
        lp, lq = p64.log_prob(u), q64.log_prob(u)
        (g,) = torch.autograd.grad((lp - lq).sum(), u)
        return torch.exp(lp.detach()) * (lp.detach().abs() + lq.detach().abs() + (u.detach() * g).abs() + 1)

    rounding = rounding_bound(F32, oracle.quad(lambda u: sens(u), a, b) + (b - a) * 0.0, N)
    tol = quad_err + outside + rounding
    why = f"trapezoid h^2/8 V(f') = {quad_err:.2g}, mass outside window {outside:.2g}, float32 rounding {rounding:.2g}"
    return a, b, tol, why


def _quadrature_case(p: dist.Distribution, q: dist.Distribution, N: int = N_QUAD) -> tuple[float, float, float, str]:
    """:func:`_window_and_tolerance`, discarding (``assume``) pairs outside the float32 domain."""
    found = _window_and_tolerance(p, q, N)
    assume(found is not None)
    assert found is not None
    return found


@prop(functions=("kl_divergence_1",), weight=3.0, examples=25)
@given(pair=s.distribution_pairs())
def test_kl1_matches_exact(impl, pair):
    r"""``kl_divergence_1(p, q, a, b, 500)`` equals KL(p || q): torch's closed form where registered
    (Normal, Laplace, Gamma, Beta pairs), else float64 composite Gauss--Legendre (mixtures)."""
    p, q = pair
    a, b, tol, why = _quadrature_case(p, q)
    got = Caller(impl).scalar("kl_divergence_1", p, q, a, b, N_QUAD)
    check_close(
        "kl_divergence_1 is not KL(p || q)",
        got,
        oracle.kl_exact(p, q),
        tol,
        call=text("kl_divergence_1", p, q, a, b, N_QUAD),
        why=why,
    )


@prop(functions=("kl_divergence_1",), weight=2.0, examples=25)
@given(pair=s.distribution_pairs())
def test_kl1_nonnegative(impl, pair):
    r"""Gibbs' inequality: KL(p || q) >= 0, up to the quadrature tolerance."""
    p, q = pair
    a, b, tol, why = _quadrature_case(p, q)
    got = Caller(impl).scalar("kl_divergence_1", p, q, a, b, N_QUAD)
    check_at_least("kl_divergence_1 is negative", got, -tol, call=text("kl_divergence_1", p, q, a, b, N_QUAD), why=why)


@prop(functions=("kl_divergence_1",), weight=1.0, examples=20)
@given(p=st.one_of(s.real_line_distributions(), s.gammas(), s.betas()))
def test_kl1_of_a_distribution_with_itself_is_zero(impl, p):
    r"""KL(p || p) = 0: the integrand :math:`p\log(p/p)` vanishes pointwise. Tolerance: float32 rounding of
    :math:`\int p\,|\log p|`."""
    a, b = oracle.window(p, 1e-7)
    got = Caller(impl).scalar("kl_divergence_1", p, p, a, b, N_QUAD)
    p64 = oracle.as_float64(p)
    mag = oracle.quad(lambda u: torch.exp(p64.log_prob(u)) * (p64.log_prob(u).abs() + 1), a, b)
    check_close(
        "KL(p || p) is not 0",
        got,
        0.0,
        rounding_bound(F32, mag, N_QUAD),
        call=text("kl_divergence_1", p, p, a, b, N_QUAD),
        why="float32 rounding",
    )


@prop(functions=("kl_divergence", "kl_divergence_1"), weight=1.0, examples=10)
@given(pair=s.distribution_pairs(families=("real",)))
def test_kl_divergence_is_the_quadrature_alias(impl, pair):
    """The lecture binds ``kl_divergence = kl_divergence_1``: both give the same value on the same call
    (same computation, so within float32 rounding of the value)."""
    p, q = pair
    a, b, tol, _ = _quadrature_case(p, q)
    c = Caller(impl)
    one = c.scalar("kl_divergence_1", p, q, a, b, N_QUAD)
    alias = c.scalar("kl_divergence", p, q, a, b, N_QUAD)
    check_close(
        "kl_divergence differs from kl_divergence_1",
        alias,
        one,
        2 * tol,
        call=text("kl_divergence", p, q, a, b, N_QUAD),
        why="both within the quadrature tolerance",
    )


@prop(functions=("kl_divergence_1",), weight=2.0, examples=12)
@given(
    p=s.normals(min_scale=0.5, max_scale=1.5, min_loc=-1, max_loc=1),
    q=s.normals(min_scale=0.5, max_scale=1.5, min_loc=-1, max_loc=1),
    shift=s.floats32(-3, 3),
    scale=s.floats32(0.3, 3),
)
def test_kl1_invariant_under_shared_bijection(impl, p, q, shift, scale):
    r"""KL(T#p || T#q) = KL(p || q) for a shared bijection :math:`T`; here :math:`T(x) = \text{shift} +
    \text{scale}\cdot x`, so :math:`T\#\mathcal N(m, s) = \mathcal N(\text{shift} + \text{scale}\,m,
    \text{scale}\,s)`; both sides by ``kl_divergence_1`` on mapped windows. Tolerance: the two
    quadrature tolerances added."""
    tp = dist.Normal(shift + scale * p.loc, scale * p.scale)
    tq = dist.Normal(shift + scale * q.loc, scale * q.scale)
    f1 = _quadrature_case(p, q)
    f2 = _quadrature_case(tp, tq)
    c = Caller(impl)
    base = c.scalar("kl_divergence_1", p, q, f1[0], f1[1], N_QUAD)
    mapped = c.scalar("kl_divergence_1", tp, tq, f2[0], f2[1], N_QUAD)
    check_close(
        "KL changes under a shared affine bijection",
        mapped,
        base,
        f1[2] + f2[2],
        call=text("kl_divergence_1", tp, tq, f2[0], f2[1], N_QUAD),
        why="two quadrature tolerances",
        expected_label=f"KL(p || q) = {text('kl_divergence_1', p, q, f1[0], f1[1], N_QUAD)}",
    )


@prop(functions=("kl_divergence_1",), category="robustness", weight=1.0, examples=6)
@given(gap=s.floats32(15, 40), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_kl1_finite_for_far_apart_normals(impl, gap, dtype):
    r"""KL(N(0, 1) || N(gap, 1)) = gap^2/2 (450 for gap 30) on [-10, 10] with N = 2000, although q's density
    underflows there: a log-space integrand stays finite. Tolerance: trapezoid bound (the integrand is
    smooth, :math:`V(f') \le 2\max|f''|(b-a)`) plus rounding of the value."""
    p = dist.Normal(torch.tensor(0.0, dtype=dtype), torch.tensor(1.0, dtype=dtype))
    q = dist.Normal(torch.tensor(gap, dtype=dtype), torch.tensor(1.0, dtype=dtype))
    got = Caller(impl).scalar("kl_divergence_1", p, q, -10.0, 10.0, 2000)
    want = gap * gap / 2
    tol = trapezoid_bound(oracle._integrand(p, q), -10.0, 10.0, 2000) + rounding_bound(dtype, want * 4, 2000)
    check_close(
        "kl_divergence_1 is not finite and right for far-apart Normals",
        got,
        want,
        tol,
        call=text("kl_divergence_1", p, q, -10.0, 10.0, 2000),
        why="trapezoid bound + rounding",
    )


@prop(functions=("kl_divergence_1",), category="robustness", weight=1.0, examples=10)
@given(pair=s.distribution_pairs(families=("real",), dtype=torch.float64))
def test_kl1_float64_in_float64_out(impl, pair):
    r"""float64 distributions give a float64 KL accurate to float64 rounding plus the quadrature bound
    (the lecture's float32 ``linspace`` grid loses this)."""
    p, q = pair
    a, b = oracle.window(p, 1e-12)
    c = Caller(impl)
    raw = c.raw("kl_divergence_1", p, q, a, b, 2000)
    got = c.scalar("kl_divergence_1", p, q, a, b, 2000)
    f = oracle._integrand(p, q)
    tol = trapezoid_bound(f, a, b, 2000) + abs(oracle.kl_exact(p, q) - oracle.kl_window(p, q, a, b))
    tol += 1e3 * 2.2e-16 * (1 + abs(got)) * math.log2(2000)
    check(
        isinstance(raw, torch.Tensor) and raw.dtype == torch.float64,
        "kl_divergence_1 does not return float64",
        call=text("kl_divergence_1", p, q, a, b, 2000),
        expected="torch.float64",
        got=str(getattr(raw, "dtype", type(raw).__name__)),
    )
    check_close(
        "kl_divergence_1 is not float64-accurate",
        got,
        oracle.kl_exact(p, q),
        tol,
        call=text("kl_divergence_1", p, q, a, b, 2000),
        why="trapezoid bound + float64 rounding",
    )


# --- Monte Carlo --------------------------------------------------------------------------------------


def _mc_pair() -> st.SearchStrategy[tuple[dist.Distribution, dist.Distribution]]:
    return s.distribution_pairs(families=("real", "positive"))


def _mc_domain(p: dist.Distribution, q: dist.Distribution) -> bool:
    r"""True when :math:`\log q > -80` on the interval holding all but 2e-16 of p: no sample of a run
    (at most 1.6e4 per call) leaves it except with probability < 4e-12, and on it the lecture's float32
    ``exp(log q)`` does not underflow (it does below -103)."""
    a, b = oracle.window(p, 1e-16)
    x = torch.linspace(a, b, 2001, dtype=torch.float64)
    return float(oracle.as_float64(q).log_prob(x).min()) > -80


@prop(functions=("kl_divergence_2",), weight=3.0, examples=12)
@given(pair=_mc_pair(), seed=s.seeds())
def test_kl2_matches_exact_within_clt_bound(impl, pair, seed):
    r"""One call with N = 16000 samples is within :math:`z\,\sigma/\sqrt N` of KL(p || q), where
    :math:`\sigma^2 = \mathrm{Var}_p[\log p - \log q]` (quadrature) and :math:`z` = :data:`Z` gives
    false-alarm probability :data:`ALPHA` per check, plus float32 rounding of the mean."""
    p, q = pair
    assume(_mc_domain(p, q))
    kl, sd = oracle.log_ratio_moments(p, q)
    n = 16000
    got = Caller(impl).scalar("kl_divergence_2", p, q, n, seed=seed)
    tol = clt_bound(sd, n) + rounding_bound(F32, abs(kl) + sd, n)
    check_close(
        "kl_divergence_2 is not an estimate of KL(p || q)",
        got,
        kl,
        tol,
        call=text("kl_divergence_2", p, q, n) + f" with torch.manual_seed({seed})",
        why=f"CLT: z={Z:.2f} x sd {sd:.3g} / sqrt(N)",
    )


@prop(functions=("kl_divergence_2",), weight=2.0, examples=4, shrink=False)
@given(pair=_mc_pair(), seed=s.seeds())
def test_kl2_unbiased_over_seeds(impl, pair, seed):
    r"""The mean of K = 200 estimates with N = 20 samples each is within :math:`z\,\sigma/\sqrt{KN}` of
    KL(p || q): the estimator is unbiased even for small N (dividing by N - 1, or dropping a sample,
    shows here). False-alarm probability :data:`ALPHA` per check."""
    p, q = pair
    assume(_mc_domain(p, q))
    kl, sd = oracle.log_ratio_moments(p, q)
    k, n = 200, 20
    c = Caller(impl)
    values = [c.scalar("kl_divergence_2", p, q, n, seed=seed + i) for i in range(k)]
    mean = sum(values) / k
    check_close(
        "kl_divergence_2 is biased",
        mean,
        kl,
        clt_bound(sd, k * n) + rounding_bound(F32, abs(kl) + sd, n),
        call=text("kl_divergence_2", p, q, n) + f" with seeds {seed}..{seed + k - 1}, averaged",
        why=f"CLT over {k * n} draws",
    )


@prop(functions=("kl_divergence_2",), weight=2.0, examples=4, shrink=False)
@given(pair=_mc_pair(), seed=s.seeds())
def test_kl2_error_shrinks_as_inverse_sqrt_n(impl, pair, seed):
    r"""With K = 40 seeds at N and at 16N, the variance of the estimates falls 16-fold: the error shrinks
    as :math:`N^{-1/2}`. The ratio :math:`16\,s_{16N}^2/s_N^2` of sample variances of iid averages follows
    :math:`F(K-1, K-1)` (normal approximation of each average) and must lie within its
    two-sided :data:`ALPHA` quantiles; an estimator that ignores N, or draws the same samples for every
    seed, fails."""
    p, q = pair
    assume(_mc_domain(p, q))
    _, sd = oracle.log_ratio_moments(p, q)
    assume(sd > 1e-3)  # p = q in law: every estimate is exactly 0 and there is no variance to compare
    k, n = 40, 50
    c = Caller(impl)
    small = torch.tensor([c.scalar("kl_divergence_2", p, q, n, seed=seed + i) for i in range(k)], dtype=torch.float64)
    large = torch.tensor(
        [c.scalar("kl_divergence_2", p, q, 16 * n, seed=seed + k + i) for i in range(k)], dtype=torch.float64
    )
    v_small, v_large = float(small.var()), float(large.var())
    lo, hi = variance_ratio_bounds(k, k)
    ratio = 16 * v_large / v_small if v_small > 0 else math.inf
    call = text("kl_divergence_2", p, q, n) + f" and N={16 * n}, {k} seeds each from {seed}"
    check_at_least(
        "kl_divergence_2 does not vary with the seed",
        v_small,
        1e-300,
        call=call,
        why="a Monte Carlo estimate must change with the random draw",
    )
    check(
        lo <= ratio <= hi,
        "kl_divergence_2's error does not shrink as 1/sqrt(N)",
        call=call,
        expected=f"16 Var(N={16 * n}) / Var(N={n}) in [{lo:.3g}, {hi:.3g}] (F({k - 1}, {k - 1}) quantiles)",
        got=f"{ratio:.4g}",
    )


@prop(functions=("kl_divergence_2",), category="robustness", weight=1.0, examples=4)
@given(gap=s.floats32(15, 40), seed=s.seeds())
def test_kl2_finite_for_far_apart_normals(impl, gap, seed):
    r"""KL(N(0,1) || N(gap,1)) = gap^2/2 by Monte Carlo with N = 2000: finite (the lecture's
    ``log(px / qx)`` is inf once q underflows) and within the CLT bound (:math:`\sigma = \text{gap}`)."""
    p, q = dist.Normal(0.0, 1.0), dist.Normal(gap, 1.0)
    n = 2000
    got = Caller(impl).scalar("kl_divergence_2", p, q, n, seed=seed)
    want = gap * gap / 2
    check_close(
        "kl_divergence_2 is not finite and right for far-apart Normals",
        got,
        want,
        clt_bound(gap, n) + rounding_bound(F32, want * 4, n),
        call=text("kl_divergence_2", p, q, n) + f" with torch.manual_seed({seed})",
        why="CLT + rounding",
    )
