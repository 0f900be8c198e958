r"""Independent exact values: closed forms, torch.distributions in float64, scipy, and a composite
Gauss--Legendre rule with an error estimate. Nothing here comes from ``reference``."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.distributions as dist
from scipy import special, stats

from ._memo import oracle_cache

__all__ = [
    "LOG_EVIDENCE",
    "as_float64",
    "quad",
    "kl_exact",
    "kl_window",
    "log_ratio_moments",
    "window",
    "cdf",
    "logit_beta_log_prob",
    "coin_log_joint",
    "mixture_moments",
    "density_derivative",
]

#: log p(flips) = log B(3, 4) = log(1/60)
LOG_EVIDENCE = float(special.betaln(3.0, 4.0))


def as_float64(d: dist.Distribution) -> dist.Distribution:
    """The same distribution with float64 parameters (validation off), for oracle computations."""
    f = functools.partial(torch.as_tensor, dtype=torch.float64)
    if isinstance(d, dist.Normal):
        return dist.Normal(f(d.loc), f(d.scale), validate_args=False)
    if isinstance(d, dist.Laplace):
        return dist.Laplace(f(d.loc), f(d.scale), validate_args=False)
    if isinstance(d, dist.Gamma):
        return dist.Gamma(f(d.concentration), f(d.rate), validate_args=False)
    if isinstance(d, dist.Beta):
        return dist.Beta(f(d.concentration1), f(d.concentration0), validate_args=False)
    if isinstance(d, dist.Uniform):
        return dist.Uniform(f(d.low), f(d.high), validate_args=False)
    if isinstance(d, dist.MixtureSameFamily):
        return dist.MixtureSameFamily(
            dist.Categorical(probs=f(d.mixture_distribution.probs), validate_args=False),
            as_float64(d.component_distribution),
            validate_args=False,
        )
    if isinstance(d, dist.TransformedDistribution):
        return dist.TransformedDistribution(as_float64(d.base_dist), list(d.transforms), validate_args=False)
    raise TypeError(f"no float64 oracle for {type(d).__name__}")


@functools.lru_cache(maxsize=8)
def _legendre(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    t, w = np.polynomial.legendre.leggauss(n)
    return torch.as_tensor(t, dtype=torch.float64), torch.as_tensor(w, dtype=torch.float64)


def quad(f: Callable[[torch.Tensor], torch.Tensor], a: float, b: float, panels: int = 256) -> float:
    """Composite 20-point Gauss--Legendre on ``panels`` equal panels (float64). Its error on the smooth
    integrands used here is checked against 2x the panels in tests/test_oracles.py."""
    t, w = _legendre(20)
    edges = torch.linspace(a, b, panels + 1, dtype=torch.float64)
    lo, hi = edges[:-1, None], edges[1:, None]
    x = (lo + hi) / 2 + (hi - lo) / 2 * t
    y = f(x.reshape(-1)).reshape(x.shape)
    y = torch.where(torch.isfinite(y), y, torch.zeros((), dtype=torch.float64))
    return float(((hi - lo) / 2 * w * y).sum())


def _integrand(p: dist.Distribution, q: dist.Distribution) -> Callable[[torch.Tensor], torch.Tensor]:
    p64, q64 = as_float64(p), as_float64(q)

    def f(x: torch.Tensor) -> torch.Tensor:
        lp = p64.log_prob(x)
        lq = q64.log_prob(x)
        return torch.where(lp > -745, torch.exp(lp) * (lp - lq), torch.zeros((), dtype=torch.float64))

    return f


def kl_window(p: dist.Distribution, q: dist.Distribution, a: float, b: float) -> float:
    """:math:`\\int_a^b p\\log(p/q)` in float64."""
    return quad(_integrand(p, q), a, b)


@oracle_cache
def kl_exact(p: dist.Distribution, q: dist.Distribution) -> float:
    """KL(p || q): torch's closed form in float64 where it is registered, else quadrature over p's
    1e-15..1-1e-15 quantile range."""
    p64, q64 = as_float64(p), as_float64(q)
    try:
        return float(dist.kl_divergence(p64, q64))
    except NotImplementedError:
        lo, hi = window(p, 1e-15)
        return kl_window(p, q, lo, hi)


@oracle_cache
def log_ratio_moments(p: dist.Distribution, q: dist.Distribution) -> tuple[float, float]:
    """(mean, standard deviation) of :math:`\\log p(X) - \\log q(X)`, :math:`X\\sim p`, by quadrature."""
    p64, q64 = as_float64(p), as_float64(q)
    lo, hi = window(p, 1e-15)

    def second(x: torch.Tensor) -> torch.Tensor:
        lp = p64.log_prob(x)
        return torch.exp(lp) * (lp - q64.log_prob(x)) ** 2

    m1 = kl_window(p, q, lo, hi)
    m2 = quad(second, lo, hi)
    return m1, math.sqrt(max(m2 - m1 * m1, 0.0))


def _scipy(d: dist.Distribution) -> stats.rv_continuous | None:
    g = lambda t: float(t)  # noqa: E731
    if isinstance(d, dist.Normal):
        return stats.norm(g(d.loc), g(d.scale))
    if isinstance(d, dist.Laplace):
        return stats.laplace(g(d.loc), g(d.scale))
    if isinstance(d, dist.Gamma):
        return stats.gamma(g(d.concentration), scale=1 / g(d.rate))
    if isinstance(d, dist.Beta):
        return stats.beta(g(d.concentration1), g(d.concentration0))
    if isinstance(d, dist.Uniform):
        return stats.uniform(g(d.low), g(d.high) - g(d.low))
    return None


@oracle_cache
def cdf(d: dist.Distribution, x: float) -> float:
    """P(X <= x) from scipy (mixtures: the weighted sum of the components' cdfs)."""
    if isinstance(d, dist.MixtureSameFamily):
        w = d.mixture_distribution.probs.double().tolist()
        comp = d.component_distribution
        return sum(wi * cdf(_component(comp, i), x) for i, wi in enumerate(w))
    s = _scipy(d)
    if s is None:
        raise TypeError(f"no cdf oracle for {type(d).__name__}")
    return float(s.cdf(x))


def _component(d: dist.Distribution, i: int) -> dist.Distribution:
    if isinstance(d, dist.Normal):
        return dist.Normal(d.loc[i], d.scale[i])
    raise TypeError(f"mixtures of {type(d).__name__} are not supported")


@oracle_cache
def window(d: dist.Distribution, tail: float) -> tuple[float, float]:
    """The (tail, 1 - tail) quantiles of ``d``: an interval holding all but 2*tail of its mass."""
    if isinstance(d, dist.MixtureSameFamily):
        comp = d.component_distribution
        k = comp.batch_shape[-1]
        parts = [window(_component(comp, i), tail / k) for i in range(k)]
        return min(p[0] for p in parts), max(p[1] for p in parts)
    s = _scipy(d)
    if s is None:
        raise TypeError(f"no quantiles for {type(d).__name__}")
    return float(s.ppf(tail)), float(s.isf(tail))


def logit_beta_log_prob(y: torch.Tensor, a: float, b: float) -> torch.Tensor:
    r"""Density of :math:`\operatorname{logit}X`, :math:`X\sim\mathrm{Beta}(a,b)`:
    :math:`a\log\sigma(y) + b\log\sigma(-y) - \log B(a,b)`."""
    y = y.double()
    return -a * torch.nn.functional.softplus(-y) - b * torch.nn.functional.softplus(y) - float(special.betaln(a, b))


def coin_log_joint(x: torch.Tensor) -> torch.Tensor:
    """Unconstrained log joint of the coin model: 3 log sigma(x) + 4 log sigma(-x) (flips 0,1,1,0,0)."""
    return logit_beta_log_prob(x, 3.0, 4.0) + LOG_EVIDENCE


def mixture_moments(d: dist.MixtureSameFamily) -> tuple[float, float]:
    """(mean, standard deviation) of a Normal mixture, exactly."""
    comp: Any = d.component_distribution
    w = d.mixture_distribution.probs.double()
    m = comp.loc.double()
    s = comp.scale.double()
    mean = float((w * m).sum())
    var = float((w * (s**2 + m**2)).sum()) - mean**2
    return mean, math.sqrt(var)


def density_derivative(d: dist.Distribution, x: torch.Tensor) -> torch.Tensor:
    r"""Analytic :math:`p'(x) = p(x)\,\frac{d}{dx}\log p(x)` for Normal, Gamma, Beta, Laplace (float64)."""
    x = x.double()
    d64: Any = as_float64(d)
    p = torch.exp(d64.log_prob(x))
    if isinstance(d, dist.Normal):
        return p * -(x - d64.loc) / d64.scale**2
    if isinstance(d, dist.Gamma):
        return p * ((d64.concentration - 1) / x - d64.rate)
    if isinstance(d, dist.Beta):
        return p * ((d64.concentration1 - 1) / x - (d64.concentration0 - 1) / (1 - x))
    if isinstance(d, dist.Laplace):
        return p * -torch.sign(x - d64.loc) / d64.scale
    raise TypeError(f"no analytic derivative for {type(d).__name__}")
