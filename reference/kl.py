r"""Kullback--Leibler divergence by quadrature and by Monte Carlo, in log space.

.. math:: \mathrm{KL}(p\,\|\,q) = \int p(x)\,\big[\log p(x) - \log q(x)\big]\,dx
          = \mathbb{E}_{x\sim p}\big[\log p(x) - \log q(x)\big]

(Kullback and Leibler, Ann. Math. Statist. 22, 1951). Both estimators work with ``log_prob`` and never
form the ratio :math:`p/q`, so KL(N(0,1) || N(30,1)) = 450 comes out finite where the lecture's
``log(px / qx)`` divides by an underflowed zero.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.distributions as dist

from ._support import inside_support
from ._validation import check_interval, check_num_points
from .quadrature import _trapezoid, uniform_grid

__all__ = [
    "kl_divergence_1",
    "kl_divergence",
    "kl_divergence_2",
    "kl_divergence_k3",
    "MonteCarloEstimate",
    "monte_carlo_kl",
    "kl_integrand",
]


def _masked_log_prob(d: dist.Distribution, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log density, inside-support mask); log density is -inf outside the support, never an error."""
    inside, safe = inside_support(d, x)
    lp = d.log_prob(safe)
    if safe is x:
        return lp, inside
    return torch.where(inside, lp, torch.full((), float("-inf"), dtype=lp.dtype)), inside


def kl_integrand(p: dist.Distribution, q: dist.Distribution, x: torch.Tensor) -> torch.Tensor:
    r"""The integrand :math:`p(x)\,[\log p(x) - \log q(x)]`: 0 where :math:`p(x) = 0`, :math:`+\infty`
    where :math:`p(x) > 0 = q(x)`."""
    lp, _ = _masked_log_prob(p, x)
    lq, _ = _masked_log_prob(q, x)
    lp, lq = torch.broadcast_tensors(lp, lq)
    positive = torch.isfinite(lp)
    diff = torch.where(positive, lp - lq, torch.zeros((), dtype=lp.dtype))
    return torch.where(positive, torch.exp(lp) * diff, torch.zeros((), dtype=lp.dtype))


def kl_divergence_1(p: dist.Distribution, q: dist.Distribution, a: Any, b: Any, N: int = 500) -> torch.Tensor:
    r"""KL(p || q) by the trapezoid rule on ``N`` equally spaced points of :math:`[a, b]`,

    .. math:: \mathrm{KL}(p\,\|\,q) \approx \int_a^b p(x)\,[\log p(x) - \log q(x)]\,dx ,

    exact up to the mass of :math:`p` outside :math:`[a, b]` and the trapezoid error
    :math:`\le \frac{h^2}{8}V(f')`. ``p``, ``q``, ``a`` and ``b`` may be batched: the result has their
    broadcast batch shape and dtype. ``ValueError`` for ``N < 2`` or ``a >= b``.
    """
    N = check_num_points(N)
    check_interval(a, b)
    dtype = _float_dtype(p, q, a, b)
    x = uniform_grid(a, b, N, dtype=dtype)
    x = x.reshape(x.shape + (1,) * max(0, len(_batch_shape(p, q)) - (x.dim() - 1)))
    return _trapezoid(kl_integrand(p, q, x), x)


kl_divergence = kl_divergence_1


def kl_divergence_2(p: dist.Distribution, q: dist.Distribution, N: int = 500) -> torch.Tensor:
    r"""KL(p || q) by plain Monte Carlo: :math:`\frac1N\sum_{i=1}^N[\log p(x_i) - \log q(x_i)]`,
    :math:`x_i \sim p`, unbiased with standard error :math:`\sqrt{\mathrm{Var}_p[\log p - \log q]/N}`.
    Uses torch's global generator (seed it with ``torch.manual_seed`` for a reproducible value)."""
    return monte_carlo_kl(p, q, N).value


def kl_divergence_k3(p: dist.Distribution, q: dist.Distribution, N: int = 500) -> torch.Tensor:
    r"""KL(p || q) by the low-variance unbiased estimator :math:`k_3 = (r - 1) - \log r`,
    :math:`r = q(x)/p(x)`, :math:`x\sim p` (Schulman, "Approximating KL divergence", 2020): unbiased
    because :math:`\mathbb{E}_p[r] = 1`, and every term is :math:`\ge 0`."""
    return monte_carlo_kl(p, q, N, estimator="k3").value


class MonteCarloEstimate(NamedTuple):
    """A Monte Carlo estimate with its standard error (sample standard deviation over sqrt(N))."""

    value: torch.Tensor
    stderr: torch.Tensor


def monte_carlo_kl(
    p: dist.Distribution, q: dist.Distribution, N: int = 500, *, estimator: str = "plain"
) -> MonteCarloEstimate:
    r"""Monte Carlo KL(p || q) with its standard error; ``estimator`` is ``"plain"``
    (:math:`\log p - \log q`) or ``"k3"`` (:math:`(r-1) - \log r`), both evaluated from log densities."""
    N = check_num_points(N, minimum=1)
    if estimator not in ("plain", "k3"):
        raise ValueError(f"estimator must be 'plain' or 'k3', got {estimator!r}")
    with torch.no_grad():
        x = p.sample((N,))
        lp = p.log_prob(x)
        lq, _ = _masked_log_prob(q, x)
        log_ratio = lp - lq  # log p/q
        terms = log_ratio if estimator == "plain" else torch.expm1(-log_ratio) + log_ratio
        value = terms.mean(dim=0)
        stderr = terms.std(dim=0) / N**0.5 if N > 1 else torch.full_like(value, float("nan"))
    return MonteCarloEstimate(value, stderr)


def _batch_shape(*ds: dist.Distribution) -> torch.Size:
    shape: torch.Size = torch.broadcast_shapes(*(d.batch_shape for d in ds))
    return shape


def _float_dtype(*values: Any) -> torch.dtype:
    dtype = torch.get_default_dtype()
    found = False
    for v in values:
        tensors: list[torch.Tensor] = []
        if isinstance(v, torch.Tensor):
            tensors = [v]
        elif isinstance(v, dist.Distribution):
            tensors = [t for t in vars(v).values() if isinstance(t, torch.Tensor)]
            if isinstance(v, (dist.MixtureSameFamily, dist.TransformedDistribution, dist.Independent)):
                inner = getattr(v, "base_dist", None) or getattr(v, "component_distribution", None)
                if inner is not None:
                    tensors += [t for t in vars(inner).values() if isinstance(t, torch.Tensor)]
        for t in tensors:
            if t.is_floating_point():
                dtype = t.dtype if not found else torch.promote_types(dtype, t.dtype)
                found = True
    return dtype
