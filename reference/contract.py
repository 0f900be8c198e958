"""The contract a submission fulfils: every name the lecture's function cells define.

Each entry gives the name, its call signature, what it means and the lecture cell that defines it. The
property suite and the grader look names up here; the reference implements all of them (and a few
extras, listed in :data:`EXTRAS`, that submissions need not define).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ContractEntry", "CONTRACT", "EXTRAS", "NAMES", "FUNCTION_NAMES", "DATA_NAMES", "entry"]


@dataclass(frozen=True)
class ContractEntry:
    """One contract name: ``kind`` is ``"function"`` or ``"data"``; ``signature`` is the lecture's call."""

    name: str
    kind: Literal["function", "data"]
    signature: str
    meaning: str
    lecture_cell: int


CONTRACT: tuple[ContractEntry, ...] = (
    ContractEntry(
        "derivative_lp",
        "function",
        "derivative_lp(d_constrained, x)",
        "d/dx of the density of d_constrained at x by autograd; 0 outside the support",
        2,
    ),
    ContractEntry(
        "lp_transformed",
        "function",
        "lp_transformed(xs, d, transform)",
        "log density of y where transform(y) ~ d: d.log_prob(T(y)) + log|dT/dy|",
        5,
    ),
    ContractEntry("sigmoid", "function", "sigmoid(x)", "logistic function exp(x) / (1 + exp(x))", 7),
    ContractEntry("sigmoid_prime", "function", "sigmoid_prime(x)", "derivative of the logistic function", 7),
    ContractEntry(
        "integrate",
        "function",
        "integrate(func, a, b, N=500)",
        "integral of func over [a, b] by a rule on N points (the lecture: trapezoid)",
        9,
    ),
    ContractEntry(
        "kl_divergence_1",
        "function",
        "kl_divergence_1(p, q, a, b, N=500)",
        "KL(p || q) by quadrature of p log(p/q) over [a, b] on N points",
        9,
    ),
    ContractEntry("kl_divergence", "function", "kl_divergence(p, q, a, b, N=500)", "alias of kl_divergence_1", 9),
    ContractEntry(
        "kl_divergence_2",
        "function",
        "kl_divergence_2(p, q, N=500)",
        "KL(p || q) by Monte Carlo: mean of log p(x) - log q(x) over N samples x ~ p",
        10,
    ),
    ContractEntry(
        "mode_seeking_loss",
        "function",
        "mode_seeking_loss(target)",
        "returns loss((mu, sigma)) = KL(N(mu, sigma) || target)",
        14,
    ),
    ContractEntry(
        "mass_covering_loss",
        "function",
        "mass_covering_loss(target)",
        "returns loss((mu, sigma)) = KL(target || N(mu, sigma))",
        14,
    ),
    ContractEntry("flips", "data", "flips", "the observed coin flips, tensor([0., 1., 1., 0., 0.])", 17),
    ContractEntry("prior", "data", "prior", "prior of the coin's bias, Uniform(0, 1)", 17),
    ContractEntry("posterior", "data", "posterior", "posterior of the bias, Beta(1 + heads, 1 + tails)", 17),
    ContractEntry(
        "likelihood",
        "function",
        "likelihood(p)",
        "likelihood of the flips for each bias in the tensor p: p^heads (1 - p)^tails",
        17,
    ),
    ContractEntry("T", "data", "T", "transform from the real line onto the posterior's support (sigmoid)", 17),
    ContractEntry(
        "posterior_unconstrained",
        "data",
        "posterior_unconstrained",
        "distribution of logit(theta) under the posterior",
        17,
    ),
    ContractEntry(
        "prior_uncontrained",
        "data",
        "prior_uncontrained",
        "distribution of logit(theta) under the prior (the lecture's spelling)",
        17,
    ),
    ContractEntry(
        "DKL_QP",
        "function",
        "DKL_QP(X)",
        "KL(q || posterior_unconstrained) for q = Normal(mu, sigma), X = (mu, sigma)",
        18,
    ),
    ContractEntry(
        "ELBO_loss",
        "function",
        "ELBO_loss(X)",
        "negative ELBO E_q[log p(flips, x) - log q(x)] for q = Normal(mu, sigma), X = (mu, sigma)",
        19,
    ),
    ContractEntry("log_evidence", "function", "log_evidence()", "log p(flips) = log B(3, 4) = log(1/60)", 20),
)

#: Names the reference defines beyond the lecture's cells; submissions need not define them.
EXTRAS: tuple[str, ...] = (
    "prior_unconstrained",
    "kl_divergence_k3",
    "monte_carlo_kl",
    "integrate_simpson",
    "integrate_gauss_legendre",
    "gauss_hermite_expectation",
    "log_integrate",
    "exp_transform",
    "sigmoid_transform",
    "affine_transform",
    "fit_gaussian",
    "autodiff_example",
    "normal_mixture",
    "normal",
)

NAMES: tuple[str, ...] = tuple(e.name for e in CONTRACT)
FUNCTION_NAMES: tuple[str, ...] = tuple(e.name for e in CONTRACT if e.kind == "function")
DATA_NAMES: tuple[str, ...] = tuple(e.name for e in CONTRACT if e.kind == "data")
_BY_NAME = {e.name: e for e in CONTRACT}


def entry(name: str) -> ContractEntry:
    """The contract entry for ``name``; ``KeyError`` naming it when it is not a contract name."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a contract name; contract names: {', '.join(NAMES)}") from None
