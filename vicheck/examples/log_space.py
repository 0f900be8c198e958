# ruff: noqa
# mypy: ignore-errors
"""Computes every density in log space (log_prob differences, logsumexp, torch.sigmoid and softplus), so it stays finite for extreme inputs where the lecture's exp/ratio code overflows or divides 0 by 0.

mutates: none
"""
import math
from typing import Callable

import torch
import torch.distributions as dist
import torch.nn.functional as F

torch.manual_seed(0)


def derivative_lp(d_constrained, x):
    # d/dx p(x) = p(x) * d/dx log p(x); 0 outside the support (the lecture's convention).
    if d_constrained.support.check(x):
        _x = x.detach().clone().requires_grad_(True)
        log_p = d_constrained.log_prob(_x)
        (grad_log_p,) = torch.autograd.grad(log_p.sum(), _x)
        return log_p.detach().exp() * grad_log_p
    else:
        return torch.tensor(0.)


def lp_transformed(xs, d, transform):
    ys = transform(xs)
    return d.log_prob(ys) + transform.log_abs_det_jacobian(xs, ys)


def sigmoid(x):
    return torch.sigmoid(x)


def sigmoid_prime(x):
    # sigma'(x) = exp(log sigma(x) + log sigma(-x)) = exp(-softplus(-x) - softplus(x))
    return torch.exp(-F.softplus(-x) - F.softplus(x))


def integrate(func: Callable[[torch.Tensor], torch.Tensor], a, b, N=500):
    x = torch.linspace(a, b, N)
    y = func(x)
    return torch.trapz(y, x)


def _log_integrate(log_func, a, b, N=500):
    # log of the trapezoid rule, evaluated with logsumexp.
    x = torch.linspace(a, b, N)
    g = log_func(x)
    log_w = torch.zeros_like(g)
    log_w[0] = log_w[-1] = math.log(0.5)
    h = (b - a) / (N - 1)
    return math.log(h) + torch.logsumexp(g + log_w, dim=0)


def kl_divergence_1(p: dist.Distribution, q: dist.Distribution, a, b, N=500) -> torch.Tensor:
    def integrand(x: torch.Tensor) -> torch.Tensor:
        log_px = p.log_prob(x)
        log_qx = q.log_prob(x)
        # p log(p/q) with the convention 0 log 0 = 0 where p vanishes.
        return torch.where(log_px == -math.inf, torch.zeros_like(log_px), log_px.exp() * (log_px - log_qx))
    return integrate(integrand, a, b, N)


kl_divergence = kl_divergence_1


def kl_divergence_2(p: dist.Distribution, q: dist.Distribution, N=500) -> torch.Tensor:
    x = p.sample((N,))
    return (p.log_prob(x) - q.log_prob(x)).mean()


def mode_seeking_loss(target: dist.Distribution):
    def loss(X):
        mu, sigma = X
        q = dist.Normal(mu, sigma)
        return kl_divergence(q, target, mu - 4 * sigma, mu + 4 * sigma)
    return loss


def mass_covering_loss(target: dist.Distribution):
    def loss(X):
        mu, sigma = X
        q = dist.Normal(mu, sigma)
        return kl_divergence(target, q, -4, 8)
    return loss


flips = torch.tensor([0., 1., 1., 0., 0.])
prior = dist.Uniform(0, 1)
posterior = dist.Beta(1 + flips.sum(), 1 + (1 - flips).sum())
_heads = flips.sum()
_tails = (1 - flips).sum()


def _log_likelihood(p):
    return torch.xlogy(_heads, p) + torch.xlogy(_tails, 1 - p)


def likelihood(p):
    return torch.exp(_log_likelihood(p))


T = dist.transform_to(posterior.support)
posterior_unconstrained = dist.TransformedDistribution(posterior, T.inv)
prior_uncontrained = dist.TransformedDistribution(prior, T.inv)


def _log_joint(x):
    # log p(flips | sigmoid(x)) + log prior(sigmoid(x)) + log sigmoid'(x), with log sigmoid(x) = -softplus(-x).
    log_s = -F.softplus(-x)
    log_1ms = -F.softplus(x)
    return (_heads + 1) * log_s + (_tails + 1) * log_1ms


def DKL_QP(X):
    mu, sigma = X
    q = dist.Normal(mu, sigma)
    return kl_divergence(q, posterior_unconstrained, mu - 4 * sigma, mu + 4 * sigma)


def ELBO_loss(X):
    mu, sigma = X
    q = dist.Normal(mu, sigma)

    def integrand(x: torch.Tensor) -> torch.Tensor:
        log_qx = q.log_prob(x)
        return log_qx.exp() * (_log_joint(x) - log_qx)

    return -integrate(integrand, mu - 4 * sigma, mu + 4 * sigma)


def log_evidence():
    # The joint decays like exp(3x) and exp(-4x): [-40, 40] keeps all of it, where the lecture's [-4, 4] loses 1e-4.
    return _log_integrate(_log_joint, -40., 40., 500)
