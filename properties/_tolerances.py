r"""Tolerances, each derived from the computation the property asks for.

* Trapezoid rule: :math:`|E| \le \frac{h^2}{8} V_a^b(f')` for :math:`f'` of bounded variation
  (Cruz-Uribe and Neugebauer, JIPAM 3(4), 2002, Thm. 1); :math:`V(f')` is measured on a fine float64
  grid. Any rule of order :math:`\ge 2` (Simpson, Gauss) meets the same bound on smooth integrands.
* Rounding: a float computation of :math:`k` operations per point carries relative error
  :math:`\lesssim k\,\varepsilon` per point (Higham, *Accuracy and Stability of Numerical Algorithms*,
  2nd ed., sec. 3.1); summing :math:`N` terms adds :math:`\lceil\log_2 N\rceil\varepsilon` for pairwise
  summation (ibid. sec. 4.2). We allow :data:`OPS_PER_POINT` operations.
* Monte Carlo: by the central limit theorem the mean of :math:`N` draws is within
  :math:`z_{\alpha}\,\sigma/\sqrt N` of its expectation with probability :math:`1-\alpha`, where
  :math:`\alpha` is the per-check share of the run's false-alarm budget :data:`FALSE_ALARM_PER_RUN`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from scipy import stats

__all__ = [
    "EPS",
    "FALSE_ALARM_PER_RUN",
    "MAX_STATISTICAL_CHECKS",
    "ALPHA",
    "Z",
    "OPS_PER_POINT",
    "eps",
    "trapezoid_bound",
    "rounding_bound",
    "clt_bound",
    "variance_ratio_bounds",
]

EPS = {torch.float32: float(torch.finfo(torch.float32).eps), torch.float64: float(torch.finfo(torch.float64).eps)}

#: The false-alarm probability a whole run of the suite may have (a correct implementation failing).
FALSE_ALARM_PER_RUN = 1e-6
#: Upper bound on the statistical checks of one run (examples x checks of every Monte Carlo property under
#: the grade profile); tests/properties/test_meta.py recounts it from the registry.
MAX_STATISTICAL_CHECKS = 2000
#: Per-check false-alarm probability (Bonferroni): 5e-10.
ALPHA = FALSE_ALARM_PER_RUN / MAX_STATISTICAL_CHECKS
#: Two-sided normal quantile for ALPHA: about 6.2.
Z = float(stats.norm.isf(ALPHA / 2))
#: Roundings allowed per evaluated point (grid point, log densities, exp, subtraction, product).
OPS_PER_POINT = 16


def eps(dtype: torch.dtype) -> float:
    return EPS.get(dtype, EPS[torch.float32])


def trapezoid_bound(f: Callable[[torch.Tensor], torch.Tensor], a: float, b: float, N: int) -> float:
    r""":math:`\frac{h^2}{8}V_a^b(f')` with :math:`h = (b-a)/(N-1)`; :math:`V(f')` from central differences
    on 20001 float64 points, times 1.25 for what the fine grid may miss between its points."""
    x = torch.linspace(a, b, 20001, dtype=torch.float64)
    y = f(x).detach().numpy()
    y = np.where(np.isfinite(y), y, 0.0)
    dy = np.gradient(y, x.numpy())
    variation = float(np.abs(np.diff(dy)).sum())
    h = (b - a) / (N - 1)
    return 1.25 * h * h / 8 * variation


def rounding_bound(dtype: torch.dtype, magnitude: float, N: int = 1) -> float:
    r"""Rounding allowance :math:`(k + \lceil\log_2 N\rceil)\,\varepsilon\cdot` ``magnitude``, where
    ``magnitude`` bounds the sum of the absolute sizes of everything rounded (e.g. :math:`\int |f|` plus
    the condition of each term)."""
    return (OPS_PER_POINT + math.ceil(math.log2(max(N, 2)))) * eps(dtype) * magnitude


def clt_bound(sigma: float, n: int, alpha: float = ALPHA) -> float:
    r""":math:`z_{\alpha/2}\,\sigma/\sqrt n`: the CLT half-width with false-alarm probability ``alpha``."""
    return float(stats.norm.isf(alpha / 2)) * sigma / math.sqrt(n)


def variance_ratio_bounds(k1: int, k2: int, alpha: float = ALPHA) -> tuple[float, float]:
    r"""Bounds on :math:`(s_1^2/\sigma_1^2)/(s_2^2/\sigma_2^2) \sim F(k_1-1, k_2-1)` for sample variances of
    ``k1`` and ``k2`` normal draws, two-sided with false-alarm probability ``alpha``."""
    lo = float(stats.f.ppf(alpha / 2, k1 - 1, k2 - 1))
    hi = float(stats.f.isf(alpha / 2, k1 - 1, k2 - 1))
    return lo, hi
