r"""Variational inference on the coin model: flips (0, 1, 1, 0, 0), prior U(0, 1), posterior Beta(3, 4),
evidence B(3, 4) = 1/60; on :math:`x = \operatorname{logit}\theta`,
:math:`\log p(y, x) = 3\log\sigma(x) + 4\log\sigma(-x)` and for :math:`q = \mathcal N(\mu,\sigma^2)`

.. math:: \mathrm{KL}(q\,\|\,p(x\mid y)) - (-\mathrm{ELBO}(q)) = \log p(y)

for every :math:`(\mu,\sigma)` (Blei et al., JASA 2017, eq. 13). The properties hold on
:math:`\mu\in[-3,3]`, :math:`\sigma\in[0.1,2]`. Tolerances: the contract's windows are at least the
lecture's (:math:`\mu\pm4\sigma` for DKL_QP and ELBO_loss, :math:`[-4, 4]` for log_evidence), trapezoid
rule on 500 points, float32 (:mod:`properties._windowed`).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.distributions as dist
from hypothesis import given
from hypothesis import strategies as st

from . import _oracles as oracle
from . import strategies as s
from ._assumptions import random_note, window_quadrature
from ._checks import Caller, as_tensor, check, check_at_least, check_at_most, check_close, text
from ._memo import oracle_cache
from ._registry import prop
from ._tolerances import rounding_bound, trapezoid_bound
from ._windowed import windowed_kl

F32, F64 = torch.float32, torch.float64
LOGZ = oracle.LOG_EVIDENCE
EVIDENCE_WINDOW = (-4.0, 4.0)


def _q(mu: float, sigma: float) -> dist.Normal:
    return dist.Normal(torch.tensor(mu, dtype=F64), torch.tensor(sigma, dtype=F64))


def _post(x: torch.Tensor) -> torch.Tensor:
    return oracle.logit_beta_log_prob(x, 3.0, 4.0)


@oracle_cache
def dkl_exact(mu: float, sigma: float) -> tuple[float, float, str]:
    """KL(q || posterior) and its tolerance for the lecture's mu +- 4 sigma window."""
    q = _q(mu, sigma)
    return windowed_kl(q.log_prob, _post, mu - 4 * sigma, mu + 4 * sigma, mu - 12 * sigma, mu + 12 * sigma)


@oracle_cache
def elbo_loss_exact(mu: float, sigma: float) -> tuple[float, float, str]:
    r"""-ELBO = KL(q || posterior) - log Z, with the tolerance of :math:`\int q\log(q/p(y,\cdot))`."""
    q = _q(mu, sigma)
    neg_elbo, tol, why = windowed_kl(
        q.log_prob, oracle.coin_log_joint, mu - 4 * sigma, mu + 4 * sigma, mu - 12 * sigma, mu + 12 * sigma
    )
    return neg_elbo, tol, why


@functools.lru_cache(maxsize=1)
def log_evidence_tolerance() -> tuple[float, str]:
    r"""Tolerance of :math:`\log\int_{-4}^{4} p(y, x)\,dx` by the trapezoid rule (500 points, float32):
    truncation :math:`|\log(Z_{[-4,4]}/Z)|` + relative trapezoid bound + rounding."""
    joint = lambda x: torch.exp(oracle.coin_log_joint(x))  # noqa: E731
    a, b = EVIDENCE_WINDOW
    z = math.exp(LOGZ)
    z_window = oracle.quad(joint, a, b)
    truncation = abs(math.log(z_window / z))
    quad = trapezoid_bound(joint, a, b, 500) / z_window
    sens = oracle.quad(lambda x: joint(x) * (oracle.coin_log_joint(x).abs() + x.abs() * 4 + 1), a, b) / z_window
    rounding = rounding_bound(F32, sens + abs(LOGZ), 500)
    tol = truncation + quad + rounding
    return tol, f"window [-4, 4] drops {truncation:.2g}, trapezoid {quad:.2g}, float32 rounding {rounding:.2g}"


def _X(mu: float, sigma: float) -> list[float]:
    return [mu, sigma]


