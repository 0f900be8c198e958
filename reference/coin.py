r"""Variational inference on the lecture's coin model.

Five flips :math:`y = (0, 1, 1, 0, 0)` of a coin with bias :math:`\theta \sim U(0, 1)` give the
posterior :math:`\mathrm{Beta}(1 + 2, 1 + 3) = \mathrm{Beta}(3, 4)` and the evidence
:math:`p(y) = \int_0^1 \theta^2(1-\theta)^3\,d\theta = B(3, 4) = 1/60`. On the unconstrained line
:math:`x = \operatorname{logit}\theta` the joint density is
:math:`\log p(y, x) = 3\log\sigma(x) + 4\log\sigma(-x)` (likelihood, flat prior and Jacobian
:math:`\sigma(x)\sigma(-x)` together), and for :math:`q = \mathcal N(\mu, \sigma^2)`

.. math:: \mathrm{KL}(q\,\|\,p(\cdot\mid y)) = \log p(y) - \mathrm{ELBO}(q),\qquad
          \mathrm{ELBO}(q) = \mathbb{E}_q[\log p(y, x) - \log q(x)]

(Blei, Kucukelbir and McAuliffe, JASA 112, 2017, eq. 13). ``ELBO_loss`` is :math:`-\mathrm{ELBO}`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributions as dist
import torch.nn.functional as F

from ._validation import check_num_points
from .fits import gaussian
from .kl import kl_divergence_1
from .quadrature import _trapezoid, log_integrate, uniform_grid
from .transforms import LogitBeta

__all__ = [
    "flips",
    "prior",
    "posterior",
    "T",
    "posterior_unconstrained",
    "prior_unconstrained",
    "prior_uncontrained",
    "likelihood",
    "log_joint_unconstrained",
    "DKL_QP",
    "ELBO_loss",
    "log_evidence",
    "coarse_DKL_QP",
    "coarse_ELBO_loss",
]

flips = torch.tensor([0.0, 1.0, 1.0, 0.0, 0.0])
prior = dist.Uniform(0.0, 1.0)
posterior = dist.Beta(1 + flips.sum(), 1 + (1 - flips).sum())
T = dist.transform_to(posterior.support)
# Same densities as TransformedDistribution(posterior / prior, T.inv), evaluated in log space.
posterior_unconstrained = LogitBeta(posterior.concentration1, posterior.concentration0)
prior_unconstrained = LogitBeta(1.0, 1.0)
prior_uncontrained = prior_unconstrained  # the lecture's spelling, kept as an alias


def likelihood(p: torch.Tensor) -> torch.Tensor:
    r"""Likelihood of the flips for each coin bias in ``p``:
    :math:`\prod_i p^{y_i}(1-p)^{1-y_i} = p^2 (1-p)^3`, elementwise over ``p``."""
    p = torch.as_tensor(p)
    if bool(((p < 0) | (p > 1)).any()):
        raise ValueError(f"likelihood needs probabilities in [0, 1], got {p!r}")
    heads = flips.sum().to(p.dtype)
    tails = (1 - flips).sum().to(p.dtype)
    return torch.exp(torch.xlogy(heads, p) + torch.xlogy(tails, 1 - p))


def log_joint_unconstrained(x: torch.Tensor) -> torch.Tensor:
    r""":math:`\log p(y, x) = (1 + h)\log\sigma(x) + (1 + t)\log\sigma(-x)` for :math:`h` heads and
    :math:`t` tails: log likelihood + log prior (0) + log Jacobian of the sigmoid."""
    heads = flips.sum().to(x.dtype)
    tails = (1 - flips).sum().to(x.dtype)
    return -(1 + heads) * F.softplus(-x) - (1 + tails) * F.softplus(x)


def DKL_QP(X: Any, *, width: float = 10.0, N: int = 500) -> torch.Tensor:
    r""":math:`\mathrm{KL}(q\,\|\,p(x\mid y))` for :math:`q = \mathcal N(\mu, \sigma^2)`, ``X = (mu, sigma)``,
    by the trapezoid rule on :math:`\mu \pm w\sigma` (the lecture uses :math:`w = 4`)."""
    q = gaussian(X)
    return kl_divergence_1(q, posterior_unconstrained, q.loc - width * q.scale, q.loc + width * q.scale, N)


def ELBO_loss(X: Any, *, width: float = 10.0, N: int = 500) -> torch.Tensor:
    r"""Negative ELBO, :math:`-\mathbb{E}_q[\log p(y, x) - \log q(x)]`, for ``X = (mu, sigma)``, by the
    trapezoid rule on :math:`\mu \pm w\sigma` (the lecture uses :math:`w = 4`)."""
    N = check_num_points(N)
    q = gaussian(X)
    x = uniform_grid(q.loc - width * q.scale, q.loc + width * q.scale, N)
    log_q = q.log_prob(x)
    integrand = torch.exp(log_q) * (log_joint_unconstrained(x) - log_q)
    return -_trapezoid(integrand, x)


def log_evidence(*, a: float = -40.0, b: float = 40.0, N: int = 500, dtype: torch.dtype | None = None) -> torch.Tensor:
    r""":math:`\log p(y) = \log\int p(y, x)\,dx` on the unconstrained line, exactly :math:`\log B(3, 4) =
    \log(1/60)`; trapezoid rule in log space on :math:`[a, b]`.

    The joint decays like :math:`e^{3x}` and :math:`e^{-4x}`, so :math:`[-40, 40]` leaves out
    :math:`< 10^{-50}` of it, and the rule converges geometrically (the integrand is analytic in a strip
    of half-width :math:`\pi`). The lecture's :math:`[-4, 4]` leaves out :math:`1.2\times10^{-4}` of it.
    """
    dtype = dtype or torch.get_default_dtype()
    return log_integrate(log_joint_unconstrained, torch.tensor(a, dtype=dtype), torch.tensor(b, dtype=dtype), N)


def coarse_DKL_QP(X: Any) -> torch.Tensor:
    """:func:`DKL_QP` with 64 points on mu +- 6 sigma: enough to rank the points of a fit's grid."""
    return DKL_QP(X, width=6.0, N=64)


def coarse_ELBO_loss(X: Any) -> torch.Tensor:
    """:func:`ELBO_loss` with 64 points on mu +- 6 sigma: enough to rank the points of a fit's grid."""
    return ELBO_loss(X, width=6.0, N=64)
