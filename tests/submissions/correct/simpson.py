"""Integrates with composite Simpson's rule (an end correction of the last panel when N is even) instead of the trapezoid rule, in integrate and so in kl_divergence_1 and everything built on it.

mutates: none
"""
from typing import Callable

import torch
import torch.distributions as dist

torch.manual_seed(0)


def derivative_lp(d_constrained, x):
    if d_constrained.support.check(x):
        _x = x.clone().requires_grad_(True)
        p = d_constrained.log_prob(_x).exp()
        p.backward()
        return _x.grad
    else:
        return torch.tensor(0.)


def lp_transformed(xs, d, transform):
    ys = transform(xs)
    return d.log_prob(ys) + transform.log_abs_det_jacobian(xs, ys)


def sigmoid(x):
    return torch.sigmoid(x)


def sigmoid_prime(x):
    s = torch.sigmoid(x)
    return s * (1 - s)


def _simpson(y: torch.Tensor, h) -> torch.Tensor:
    n = y.shape[0]
    if n == 2:
        return h / 2 * (y[0] + y[1])
    if n % 2 == 1:
        return h / 3 * (y[0] + y[-1] + 4 * y[1:-1:2].sum(dim=0) + 2 * y[2:-1:2].sum(dim=0))
    # Even number of points: Simpson on the first n - 1 points, and the last panel by integrating the
    # quadratic through the last three points (local error O(h^4), as scipy.integrate.simpson does).
    head = _simpson(y[:-1], h)
    tail = h * (5 * y[-1] + 8 * y[-2] - y[-3]) / 12
    return head + tail


def integrate(func: Callable[[torch.Tensor], torch.Tensor], a, b, N=500):
    x = torch.linspace(a, b, N)
    y = func(x)
    h = ((x[-1] - x[0]) / (N - 1)).to(y.dtype)
    return _simpson(y, h)


def kl_divergence_1(p: dist.Distribution, q: dist.Distribution, a, b, N=500) -> torch.Tensor:
    def integrand(x: torch.Tensor) -> torch.Tensor:
        px = p.log_prob(x).exp()
        qx = q.log_prob(x).exp()
        I = px * torch.log(px / qx)
        I[px == 0] = 0
        return I
    return integrate(integrand, a, b, N)


kl_divergence = kl_divergence_1


def kl_divergence_2(p: dist.Distribution, q: dist.Distribution, N=500) -> torch.Tensor:
    x = p.sample((N,))
    px = p.log_prob(x).exp()
    qx = q.log_prob(x).exp()
    I = torch.log(px / qx)
    return I.mean()


def mode_seeking_loss(target: dist.Distribution):
    def loss(X):
        mu, sigma = X
        q = dist.Normal(mu, sigma)
        return kl_divergence(q, target, mu-4*sigma, mu+4*sigma)
    return loss


def mass_covering_loss(target: dist.Distribution):
    def loss(X):
        mu, sigma = X
        q = dist.Normal(mu, sigma)
        return kl_divergence(target, q, -4, 8)
    return loss


flips = torch.tensor([0., 1., 1., 0., 0.])
prior = dist.Uniform(0, 1)
posterior = dist.Beta(1 + flips.sum(), 1 + (1-flips).sum())


def likelihood(p):
    return dist.Bernoulli(p).log_prob(flips.reshape(-1, 1)).sum(dim=0).exp()


T = dist.transform_to(posterior.support)
posterior_unconstrained = dist.TransformedDistribution(posterior, T.inv)
prior_uncontrained = dist.TransformedDistribution(prior, T.inv)


def DKL_QP(X):
    mu, sigma = X
    q = dist.Normal(mu, sigma)
    return kl_divergence(q, posterior_unconstrained, mu-4*sigma, mu+4*sigma)


def ELBO_loss(X):
    mu, sigma = X
    q = dist.Normal(mu, sigma)

    def integrand(x: torch.Tensor) -> torch.Tensor:
        px = likelihood(T(x)) * prior_uncontrained.log_prob(x).exp()
        qx = q.log_prob(x).exp()
        I = qx * torch.log(px / qx)
        I[px == 0] = 0
        return I

    return -integrate(integrand, mu-4*sigma, mu+4*sigma)


def log_evidence():
    def integrand(x: torch.Tensor) -> torch.Tensor:
        likelihood_x = dist.Bernoulli(T(x)).log_prob(flips.reshape(-1, 1)).sum(dim=0).exp()
        prior_x = prior_uncontrained.log_prob(x).exp()
        return likelihood_x * prior_x

    return torch.log(integrate(integrand, -4, 4))
