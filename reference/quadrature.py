r"""Quadrature rules on a finite interval and against a Gaussian weight.

The lecture integrates with the trapezoid rule on ``N`` equally spaced points,

.. math::
    \int_a^b f(x)\,dx \approx h\Big(\sum_{i=0}^{N-1} f(x_i) - \tfrac12 f(x_0) - \tfrac12 f(x_{N-1})\Big),
    \qquad x_i = a + i h,\; h = \frac{b-a}{N-1},

whose error is :math:`-\frac{(b-a)h^2}{12} f''(\xi)` for :math:`f \in C^2` (Atkinson, *An Introduction
to Numerical Analysis*, 2nd ed., eq. 5.1.7) and is at most :math:`\frac{h^2}{8} V_a^b(f')` when
:math:`f'` is of bounded variation (Cruz-Uribe and Neugebauer, JIPAM 3(4), 2002, Thm. 1).

Where the reference needs accurate values it uses Gauss--Legendre (exact for polynomials of degree
:math:`2N-1`) or Gauss--Hermite against a Gaussian weight (Abramowitz and Stegun 25.4.46).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ._validation import check_interval, check_num_points, check_positive, result_dtype

__all__ = [
    "integrate",
    "integrate_simpson",
    "integrate_gauss_legendre",
    "log_integrate",
    "gauss_hermite_expectation",
    "uniform_grid",
]


def uniform_grid(a: Any, b: Any, N: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    r"""``N`` equally spaced points from ``a`` to ``b`` along a new leading dimension.

    ``a`` and ``b`` may be tensors of any (broadcastable) batch shape: the result has shape
    ``(N, *batch)`` with :math:`x_i = a + \frac{i}{N-1}(b - a)`.
    """
    dtype = dtype or result_dtype(a, b)
    t = torch.linspace(0.0, 1.0, N, dtype=dtype)
    ta = torch.as_tensor(a, dtype=dtype)
    tb = torch.as_tensor(b, dtype=dtype)
    batch = torch.broadcast_shapes(ta.shape, tb.shape)
    t = t.reshape((N,) + (1,) * len(batch))
    # a + t (b - a) keeps both end points exact (t = 0 and t = 1 are exact in every dtype).
    return ta + t * (tb - ta)


def integrate(func: Callable[[torch.Tensor], torch.Tensor], a: Any, b: Any, N: int = 500) -> torch.Tensor:
    r"""Trapezoid rule :math:`\int_a^b f(x)\,dx` on ``N`` equally spaced points (the lecture's rule).

    ``func`` receives all ``N`` points at once, as a tensor of shape ``(N, *batch)`` where ``batch`` is the
    broadcast shape of ``a`` and ``b``; the result has shape ``batch`` and the dtype of ``func``'s output.
    Raises ``ValueError`` for ``N < 2`` or ``a >= b``.
    """
    N = check_num_points(N)
    check_interval(a, b)
    x = uniform_grid(a, b, N)
    y = func(x)
    return _trapezoid(y, x)


def _step(x: torch.Tensor) -> torch.Tensor:
    """Grid spacing (b - a) / (N - 1), from the end points: x[1] - x[0] would carry the rounding of x[1]."""
    return (x[-1] - x[0]) / (x.shape[0] - 1)


def _trapezoid(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    h = _step(x).to(y.dtype)
    return h * (y.sum(dim=0) - 0.5 * (y[0] + y[-1]))


def integrate_simpson(func: Callable[[torch.Tensor], torch.Tensor], a: Any, b: Any, N: int = 501) -> torch.Tensor:
    r"""Composite Simpson rule on ``N`` points (``N`` odd, an even number of panels), error
    :math:`-\frac{(b-a)h^4}{180} f^{(4)}(\xi)` (Atkinson eq. 5.1.17)."""
    N = check_num_points(N, minimum=3)
    if N % 2 == 0:
        raise ValueError(f"N must be odd for Simpson's rule, got {N}")
    check_interval(a, b)
    x = uniform_grid(a, b, N)
    y = func(x)
    h = _step(x).to(y.dtype)
    return h / 3 * (y[0] + y[-1] + 4 * y[1:-1:2].sum(dim=0) + 2 * y[2:-1:2].sum(dim=0))


@functools.lru_cache(maxsize=64)
def _legendre(N: int) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.legendre.leggauss(N)
    return nodes, weights


@functools.lru_cache(maxsize=64)
def _hermite(N: int) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.hermite.hermgauss(N)
    return nodes, weights


def integrate_gauss_legendre(func: Callable[[torch.Tensor], torch.Tensor], a: Any, b: Any, N: int = 64) -> torch.Tensor:
    r"""Gauss--Legendre rule :math:`\frac{b-a}{2}\sum_i w_i f\big(\frac{a+b}{2} + \frac{b-a}{2}t_i\big)`,
    exact for polynomials of degree :math:`\le 2N-1`. Batched like :func:`integrate`."""
    N = check_num_points(N, minimum=1)
    check_interval(a, b)
    dtype = result_dtype(a, b)
    t_np, w_np = _legendre(N)
    ta = torch.as_tensor(a, dtype=dtype)
    tb = torch.as_tensor(b, dtype=dtype)
    batch = torch.broadcast_shapes(ta.shape, tb.shape)
    t = torch.as_tensor(t_np, dtype=dtype).reshape((N,) + (1,) * len(batch))
    w = torch.as_tensor(w_np, dtype=dtype).reshape((N,) + (1,) * len(batch))
    half = (tb - ta) / 2
    y = func((ta + tb) / 2 + half * t)
    return half.to(y.dtype) * (w.to(y.dtype) * y).sum(dim=0)


def gauss_hermite_expectation(
    func: Callable[[torch.Tensor], torch.Tensor], loc: Any, scale: Any, N: int = 64
) -> torch.Tensor:
    r"""Gauss--Hermite rule for :math:`\mathbb{E}_{X\sim\mathcal N(\mu,\sigma^2)}[f(X)]
    \approx \pi^{-1/2}\sum_i w_i f(\mu + \sqrt2\,\sigma t_i)` (Abramowitz and Stegun 25.4.46).

    ``loc`` and ``scale`` may be batched; ``func`` gets the nodes with shape ``(N, *batch)``.
    """
    N = check_num_points(N, minimum=1)
    check_positive("scale", scale)
    dtype = result_dtype(loc, scale)
    t_np, w_np = _hermite(N)
    mu = torch.as_tensor(loc, dtype=dtype)
    sigma = torch.as_tensor(scale, dtype=dtype)
    batch = torch.broadcast_shapes(mu.shape, sigma.shape)
    t = torch.as_tensor(t_np, dtype=dtype).reshape((N,) + (1,) * len(batch))
    w = torch.as_tensor(w_np / np.sqrt(np.pi), dtype=dtype).reshape((N,) + (1,) * len(batch))
    y = func(mu + np.sqrt(2.0) * sigma * t)
    return (w.to(y.dtype) * y).sum(dim=0)


def log_integrate(log_func: Callable[[torch.Tensor], torch.Tensor], a: Any, b: Any, N: int = 500) -> torch.Tensor:
    r""":math:`\log\int_a^b e^{g(x)}dx` by the trapezoid rule evaluated in log space,

    .. math:: \log h + \operatorname{logsumexp}_i\big(g(x_i) + \log c_i\big),\quad c_0 = c_{N-1} = \tfrac12,\ c_i = 1,

    so that integrands far below the smallest normal float do not underflow.
    """
    N = check_num_points(N)
    check_interval(a, b)
    x = uniform_grid(a, b, N)
    g = log_func(x)
    log_c = torch.zeros((N,) + (1,) * (g.dim() - 1), dtype=g.dtype)
    log_c[0] = log_c[-1] = float(np.log(0.5))
    h = _step(x).to(g.dtype)
    return torch.log(h) + torch.logsumexp(g + log_c, dim=0)
