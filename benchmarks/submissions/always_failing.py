"""Every function has the lecture's name and signature and returns a tensor of the right shape, but the wrong
value: the submission that fails (nearly) every property, the worst case for shrinking and explaining."""

import torch
import torch.distributions as dist


def derivative_lp(d_constrained, x):
    return torch.tensor(1.0)


def lp_transformed(xs, d, transform):
    return torch.zeros_like(xs) + 1.0


def sigmoid(x):
    return x + 1.0


def sigmoid_prime(x):
    return x * 2.0


def integrate(func, a, b, N=500):
    return torch.tensor(float(N))


def kl_divergence_1(p, q, a, b, N=500):
    return torch.tensor(-1.0)


kl_divergence = kl_divergence_1


def kl_divergence_2(p, q, N=500):
    return torch.tensor(-2.0)


def mode_seeking_loss(target):
    def loss(X):
        return torch.tensor(3.0)

    return loss


def mass_covering_loss(target):
    def loss(X):
        return torch.tensor(3.0)

    return loss


flips = torch.tensor([1.0, 1.0])
prior = dist.Uniform(0, 2)
posterior = dist.Normal(0.0, 1.0)


def likelihood(p):
    return p * 0 + 2.0


T = dist.transforms.ExpTransform()
posterior_unconstrained = dist.Normal(1.0, 1.0)
prior_uncontrained = dist.Normal(-1.0, 1.0)


def DKL_QP(X):
    return torch.tensor(-1.0)


def ELBO_loss(X):
    return torch.tensor(5.0)


def log_evidence():
    return torch.tensor(1.0)