Q_WINDOW = "q's window mu ± 4 sigma"
#: What the coin-model properties assume about DKL_QP and ELBO_loss, and about log_evidence.
ASSUMES_Q = window_quadrature(Q_WINDOW)
ASSUMES_EVIDENCE = window_quadrature("[-4, 4]")
ASSUMES_ALL = window_quadrature(f"{Q_WINDOW} (DKL_QP, ELBO_loss) and [-4, 4] (log_evidence)")


def _varies(c: Caller, *calls: tuple[str, tuple[object, ...]]) -> str:
    """Notes for the contract functions among ``calls`` (name, args) that return a different value for each
    seed (four seeds each; final run only): a deterministic function gets none."""
    notes = []
    for name, args in calls:
        note = random_note(functools.partial(_seeded, c, name, args), name, calls=4)
        if note:
            notes.append(note)
    return "; ".join(notes)


def _seeded(c: Caller, name: str, args: tuple[object, ...], seed: int) -> float:
    return c.scalar(name, *args, seed=seed)


@prop(functions=("DKL_QP", "ELBO_loss", "log_evidence"), weight=3.0, examples=15)
@given(params=s.variational_params())
def test_kl_minus_elbo_is_log_evidence(impl, params):
    r""":math:`\mathrm{KL}(q\,\|\,p(\cdot\mid y)) - \text{ELBO\_loss}(q) = \log p(y)` for any
    :math:`(\mu,\sigma)`: ``DKL_QP(X) - ELBO_loss(X) == log_evidence()``. Tolerance: the three
    computations' tolerances added."""
    mu, sigma = params
    c = Caller(impl)
    kl = c.scalar("DKL_QP", _X(mu, sigma))
    neg_elbo = c.scalar("ELBO_loss", _X(mu, sigma))
    logz = c.scalar("log_evidence")
    _, t1, _ = dkl_exact(mu, sigma)
    _, t2, _ = elbo_loss_exact(mu, sigma)
    t3, _ = log_evidence_tolerance()
    check_close(
        "DKL_QP(X) - ELBO_loss(X) is not log_evidence()",
        kl - neg_elbo,
        logz,
        t1 + t2 + t3,
        call=f"DKL_QP({_X(mu, sigma)}) - ELBO_loss({_X(mu, sigma)}) vs log_evidence()",
        why="tolerances of the three integrals",
        expected_label="log_evidence()",
        note=lambda: _varies(c, ("DKL_QP", (_X(mu, sigma),)), ("ELBO_loss", (_X(mu, sigma),)), ("log_evidence", ())),
        assumes=ASSUMES_ALL,
    )


@prop(functions=("DKL_QP",), weight=3.0, examples=20)
@given(params=s.variational_params())
def test_dkl_qp_matches_exact(impl, params):
    r"""``DKL_QP((mu, sigma))`` equals :math:`\mathrm{KL}(\mathcal N(\mu,\sigma^2)\,\|\,\mathrm{logit}\,
    \mathrm{Beta}(3, 4))` (float64 quadrature)."""
    mu, sigma = params
    c = Caller(impl)
    got = c.scalar("DKL_QP", _X(mu, sigma))
    exact, tol, why = dkl_exact(mu, sigma)
    check_close(
        "DKL_QP is not KL(q || posterior)",
        got,
        exact,
        tol,
        call=text("DKL_QP", _X(mu, sigma)),
        why=why,
        note=lambda: random_note(
            lambda seed: c.scalar("DKL_QP", _X(mu, sigma), seed=seed),
            "DKL_QP",
            exact=exact,
            tol=tol,
            alternative="an unbiased Monte Carlo estimate of KL(q || posterior)",
        ),
        assumes=ASSUMES_Q,
    )


@prop(functions=("DKL_QP",), weight=1.0, examples=15)
@given(params=s.variational_params())
def test_dkl_qp_nonnegative(impl, params):
    """KL(q || posterior) >= 0 (Gibbs' inequality), up to its tolerance."""
    mu, sigma = params
    c = Caller(impl)
    got = c.scalar("DKL_QP", _X(mu, sigma))
    _, tol, why = dkl_exact(mu, sigma)
    check_at_least(
        "DKL_QP is negative",
        got,
        -tol,
        call=text("DKL_QP", _X(mu, sigma)),
        why=why,
        note=lambda: _varies(c, ("DKL_QP", (_X(mu, sigma),))),
        assumes=ASSUMES_Q,
    )


