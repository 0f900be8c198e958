r"""What a property assumes about *how* a function computes, and the diagnoses that tell a legitimate
alternative from a mistake where the suite can.

A tolerance derived from the lecture's computation (its plain Monte Carlo estimator, its integration
windows, the trapezoid rule on N points, float32 rounding) is an assumption about the method: a student
who used another valid method can fail a check that the lecture's code passes. Every check whose verdict
rests on such an assumption names it (``assumes=`` of the checks in :mod:`properties._checks`, one line
of the failure message); the texts are here, written for a student. docs/assumptions.md has the table.

Where the data can tell a legitimate alternative from a mistake, the failure's ``note`` says so and ends
with :data:`HINT`; a note never contains :data:`HINT` otherwise. The diagnoses never change a verdict:
they run only when a check has already failed, and only in Hypothesis' final replay of the minimal
failing example (:func:`final_run`), so that shrinking does not pay for their extra calls. Their own
error probabilities (stated at each) use the suite's per-check :data:`~properties._tolerances.ALPHA`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from scipy import stats

from ._tolerances import ALPHA

__all__ = [
    "HINT",
    "final_run",
    "PLAIN_MC",
    "MC_RATE",
    "kl1_quadrature",
    "INTEGRATE_AFFINE",
    "INTEGRATE_ORDER",
    "window_quadrature",
    "EXACT_JACOBIAN",
    "exact_derivative",
    "estimator_note",
    "exact_estimates_note",
    "spread_facts",
    "rate_note",
    "random_note",
    "near_miss_note",
]

#: The words that mark a note saying "this may be a legitimate alternative".
HINT = "the instructor may accept it"

# --- the assumptions, for a student ------------------------------------------------------------------

PLAIN_MC = (
    "the lecture's plain Monte Carlo estimator (the mean of log p(x) - log q(x) over N samples x ~ p), "
    "whose variance is Var_p[log p - log q]/N; the tolerance is its CLT bound, so another unbiased estimator "
    "with a larger variance (k3, a control variate, importance sampling) can fail this check even if correct "
    "- the instructor can accept it"
)

MC_RATE = (
    "estimates whose variance is proportional to 1/N and which are nearly normal (an F test of sample "
    "variances): any mean of N independent terms of finite variance (the plain estimator, k3, antithetic "
    "pairs) has that rate, but the F test is sensitive to heavy tails, so an estimator with rare huge terms "
    "(k3 where q/p is large) can fail it even if correct - the instructor can accept it"
)


def kl1_quadrature(precision: str = "float32 or better") -> str:
    """Quadrature of p log(p/q) over the window given, at least as accurate as the trapezoid rule."""
    return (
        "quadrature of p log(p/q) over the window [a, b] given, by a rule on the N points asked for at least as "
        f"accurate as the trapezoid rule (error <= h^2/8 V(f')), in {precision}: Simpson, Gauss and adaptive "
        "rules pass; a less accurate rule, or a Monte Carlo estimate, does not"
    )


INTEGRATE_AFFINE = (
    "a rule that integrates straight lines exactly (the trapezoid, midpoint, Simpson and Gauss rules do), "
    "in float32 or better: the tolerance is float32 rounding"
)

INTEGRATE_ORDER = (
    "a rule on the N points given whose error is at most the trapezoid rule's (b-a) h^2/12 max|f''|: the "
    "trapezoid, midpoint, Simpson, Gauss and adaptive rules meet it; a first-order rule (a Riemann sum) or a "
    "Monte Carlo estimate does not"
)


def window_quadrature(window: str, N: int = 500) -> str:
    """The lecture's computation of a KL-type integral: quadrature over ``window`` (the contract's window:
    the lecture's or a wider one), a rule at least as accurate as the trapezoid rule on ``N`` points."""
    return (
        f"the lecture's computation: quadrature over {window} or a wider window (part of the contract), by a "
        f"rule at least as accurate as the trapezoid rule on {N} points, in float32 or better; a Monte Carlo "
        "estimate misses this tolerance even if unbiased - the instructor can accept it"
    )


EXACT_JACOBIAN = (
    "the change of variables log p(T(y)) + log|dT/dy| with an exact log-Jacobian (the transform's "
    "log_abs_det_jacobian, or autograd) in float32 or better: the tolerance is float32 rounding, so a "
    "finite-difference Jacobian fails even if close - the instructor can accept it"
)


