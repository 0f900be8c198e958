"""The lecture's own losses (``lecture_4.ipynb``, cells 9-11 and 13-20), copied as written, for the
``scipy.optimize.brute`` baseline of ``test_fits.py``.

Only what the four brute-force fits need: the trapezoid ``integrate``, ``kl_divergence_1``, the mode-seeking
and mass-covering losses, the lecture's mixture, the coin model and its two losses. Everything runs in
torch's default dtype (float32), as in the lecture. Private to the benchmarks: nothing here is exported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.distributions as dist


def integrate(func: Callable[[torch.Tensor], torch.Tensor], a: Any, b: Any, N: int = 500) -> torch.Tensor:
    x = torch.linspace(a, b, N)
    y = func(x)
    return torch.trapz(y, x)


def kl_divergence_1(p: dist.Distribution, q: dist.Distribution, a: Any, b: Any, N: int = 500) -> torch.Tensor:
    def integrand(x: torch.Tensor) -> torch.Tensor:
        px = p.log_prob(x).exp()
        qx = q.log_prob(x).exp()
        I = px * torch.log(px / qx)
        I[px == 0] = 0
        return I

    return integrate(integrand, a, b, N)


kl_divergence = kl_divergence_1


def mode_seeking_loss(target: dist.Distribution) -> Callable[[Any], torch.Tensor]:
    def loss(X: Any) -> torch.Tensor:
        mu, sigma = X
        q = dist.Normal(mu, sigma)
        return kl_divergence(q, target, mu - 4 * sigma, mu + 4 * sigma)

    return loss


def mass_covering_loss(target: dist.Distribution) -> Callable[[Any], torch.Tensor]:
    def loss(X: Any) -> torch.Tensor:
        mu, sigma = X
        q = dist.Normal(mu, sigma)
        return kl_divergence(target, q, -4, 8)

    return loss


normal_mixture = dist.MixtureSameFamily(
    dist.Categorical(torch.tensor([0.4, 0.6])),
    dist.Normal(torch.tensor([-1.0, 4.0]), torch.tensor([0.75, 0.5])),
)

flips = torch.tensor([0.0, 1.0, 1.0, 0.0, 0.0])
prior = dist.Uniform(0, 1)
posterior = dist.Beta(1 + flips.sum(), 1 + (1 - flips).sum())


def likelihood(p: torch.Tensor) -> torch.Tensor:
    return dist.Bernoulli(p).log_prob(flips.reshape(-1, 1)).sum(dim=0).exp()


T = dist.transform_to(posterior.support)
posterior_unconstrained = dist.TransformedDistribution(posterior, T.inv)
prior_uncontrained = dist.TransformedDistribution(prior, T.inv)


def DKL_QP(X: Any) -> torch.Tensor:
    mu, sigma = X
    q = dist.Normal(mu, sigma)
    return kl_divergence(q, posterior_unconstrained, mu - 4 * sigma, mu + 4 * sigma)


def ELBO_loss(X: Any) -> torch.Tensor:
    mu, sigma = X
    q = dist.Normal(mu, sigma)

    def integrand(x: torch.Tensor) -> torch.Tensor:
        px = likelihood(T(x)) * prior_uncontrained.log_prob(x).exp()
        qx = q.log_prob(x).exp()
        I = qx * torch.log(px / qx)
        I[px == 0] = 0
        return I

    return -integrate(integrand, mu - 4 * sigma, mu + 4 * sigma)
