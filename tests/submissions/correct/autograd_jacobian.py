"""Computes the log-Jacobian log|dT/dy| in lp_transformed, and sigmoid_prime, by torch.autograd.grad instead of the transform's log_abs_det_jacobian and a closed-form derivative.

mutates: none
"""
from typing import Callable

import torch
import torch.distributions as dist

torch.manual_seed(0)


def derivative_lp(d_constrained, x):
    if d_constrained.support.check(x):
        _x = x.detach().clone().requires_grad_(True)
        p = d_constrained.log_prob(_x).exp()
        (grad,) = torch.autograd.grad(p.sum(), _x)
        return grad
    else:
        return torch.tensor(0.)


def lp_transformed(xs, d, transform):
    # The transforms act elementwise, so the Jacobian is diagonal: dT/dy is the gradient of sum(T(y)).
    _xs = torch.as_tensor(xs).detach().clone().requires_grad_(True)
    ys = transform(_xs)
    (dT_dy,) = torch.autograd.grad(ys.sum(), _xs)
    return d.log_prob(ys.detach()) + torch.log(dT_dy.abs())


def sigmoid(x):
    return torch.sigmoid(x)


def sigmoid_prime(x):
    _x = torch.as_tensor(x).detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(sigmoid(_x).sum(), _x)
    return grad


def integrate(func: Callable[[torch.Tensor], torch.Tensor], a, b, N=500):
    x = torch.linspace(a, b, N)
    y = func(x)
    return torch.trapz(y, x)


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


def likelihood(p):
    return dist.Bernoulli(p).log_prob(flips.reshape(-1, 1)).sum(dim=0).exp()


T = dist.transform_to(posterior.support)
posterior_unconstrained = dist.TransformedDistribution(posterior, T.inv)
prior_uncontrained = dist.TransformedDistribution(prior, T.inv)


def DKL_QP(X):
    mu, sigma = X
    q = dist.Normal(mu, sigma)
    return kl_divergence(q, posterior_unconstrained, mu - 4 * sigma, mu + 4 * sigma)


def _joint(x):
    # likelihood of the flips at theta = T(x), times the unconstrained prior density, by lp_transformed
    return likelihood(T(x)) * lp_transformed(x, prior, T).exp()


def ELBO_loss(X):
    mu, sigma = X
    q = dist.Normal(mu, sigma)

    def integrand(x: torch.Tensor) -> torch.Tensor:
        px = _joint(x)
        qx = q.log_prob(x).exp()
        I = qx * torch.log(px / qx)
        I[px == 0] = 0
        return I

    return -integrate(integrand, mu - 4 * sigma, mu + 4 * sigma)


def log_evidence():
    return torch.log(integrate(_joint, -4, 4))
