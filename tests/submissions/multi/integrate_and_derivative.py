"""Two independent mistakes: integrate uses the step (b - a) / N instead of (b - a) / (N - 1), and
derivative_lp differentiates the log density log p(x) instead of the density p(x).

mutates: integrate, derivative_lp
"""
import torch
import torch.distributions as dist
from typing import Callable
from scipy.optimize import brute

torch.manual_seed(0)


def derivative_lp(d_constrained, x):
    if d_constrained.support.check(x):
        _x = x.clone().requires_grad_(True)
        p = d_constrained.log_prob(_x)
        p.backward()
        return _x.grad
    else:
        return torch.tensor(0.)


def lp_transformed(xs, d, transform):
    ys = transform(xs)
    return d.log_prob(ys) + transform.log_abs_det_jacobian(xs, ys)


def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))


def sigmoid_prime(x):
    return torch.exp(x) / (1 + torch.exp(x))**2


def integrate(func: Callable[[torch.Tensor], torch.Tensor], a, b, N=500):
    x = torch.linspace(a, b, N)
    y = func(x)
    return torch.trapz(y, dx=(b - a) / N)


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
        px = likelihood_x * prior_x
        return px

    return torch.log(integrate(integrand, -4, 4))