def exact_derivative(what: str) -> str:
    """An exact derivative (autograd or the closed form) judged at float32 rounding."""
    return (
        f"{what} computed exactly (by autograd or a closed form) in float32 or better: "
        "the tolerance is float32 rounding, so a finite-difference approximation fails even if close - the "
        "instructor can accept it"
    )


# --- when to diagnose ----------------------------------------------------------------------------------


def final_run() -> bool:
    """True outside Hypothesis and in its final replay of the minimal failing example: the one run whose
    message is reported. Diagnoses that call the implementation again run only then."""
    try:
        from hypothesis.control import current_build_context

        return bool(getattr(current_build_context(), "is_final", True))
    except Exception:  # no Hypothesis context: a plain test, or a Hypothesis without build contexts
        return True


# --- Monte Carlo estimators ----------------------------------------------------------------------------


def _t(k: int) -> float:
    """Two-sided Student t quantile for ALPHA with k - 1 degrees of freedom."""
    return float(stats.t.isf(ALPHA / 2, k - 1))


def _mean_se(values: torch.Tensor) -> tuple[float, float, float]:
    k = values.numel()
    return float(values.mean()), float(values.std()) / math.sqrt(k), float(values.var())


def _centred(values: torch.Tensor, kl: float, rounding: float) -> bool:
    r""":math:`|\bar v - \mathrm{KL}| \le t_{K-1}\,s/\sqrt K` + ``rounding``: a t test on the estimates' own
    spread, which an unbiased estimator with near-normal estimates fails with probability ALPHA."""
    m, se, _ = _mean_se(values)
    return se > 0 and abs(m - kl) <= _t(values.numel()) * se + rounding


def _shrinks(at_small_n: torch.Tensor, at_large_n: torch.Tensor, kl: float) -> tuple[bool, float]:
    r"""(True when the errors :math:`|v - \mathrm{KL}|` at the larger N are stochastically smaller than at
    the smaller N, the one-sided Mann--Whitney p-value). Rank-based, so heavy tails do not blur it; for an
    estimator that ignores N the two samples are exchangeable and it says True with probability ALPHA
    (normal approximation of U). An estimator whose error shrinks as :math:`1/\sqrt N` with near-normal
    estimates has :math:`P(|e_{16N}| < |e_N|) = \tfrac2\pi\arctan 4 = 0.84`: a z of about 12 with two
    batches of :data:`SECOND_BATCH`, against the 6.1 needed."""
    p = float(
        stats.mannwhitneyu(
            (at_large_n - kl).abs().numpy(), (at_small_n - kl).abs().numpy(), alternative="less", method="asymptotic"
        ).pvalue
    )
    return p <= ALPHA, p


def _estimates(values: torch.Tensor | Callable[[], torch.Tensor]) -> torch.Tensor | None:
    if not callable(values):
        return values
    try:
        return values()
    except AssertionError:  # the implementation failed on an extra call: nothing more to say
        return None


#: Estimates of a second batch drawn by a diagnosis (see :func:`_shrinks` for the power this gives).
SECOND_BATCH = 200