@prop(functions=("ELBO_loss",), weight=3.0, examples=20)
@given(params=s.variational_params())
def test_elbo_loss_matches_exact(impl, params):
    r"""``ELBO_loss((mu, sigma))`` equals :math:`-\mathbb E_q[\log p(y, x) - \log q(x)]` (float64 quadrature)."""
    mu, sigma = params
    c = Caller(impl)
    got = c.scalar("ELBO_loss", _X(mu, sigma))
    exact, tol, why = elbo_loss_exact(mu, sigma)
    check_close(
        "ELBO_loss is not the negative ELBO",
        got,
        exact,
        tol,
        call=text("ELBO_loss", _X(mu, sigma)),
        why=why,
        note=lambda: random_note(
            lambda seed: c.scalar("ELBO_loss", _X(mu, sigma), seed=seed),
            "ELBO_loss",
            exact=exact,
            tol=tol,
            alternative="an unbiased Monte Carlo estimate of the negative ELBO",
        ),
        assumes=ASSUMES_Q,
    )


@prop(functions=("ELBO_loss", "log_evidence"), weight=1.0, examples=15)
@given(params=s.variational_params())
def test_elbo_below_log_evidence(impl, params):
    r"""ELBO :math:`\le \log p(y)`: ``-ELBO_loss(X) <= log_evidence()`` up to both tolerances."""
    mu, sigma = params
    c = Caller(impl)
    elbo = -c.scalar("ELBO_loss", _X(mu, sigma))
    logz = c.scalar("log_evidence")
    _, t1, _ = elbo_loss_exact(mu, sigma)
    t2, _ = log_evidence_tolerance()
    check_at_most(
        "the ELBO exceeds the log evidence",
        elbo,
        logz + t1 + t2,
        call=f"-ELBO_loss({_X(mu, sigma)}) vs log_evidence()",
        why="tolerances of both integrals",
        note=lambda: _varies(c, ("ELBO_loss", (_X(mu, sigma),)), ("log_evidence", ())),
        assumes=ASSUMES_ALL,
    )


@prop(functions=("log_evidence",), weight=3.0, examples=1)
def test_log_evidence_is_log_beta_3_4(impl):
    r"""``log_evidence()`` is :math:`\log B(3, 4) = \log(1/60) = -4.0943445622\ldots`"""
    c = Caller(impl)
    got = c.scalar("log_evidence")
    tol, why = log_evidence_tolerance()
    check_close(
        "log_evidence() is not log B(3, 4)",
        got,
        LOGZ,
        tol,
        call="log_evidence()",
        why=why,
        expected_label="log(1/60)",
        note=lambda: random_note(
            lambda seed: c.scalar("log_evidence", seed=seed),
            "log_evidence",
            exact=LOGZ,
            tol=tol,
            alternative="a Monte Carlo estimate of log p(y) centred on it",
        ),
        assumes=ASSUMES_EVIDENCE,
    )


@prop(functions=("likelihood", "flips"), weight=2.0, examples=15)
@given(ps=st.lists(s.unit_interval_points(), min_size=1, max_size=8))
def test_likelihood_is_product_of_bernoullis(impl, ps):
    r"""``likelihood(p)`` is :math:`\prod_i p^{y_i}(1-p)^{1-y_i} = p^2(1-p)^3` elementwise (flips 0,1,1,0,0).
    Tolerance: relative :math:`17\varepsilon_{32}\cdot 5` (five factors)."""
    p = torch.tensor(ps, dtype=F32)
    got = Caller(impl).tensor("likelihood", p, shape=tuple(p.shape))
    p64 = p.double()
    want = p64**2 * (1 - p64) ** 3
    tol = rounding_bound(F32, 5.0) * want + 1e-37
    check(
        bool(((got - want).abs() <= tol).all()),
        "likelihood is not the product of Bernoulli probabilities",
        call=text("likelihood", p),
        expected=f"{want.tolist()}",
        got=f"{got.tolist()}",
    )


