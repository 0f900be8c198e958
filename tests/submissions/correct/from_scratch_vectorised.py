"""Written from scratch and vectorised over batches of (mu, sigma), with its own transform (dist.transforms.SigmoidTransform()), the posterior written out as dist.Beta(3., 4.), an explicit trapezoid sum and p**heads * (1 - p)**tails, and the same numerics as the lecture.

mutates: none
"""
import torch
import torch.distributions as dist
from torch.distributions.transforms import SigmoidTransform

torch.manual_seed(0)


def derivative_lp(d_constrained, x):
    x = torch.as_tensor(x)
    inside = d_constrained.support.check(x)
    if not bool(torch.as_tensor(inside).any()):
        return torch.zeros_like(x, dtype=torch.get_default_dtype())
    # Evaluate the density only where x is inside the support (a validating distribution raises elsewhere).
    some_inside_point = x[inside].reshape(-1)[0]
    safe = torch.where(inside, x, some_inside_point).detach().requires_grad_(True)
    density = d_constrained.log_prob(safe).exp()
    (grad,) = torch.autograd.grad(density.sum(), safe)
    return torch.where(inside, grad, torch.zeros_like(grad))


def lp_transformed(xs, d, transform):
    ys = transform(xs)
    return d.log_prob(ys) + transform.log_abs_det_jacobian(xs, ys)


def sigmoid(x):
    return 1 / (1 + torch.exp(-x))


def sigmoid_prime(x):
    s = sigmoid(x)
    return s * (1 - s)


def _grid(a, b, N):
    # N points from a to b along a new first dimension; a and b may be batched tensors.
    a = torch.as_tensor(a, dtype=torch.get_default_dtype())
    b = torch.as_tensor(b, dtype=torch.get_default_dtype())
    t = torch.linspace(0, 1, N).reshape((N,) + (1,) * max(a.dim(), b.dim()))
    return a + t * (b - a)


def integrate(func, a, b, N=500):
    x = _grid(a, b, N)
    y = func(x)
    h = (x[-1] - x[0]) / (N - 1)
    return h * (y[0] / 2 + y[1:-1].sum(dim=0) + y[-1] / 2)


def kl_divergence_1(p, q, a, b, N=500):
    def integrand(x):
        px = p.log_prob(x).exp()
        qx = q.log_prob(x).exp()
        return torch.where(px > 0, px * torch.log(px / qx), torch.zeros_like(px))
    return integrate(integrand, a, b, N)


kl_divergence = kl_divergence_1


def kl_divergence_2(p, q, N=500):
    x = p.sample((N,))
    return torch.mean(p.log_prob(x) - q.log_prob(x), dim=0)


def _q(X):
    mu, sigma = X
    mu = torch.as_tensor(mu, dtype=torch.get_default_dtype())
    sigma = torch.as_tensor(sigma, dtype=torch.get_default_dtype())
    return mu, sigma, dist.Normal(mu, sigma)


def mode_seeking_loss(target):
    def loss(X):
        mu, sigma, q = _q(X)
        return kl_divergence(q, target, mu - 4 * sigma, mu + 4 * sigma)
    return loss


def mass_covering_loss(target):
    def loss(X):
        mu, sigma, q = _q(X)
        lo = torch.full_like(mu, -4.)
        hi = torch.full_like(mu, 8.)
        return kl_divergence(target, q, lo, hi)
    return loss


flips = torch.tensor([0., 1., 1., 0., 0.])
heads = flips.sum()
tails = len(flips) - heads
prior = dist.Uniform(0., 1.)
posterior = dist.Beta(3., 4.)  # Beta(1 + heads, 1 + tails) for 2 heads and 3 tails


def likelihood(p):
    return p ** heads * (1 - p) ** tails


T = SigmoidTransform()
posterior_unconstrained = dist.TransformedDistribution(posterior, T.inv)
prior_uncontrained = dist.TransformedDistribution(prior, T.inv)


def _joint(x):
    # p(flips | T(x)) * prior(T(x)) * T'(x), and prior(T(x)) = 1
    theta = T(x)
    return likelihood(theta) * theta * (1 - theta)


def DKL_QP(X):
    mu, sigma, q = _q(X)
    return kl_divergence(q, posterior_unconstrained, mu - 4 * sigma, mu + 4 * sigma)


def ELBO_loss(X):
    mu, sigma, q = _q(X)

    def integrand(x):
        px = _joint(x)
        qx = q.log_prob(x).exp()
        return torch.where(px > 0, qx * torch.log(px / qx), torch.zeros_like(px))

    return -integrate(integrand, mu - 4 * sigma, mu + 4 * sigma)


def log_evidence():
    return torch.log(integrate(_joint, -4., 4.))