def estimator_note(
    values: torch.Tensor | Callable[[], torch.Tensor],
    kl: float,
    sd: float,
    n: int,
    rounding: float,
    other: tuple[int, Callable[[], torch.Tensor]] | None = None,
) -> str:
    r"""What K independent estimates ``values`` (sample size ``n`` each, or a function making them) say
    about an estimator that failed a check built on the plain estimator's variance :math:`\sigma^2/n`
    (``sd`` = :math:`\sigma`); ``rounding`` is the float32 allowance of a mean at the larger sample size.
    ``other = (n2, make)`` makes :data:`SECOND_BATCH` estimates at sample size n2, 16 times larger or
    smaller.

    The note says "another unbiased estimator? :data:`HINT`" only when (1) the estimates are centred on KL
    within their own spread (:func:`_centred`, at n and at n2), (2) they vary more than the plain
    estimator's, :math:`s^2 > \frac{\sigma^2}{n}\chi^2_{K-1}(1-\alpha)/(K-1)` (the plain estimator is
    flagged with probability ALPHA), and (3) their error shrinks with N (:func:`_shrinks`: an estimator that
    ignores N passes with probability ALPHA; a sum instead of a mean is neither centred nor shrinking). A
    legitimate alternative with near-normal estimates misses the hint with probability at most 3 ALPHA plus
    the rank test's miss (its z is about 12 against the 6.1 needed: a miss of order 1e-8). Empty outside the
    final run."""
    if not final_run():
        return ""
    got = _estimates(values)
    if got is None:
        return ""
    k = got.numel()
    m, se, var = _mean_se(got)
    if se == 0:
        return f"all {k} estimates at N={n} are {m:.6g}: they do not vary with the seed"
    head = f"{k} estimates at N={n} average {m:.6g} ± {se:.2g} (their standard error)"
    if not _centred(got, kl, rounding):
        off = abs(m - kl) / se
        return f"{head}: {off:.3g} standard errors from KL(p || q) = {kl:.6g}, a bias rather than noise"
    ratio = var / (sd * sd / n) if sd > 0 else math.inf
    if ratio <= float(stats.chi2.isf(ALPHA, k - 1)) / (k - 1):
        return f"{head}, within their own spread of KL(p || q) = {kl:.6g}, with about the plain estimator's variance"
    head += f", within their own spread of KL(p || q) = {kl:.6g}, but vary {ratio:.3g}x as much as the plain estimator"
    if other is None:
        return head
    n2, make = other
    more = _estimates(make)
    if more is None:
        return head
    m2, se2, _ = _mean_se(more)
    if not _centred(more, kl, rounding):
        return f"{head}; at N={n2} they average {m2:.6g} ± {se2:.2g}, off KL: not an unbiased estimator"
    small, large = (got, more) if n2 > n else (more, got)
    shrinks, pvalue = _shrinks(small, large, kl)
    if not shrinks:
        return (
            f"{head}; their errors are not clearly smaller at N={max(n, n2)} than at N={min(n, n2)} (rank test "
            f"p = {pvalue:.2g}, needs {ALPHA:.0e}): the error does not shrink as N grows"
        )
    return (
        f"{head}, and at N={n2} too, with an error shrinking as N grows: an unbiased estimator with a larger "
        f"variance than the lecture's (k3? a control variate? importance sampling?) - {HINT}"
    )


def rate_note(
    small: torch.Tensor,
    large: torch.Tensor,
    n: int,
    big_n: int,
    kl: float,
    rounding: float,
    more: tuple[Callable[[], torch.Tensor], Callable[[], torch.Tensor]],
) -> str:
    r"""For estimates whose sample variance did not fall as :math:`1/N` (an F test, which assumes nearly
    normal estimates): their interquartile ranges at n and big_n (robust to a few far-off estimates), and,
    in the final run, :data:`SECOND_BATCH` further estimates at each N (``more``). When those are centred on
    KL at both N (:func:`_centred`) and their errors shrink (:func:`_shrinks`: an estimator that ignores N
    passes with probability ALPHA, one that sums grows instead), the F test failed on heavy tails, and the
    note says so with :data:`HINT`."""
    facts = spread_facts(small, large, n, big_n)
    if not final_run():
        return facts
    again_small, again_large = _estimates(more[0]), _estimates(more[1])
    if again_small is None or again_large is None:
        return facts
    if not (_centred(again_small, kl, rounding) and _centred(again_large, kl, rounding)):
        return f"{facts}; {SECOND_BATCH} more estimates at each N are not centred on KL(p || q) = {kl:.6g}"
    shrinks, pvalue = _shrinks(again_small, again_large, kl)
    if not shrinks:
        return f"{facts}; {SECOND_BATCH} more at each N: errors not clearly smaller at N={big_n} (p = {pvalue:.2g})"
    return (
        f"{facts}; {SECOND_BATCH} more estimates at each N are centred on KL(p || q) = {kl:.6g} and their errors "
        f"are smaller at N={big_n} (rank test p = {pvalue:.2g}): the variance test failed on heavy tails (rare "
        f"far-off estimates: k3 where q/p is large?), not on the rate - {HINT}"
    )


def exact_estimates_note(
    small: torch.Tensor, large: torch.Tensor, kl: float, tol_small: float, tol_large: float
) -> str:
    """For estimates that do not vary with the seed beyond float32 rounding: when every one equals KL to
    rounding, the estimator has no Monte Carlo error here. A mistake that reuses one draw lands within
    rounding of KL only by a coincidence of probability about (rounding / (sd/sqrt(N)))^2 over the two N
    (below 1e-10 where this applies: the rounding allowance is then below a tenth of sd/sqrt(N), and
    typically 1e-5 of it)."""
    exact = bool(((small - kl).abs() <= tol_small).all() and ((large - kl).abs() <= tol_large).all())
    if not exact:
        return ""
    return (
        f"every estimate equals KL(p || q) = {kl:.6g} to float32 rounding: no Monte Carlo error here. Antithetic "
        "pairs (x and its reflection) make the estimate exact when log p - log q is linear in x (equal-scale "
        "Normals), a variance-reduced estimator; a kl_divergence_2 that is not Monte Carlo does the same. "
        f"If it is the former, {HINT}"
    )