@prop(functions=("flips",), weight=1.0, examples=1)
def test_flips_are_the_lecture_data(impl):
    """``flips`` holds the lecture's five flips, 0, 1, 1, 0, 0 (two heads)."""
    flips = as_tensor(Caller(impl).get("flips"), "flips", shape=(5,), finite=True)
    check(
        flips.tolist() == [0.0, 1.0, 1.0, 0.0, 0.0],
        "flips are not the lecture's data",
        call="flips",
        expected="[0.0, 1.0, 1.0, 0.0, 0.0]",
        got=f"{flips.tolist()}",
    )


@prop(functions=("posterior",), weight=2.0, examples=10)
@given(xs=st.lists(s.unit_interval_points(), min_size=1, max_size=6))
def test_posterior_is_beta_3_4(impl, xs):
    r"""``posterior.log_prob(theta)`` is the Beta(1 + 2, 1 + 3) log density. Tolerance:
    :math:`17\varepsilon_{32}(|\log p| + 8)` (lgamma terms and two logs)."""
    x = torch.tensor(xs, dtype=F32)
    got = Caller(impl).tensor("posterior.log_prob", x, shape=tuple(x.shape), label="posterior.log_prob")
    want = dist.Beta(torch.tensor(3.0, dtype=F64), torch.tensor(4.0, dtype=F64)).log_prob(x.double())
    tol = rounding_bound(F32, 1.0) * (want.abs() + 8 + 4 / (x.double() * (1 - x.double())))
    check(
        bool(((got - want).abs() <= tol).all()),
        "posterior is not Beta(3, 4)",
        call=text("posterior.log_prob", x),
        expected=f"{want.tolist()}",
        got=f"{got.tolist()}",
    )


@prop(functions=("posterior_unconstrained",), weight=2.0, examples=10)
@given(ys=st.lists(s.floats32(-8, 8), min_size=1, max_size=6))
def test_posterior_unconstrained_is_logit_beta(impl, ys):
    r"""``posterior_unconstrained.log_prob(y)`` is :math:`3\log\sigma(y) + 4\log\sigma(-y) + \log 60`,
    the change of variables of Beta(3, 4) by :math:`\sigma`. Tolerance: :math:`17\varepsilon_{32}(|\log p|
    + 8 + 8|y|)` (the float32 sigmoid near saturation)."""
    y = torch.tensor(ys, dtype=F32)
    got = Caller(impl).tensor(
        "posterior_unconstrained.log_prob", y, shape=tuple(y.shape), label="posterior_unconstrained.log_prob"
    )
    want = _post(y)
    tol = rounding_bound(F32, 1.0) * (want.abs() + 8 + 8 * y.double().abs()) * torch.exp(y.double().abs())
    check(
        bool(((got - want).abs() <= tol).all()),
        "posterior_unconstrained is not the logit of Beta(3, 4)",
        call=text("posterior_unconstrained.log_prob", y),
        expected=f"{want.tolist()}",
        got=f"{got.tolist()}",
    )


@prop(functions=("prior_uncontrained",), weight=1.0, examples=10)
@given(ys=st.lists(s.floats32(-8, 8), min_size=1, max_size=6))
def test_prior_unconstrained_is_logistic(impl, ys):
    r"""``prior_uncontrained.log_prob(y)`` (the lecture's spelling) is :math:`\log\sigma(y) + \log\sigma(-y)`,
    the standard logistic density: U(0, 1) seen through the logit."""
    y = torch.tensor(ys, dtype=F32)
    got = Caller(impl).tensor(
        "prior_uncontrained.log_prob", y, shape=tuple(y.shape), label="prior_uncontrained.log_prob"
    )
    want = oracle.logit_beta_log_prob(y, 1.0, 1.0)
    tol = rounding_bound(F32, 1.0) * (want.abs() + 4 + 4 * y.double().abs()) * torch.exp(y.double().abs())
    check(
        bool(((got - want).abs() <= tol).all()),
        "prior_uncontrained is not the logistic density",
        call=text("prior_uncontrained.log_prob", y),
        expected=f"{want.tolist()}",
        got=f"{got.tolist()}",
    )
