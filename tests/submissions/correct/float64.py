"""Works in float64 internally (grids, densities and the coin model's distributions are double precision) and returns the float64 results instead of casting back to float32.

mutates: none
"""
from typing import Callable

import torch
import torch.distributions as dist

torch.manual_seed(0)

D = torch.float64


def _d(x):
    return torch.as_tensor(x).to(D)


def derivative_lp(d_constrained, x):
    x = _d(x)
    if d_constrained.support.check(x):
        _x = x.clone().requires_grad_(True)
        p = d_constrained.log_prob(_x).to(D).exp()
        p.backward()
        return _x.grad
    else:
        return torch.tensor(0., dtype=D)


def lp_transformed(xs, d, transform):
    xs = _d(xs)
    ys = transform(xs)
    return d.log_prob(ys).to(D) + transform.log_abs_det_jacobian(xs, ys).to(D)


def sigmoid(x):
    x = _d(x)
    # 1 / (1 + exp(-x)) for x >= 0 and exp(x) / (1 + exp(x)) for x < 0: no overflow either way.
    e = torch.exp(-x.abs())
    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_prime(x):
    x = _d(x)
    e = torch.exp(-x.abs())
    return e / (1 + e) ** 2


def integrate(func: Callable[[torch.Tensor], torch.Tensor], a, b, N=500):
    x = torch.linspace(float(a), float(b), N, dtype=D)
    y = func(x).to(D)
    return torch.trapz(y, x)


def kl_divergence_1(p: dist.Distribution, q: dist.Distribution, a, b, N=500) -> torch.Tensor:
    def integrand(x: torch.Tensor) -> torch.Tensor:
        px = p.log_prob(x).to(D).exp()
        qx = q.log_prob(x).to(D).exp()
        I = px * torch.log(px / qx)
        I[px == 0] = 0
        return I
    return integrate(integrand, a, b, N)


kl_divergence = kl_divergence_1


def kl_divergence_2(p: dist.Distribution, q: dist.Distribution, N=500) -> torch.Tensor:
    x = p.sample((N,))
    return (p.log_prob(x).to(D) - q.log_prob(x).to(D)).mean()


def _normal(X):
    mu, sigma = X
    return dist.Normal(_d(mu), _d(sigma))


def mode_seeking_loss(target: dist.Distribution):
    def loss(X):
        q = _normal(X)
        mu, sigma = q.loc, q.scale
        return kl_divergence(q, target, mu - 4 * sigma, mu + 4 * sigma)
    return loss


def mass_covering_loss(target: dist.Distribution):
    def loss(X):
        q = _normal(X)
        return kl_divergence(target, q, -4, 8)
    return loss


flips = torch.tensor([0., 1., 1., 0., 0.])
prior = dist.Uniform(0, 1)
posterior = dist.Beta(1 + flips.sum(), 1 + (1 - flips).sum())

_flips = flips.to(D)
_prior = dist.Uniform(torch.tensor(0., dtype=D), torch.tensor(1., dtype=D))
_posterior = dist.Beta(1 + _flips.sum(), 1 + (1 - _flips).sum())


def likelihood(p):
    p = _d(p)
    return dist.Bernoulli(p).log_prob(_flips.reshape((-1,) + (1,) * p.dim())).sum(dim=0).exp()


T = dist.transform_to(posterior.support)
posterior_unconstrained = dist.TransformedDistribution(posterior, T.inv)
prior_uncontrained = dist.TransformedDistribution(prior, T.inv)
_posterior_unconstrained = dist.TransformedDistribution(_posterior, T.inv)
_prior_unconstrained = dist.TransformedDistribution(_prior, T.inv)


def DKL_QP(X):
    q = _normal(X)
    mu, sigma = q.loc, q.scale
    return kl_divergence(q, _posterior_unconstrained, mu - 4 * sigma, mu + 4 * sigma)


def _joint(x):
    return likelihood(T(x)) * _prior_unconstrained.log_prob(x).exp()


def ELBO_loss(X):
    q = _normal(X)
    mu, sigma = q.loc, q.scale

    def integrand(x: torch.Tensor) -> torch.Tensor:
        px = _joint(x)
        qx = q.log_prob(x).exp()
        I = qx * torch.log(px / qx)
        I[px == 0] = 0
        return I

    return -integrate(integrand, mu - 4 * sigma, mu + 4 * sigma)


def log_evidence():
    return torch.log(integrate(_joint, -4, 4))