def spread_facts(small: torch.Tensor, large: torch.Tensor, n: int, big_n: int) -> str:
    """Interquartile ranges of the estimates at n and big_n: robust to a few far-off estimates, so they show
    whether the bulk shrinks (4-fold for 16 times the samples) when heavy tails inflate the variance."""
    q = torch.tensor([0.25, 0.75], dtype=torch.float64)

    def iqr(v: torch.Tensor) -> float:
        lo, hi = torch.quantile(v, q).tolist()
        return float(hi - lo)

    a, b = iqr(small), iqr(large)
    if b > 0 and a >= b:
        change = f"{a / b:.3g}-fold smaller"
    elif b > 0:
        change = f"{b / a:.3g}-fold larger" if a > 0 else "larger"
    else:
        change = "zero at the larger N"
    return (
        f"interquartile range of the estimates {a:.3g} at N={n}, {b:.3g} at N={big_n} ({change}; 4-fold smaller "
        "for an error shrinking as 1/sqrt(N))"
    )


# --- deterministic quantities computed by a random method ----------------------------------------------

#: Calls a random-method diagnosis makes (seeds 0..K-1): the t quantile for K = 64 is 7.3.
RANDOM_CALLS = 64


def random_note(
    call: Callable[[int], float],
    label: str,
    *,
    exact: float | None = None,
    tol: float = 0.0,
    alternative: str = "",
    calls: int = RANDOM_CALLS,
) -> str:
    r"""Call ``call(seed)`` for seeds 0 and 1, and when they differ for ``calls`` seeds in all (final run
    only). A function whose value is the same for both seeds gets no note after those two calls (certain: a
    deterministic mistake never gets a hint). One that varies is a random (Monte Carlo) estimate; with
    ``exact`` and ``alternative``, when its mean is within :math:`t_{K-1}\,s/\sqrt K` + ``tol`` of
    ``exact`` (an unbiased estimate with near-normal values fails this with probability ALPHA), the note
    suggests ``alternative`` and ends with :data:`HINT`."""
    if not final_run():
        return ""
    try:
        first = [call(0), call(1)]
        if first[0] == first[1]:
            return ""
        values = torch.tensor(first + [call(seed) for seed in range(2, calls)], dtype=torch.float64)
    except AssertionError:  # a failing or invalid extra call: nothing to say
        return ""
    m, se, _ = _mean_se(values)
    head = f"{label} returns a different value for each seed (sd {float(values.std()):.3g} over {calls} seeds)"
    if exact is None:
        return f"{head}: a Monte Carlo estimate, whose noise this property's quadrature tolerance does not allow"
    off = abs(m - exact)
    if off > _t(calls) * se + tol:
        return f"{head}; their mean {m:.6g} is off the exact {exact:.6g} by {off:.3g}, more than the noise explains"
    if not alternative:
        return f"{head}; their mean {m:.6g} is within their spread of the exact {exact:.6g}: a Monte Carlo estimate"
    return f"{head}; their mean {m:.6g} is within their spread of the exact {exact:.6g}: {alternative}? {HINT}"


# --- exact values missed by a little ---------------------------------------------------------------------

#: Relative agreement below which a miss looks like an approximation rather than a wrong formula: a
#: float32 central difference is off by about 1e-4 relative; the corpus' wrong formulas by O(1).
NEAR = 1e-3


def near_miss_note(got: torch.Tensor | float, want: torch.Tensor | float, what: str) -> str:
    """A note when every value agrees with the exact one to :data:`NEAR` relative (but missed the rounding
    tolerance): an approximation such as a finite difference. Deterministic: no probability involved."""
    g = torch.as_tensor(got, dtype=torch.float64).reshape(-1)
    w = torch.as_tensor(want, dtype=torch.float64).reshape(-1)
    if not bool(torch.isfinite(g).all()):
        return ""
    rel = float(((g - w).abs() / w.abs().clamp_min(1e-300)).max())
    if rel > NEAR:
        return ""
    return (
        f"{what} agrees with the exact value to {rel:.2g} relative, outside float32 rounding but far closer than "
        f"a wrong formula: an approximation (a finite difference?) - {HINT}"
    )
