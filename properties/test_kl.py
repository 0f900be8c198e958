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
from ._assumptions import (
    MC_RATE,
    PLAIN_MC,
    SECOND_BATCH,
    estimator_note,
    exact_estimates_note,
    kl1_quadrature,
    random_note,
    rate_note,
)
from ._checks import Caller, check, check_at_least, check_close, text
from ._memo import oracle_cache
from ._registry import prop
from ._tolerances import Z, clt_bound, rounding_bound, trapezoid_bound, variance_ratio_bounds

F32 = torch.float32
N_QUAD = 500


@oracle_cache
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
    c = Caller(impl)
    got = c.scalar("kl_divergence_1", p, q, a, b, N_QUAD)
    exact = oracle.kl_exact(p, q)
    check_close(
        "kl_divergence_1 is not KL(p || q)",
        got,
        exact,
        tol,
        call=text("kl_divergence_1", p, q, a, b, N_QUAD),
        why=why,
        note=lambda: random_note(
            lambda seed: c.scalar("kl_divergence_1", p, q, a, b, N_QUAD, seed=seed),
            "kl_divergence_1",
            exact=exact,
            tol=tol,
        ),
        assumes=kl1_quadrature(),
    )


@prop(functions=("kl_divergence_1",), weight=2.0, examples=25)
@given(pair=s.distribution_pairs())
def test_kl1_nonnegative(impl, pair):
    r"""Gibbs' inequality: KL(p || q) >= 0, up to the quadrature tolerance."""
    p, q = pair
    a, b, tol, why = _quadrature_case(p, q)
    got = Caller(impl).scalar("kl_divergence_1", p, q, a, b, N_QUAD)
    check_at_least(
        "kl_divergence_1 is negative",
        got,
        -tol,
        call=text("kl_divergence_1", p, q, a, b, N_QUAD),
        why=why,
        assumes=kl1_quadrature(),
    )


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
        note=lambda: random_note(
            lambda seed: c.scalar("kl_divergence", p, q, a, b, N_QUAD, seed=seed), "kl_divergence"
        ),
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
        assumes=kl1_quadrature(),
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
        assumes=kl1_quadrature("the distributions' dtype"),
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
        assumes=kl1_quadrature("float64"),
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


def _estimates(c: Caller, p: dist.Distribution, q: dist.Distribution, n: int, seeds: range) -> torch.Tensor:
    return torch.tensor([c.scalar("kl_divergence_2", p, q, n, seed=i) for i in seeds], dtype=torch.float64)


@prop(functions=("kl_divergence_2",), weight=3.0, examples=12)
@given(pair=_mc_pair(), seed=s.seeds())
def test_kl2_matches_exact_within_clt_bound(impl, pair, seed):
    r"""One call with N = 16000 samples is within :math:`z\,\sigma/\sqrt N` of KL(p || q), where
    :math:`\sigma^2 = \mathrm{Var}_p[\log p - \log q]` (quadrature) and :math:`z` = :data:`Z` gives
    false-alarm probability :data:`ALPHA` per check, plus float32 rounding of the mean.

    The bound is the lecture's plain estimator's: an estimator with a smaller variance passes, one with a
    larger variance can fail. On failure, 200 further estimates at N/16 and 200 at N/256 (16 times cheaper
    in all than at N) tell another unbiased estimator (centred on KL within its own spread, its error
    shrinking with N) from a mistake
    (:func:`properties._assumptions.estimator_note`); that diagnosis never changes the verdict."""
    p, q = pair
    assume(_mc_domain(p, q))
    kl, sd = oracle.log_ratio_moments(p, q)
    n = 16000
    c = Caller(impl)
    got = c.scalar("kl_divergence_2", p, q, n, seed=seed)
    rounding = rounding_bound(F32, abs(kl) + sd, n)
    tol = clt_bound(sd, n) + rounding
    check_close(
        "kl_divergence_2 is not an estimate of KL(p || q)",
        got,
        kl,
        tol,
        call=text("kl_divergence_2", p, q, n) + f" with torch.manual_seed({seed})",
        why=f"CLT: z={Z:.2f} x sd {sd:.3g} / sqrt(N)",
        note=lambda: estimator_note(
            lambda: _estimates(c, p, q, n // 16, range(seed + 1, seed + 1 + SECOND_BATCH)),
            kl,
            sd,
            n // 16,
            rounding_bound(F32, abs(kl) + sd, n // 16),
            other=(
                n // 256,
                lambda: _estimates(c, p, q, n // 256, range(seed + 1 + SECOND_BATCH, seed + 1 + 2 * SECOND_BATCH)),
            ),
        ),
        assumes=PLAIN_MC,
    )


@prop(functions=("kl_divergence_2",), weight=2.0, examples=4, shrink=False)
@given(pair=_mc_pair(), seed=s.seeds())
def test_kl2_unbiased_over_seeds(impl, pair, seed):
    r"""The mean of K = 200 estimates with N = 20 samples each is within :math:`z\,\sigma/\sqrt{KN}` of
    KL(p || q): the estimator is unbiased even for small N (dividing by N - 1, or dropping a sample,
    shows here). False-alarm probability :data:`ALPHA` per check.

    The bound uses the plain estimator's variance; on failure the 200 estimates' own spread (and 200 more at
    16N) tell another unbiased estimator with a larger variance from a bias
    (:func:`properties._assumptions.estimator_note`), without changing the verdict."""
    p, q = pair
    assume(_mc_domain(p, q))
    kl, sd = oracle.log_ratio_moments(p, q)
    k, n = 200, 20
    c = Caller(impl)
    values = _estimates(c, p, q, n, range(seed, seed + k))
    mean = float(values.mean())
    rounding = rounding_bound(F32, abs(kl) + sd, n)
    check_close(
        "kl_divergence_2 is biased",
        mean,
        kl,
        clt_bound(sd, k * n) + rounding,
        call=text("kl_divergence_2", p, q, n) + f" with seeds {seed}..{seed + k - 1}, averaged",
        why=f"CLT over {k * n} draws",
        note=lambda: estimator_note(
            values,
            kl,
            sd,
            n,
            rounding_bound(F32, abs(kl) + sd, 16 * n),
            other=(16 * n, lambda: _estimates(c, p, q, 16 * n, range(seed + k, seed + k + SECOND_BATCH))),
        ),
        assumes=PLAIN_MC,
    )


def _rounding_magnitude(p: dist.Distribution, q: dist.Distribution) -> float:
    r""":math:`\mathbb E_p[|\log p| + |\log q| + |x\,\partial_x\log(p/q)| + 1]`: what float32 rounds in one
    term :math:`\log p(x) - \log q(x)` (the density values and the sample point itself)."""
    p64, q64 = oracle.as_float64(p), oracle.as_float64(q)

    def sens(u: torch.Tensor) -> torch.Tensor:
        u = u.clone().requires_grad_(True)
        lp, lq = p64.log_prob(u), q64.log_prob(u)
        (g,) = torch.autograd.grad((lp - lq).sum(), u)
        lp, lq = lp.detach(), lq.detach()
        return torch.exp(lp) * (lp.abs() + lq.abs() + (u.detach() * g).abs() + 1)

    return oracle.quad(sens, *oracle.window(p, 1e-12))


@prop(functions=("kl_divergence_2",), weight=2.0, examples=4, shrink=False)
@given(pair=_mc_pair(), seed=s.seeds())
def test_kl2_error_shrinks_as_inverse_sqrt_n(impl, pair, seed):
    r"""With K = 40 seeds at N and at 16N, the variance of the estimates falls at least 16-fold: the error
    shrinks as :math:`N^{-1/2}` (or faster). The ratio :math:`16\,s_{16N}^2/s_N^2` of sample variances of
    iid averages follows :math:`F(K-1, K-1)` (normal approximation of each average) and must stay below its
    upper :data:`ALPHA`/2 quantile; an estimator that ignores N (ratio 16), or sums instead of averaging
    (256), fails.

    A ratio below the lower :data:`ALPHA`/2 quantile means an error shrinking faster than
    :math:`N^{-1/2}` (a variance-reduced estimator: stratified or quasi-random samples); it passes when the
    estimates are centred on KL: the mean of both batches within :math:`z\,\sigma\sqrt{(1/N +
    1/16N)/K}/2` (the plain estimator's CLT bound, which a smaller variance meets more easily). The plain
    estimator reaches that branch with probability ALPHA/2, so the property's false-alarm probability stays
    at most ALPHA.

    Estimates that do not vary with the seed beyond float32 rounding fail ("does not vary with the seed":
    one draw reused). This branch needs a spread at most the rounding allowance, which is below a tenth of
    the plain estimator's :math:`\sigma/\sqrt N` where it applies, so the plain estimator reaches it with
    probability below :math:`P(\chi^2_{39} \le 0.39) = 2\cdot 10^{-32}`. When every estimate equals KL to
    rounding (antithetic pairs are exact when :math:`\log p/q` is linear in x), the message says so."""
    p, q = pair
    assume(_mc_domain(p, q))
    kl, sd = oracle.log_ratio_moments(p, q)
    assume(sd > 1e-3)  # p = q in law: every estimate is exactly 0 and there is no variance to compare
    k, n = 40, 50
    c = Caller(impl)
    small = _estimates(c, p, q, n, range(seed, seed + k))
    large = _estimates(c, p, q, 16 * n, range(seed + k, seed + 2 * k))
    v_small, v_large = float(small.var()), float(large.var())
    lo, hi = variance_ratio_bounds(k, k)
    call = text("kl_divergence_2", p, q, n) + f" and N={16 * n}, {k} seeds each from {seed}"
    spread_small, spread_large, plain = math.sqrt(v_small), math.sqrt(v_large), sd / math.sqrt(n)
    if spread_small <= 0.1 * plain:  # far below the plain estimator's spread: no more than float32 rounding?
        magnitude = _rounding_magnitude(p, q) + abs(kl) + sd
        r_small, r_large = rounding_bound(F32, magnitude, n), rounding_bound(F32, magnitude, 16 * n)
        if spread_small <= r_small <= 0.1 * plain and spread_large <= r_large:
            check(
                False,
                "kl_divergence_2 does not vary with the seed",
                call=call,
                expected=f"estimates that change with the random draw (sd about {plain:.3g} at N={n})",
                got=f"sd {spread_small:.3g} over {k} seeds at N={n}, {spread_large:.3g} at N={16 * n}",
                note=lambda: exact_estimates_note(small, large, kl, r_small, r_large),
                assumes="a Monte Carlo estimate: a new random draw for each seed, so the estimates vary with it",
            )
    check_at_least(
        "kl_divergence_2 does not vary with the seed",
        v_small,
        1e-300,
        call=call,
        why="a Monte Carlo estimate must change with the random draw",
    )
    ratio = 16 * v_large / v_small
    check(
        ratio <= hi,
        "kl_divergence_2's error does not shrink as 1/sqrt(N)",
        call=call,
        expected=f"16 Var(N={16 * n}) / Var(N={n}) <= {hi:.3g} (upper F({k - 1}, {k - 1}) quantile; 1 on average)",
        got=f"{ratio:.4g}",
        note=lambda: rate_note(
            small,
            large,
            n,
            16 * n,
            kl,
            rounding_bound(F32, abs(kl) + sd, 16 * n),
            more=(
                lambda: _estimates(c, p, q, n, range(seed + 2 * k, seed + 2 * k + SECOND_BATCH)),
                lambda: _estimates(c, p, q, 16 * n, range(seed + 2 * k + SECOND_BATCH, seed + 2 * (k + SECOND_BATCH))),
            ),
        ),
        assumes=MC_RATE,
    )
    if ratio < lo:  # shrinks faster than N^(-1/2): right if the estimates are centred on KL
        pooled = float(small.mean() + large.mean()) / 2
        check_close(
            "kl_divergence_2's error shrinks faster than 1/sqrt(N), but not around KL(p || q)",
            pooled,
            kl,
            Z * sd * math.sqrt((1 / n + 1 / (16 * n)) / k) / 2 + rounding_bound(F32, abs(kl) + sd, n),
            call=call,
            why=f"16 Var(N={16 * n}) / Var(N={n}) = {ratio:.3g} < {lo:.3g}; the plain estimator's CLT bound",
            expected_label="mean of both batches",
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
        assumes=PLAIN_MC,
    )
