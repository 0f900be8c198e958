"""Hypothesis strategies for the lecture's inputs: distributions, distribution pairs, windows, variational
parameters and seeds.

Parameters are drawn as float32-representable numbers, so a counterexample prints exactly as the
tensors it was run with. Every strategy takes keyword-only ``min_*``/``max_*`` bounds.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.distributions as dist
from hypothesis import strategies as st

__all__ = [
    "floats32",
    "seeds",
    "normals",
    "laplaces",
    "gammas",
    "betas",
    "normal_mixtures",
    "real_line_distributions",
    "distribution_pairs",
    "variational_params",
    "unit_interval_points",
]


def floats32(min_value: float, max_value: float) -> st.SearchStrategy[float]:
    """Finite float32-representable floats in [min_value, max_value] (bounds rounded inwards to float32)."""
    # composite strategies ask for one at every draw: the same bounds get the same strategy (the object
    # st.floats' own cache would return, after a costlier lookup); the signs tell -0.0 from 0.0 in the key
    return _floats32(min_value, max_value, math.copysign(1.0, min_value), math.copysign(1.0, max_value))


@functools.lru_cache(maxsize=1024)
def _floats32(min_value: float, max_value: float, *signs: float) -> st.SearchStrategy[float]:
    lo, hi = np.float32(min_value), np.float32(max_value)
    if float(lo) < min_value:
        lo = np.nextafter(lo, np.float32(np.inf))
    if float(hi) > max_value:
        hi = np.nextafter(hi, np.float32(-np.inf))
    return st.floats(float(lo), float(hi), allow_nan=False, allow_infinity=False, width=32)


def seeds() -> st.SearchStrategy[int]:
    """Seeds for torch's generator, one per example, so every example is reproducible."""
    return st.integers(min_value=0, max_value=2**31 - 1)


def _t(x: float, dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor(x, dtype=dtype)


@st.composite
def normals(
    draw: st.DrawFn,
    *,
    min_loc: float = -5.0,
    max_loc: float = 5.0,
    min_scale: float = 0.3,
    max_scale: float = 3.0,
    dtype: torch.dtype = torch.float32,
) -> dist.Normal:
    return dist.Normal(_t(draw(floats32(min_loc, max_loc)), dtype), _t(draw(floats32(min_scale, max_scale)), dtype))


@st.composite
def laplaces(
    draw: st.DrawFn,
    *,
    min_loc: float = -3.0,
    max_loc: float = 3.0,
    min_scale: float = 0.3,
    max_scale: float = 2.0,
    dtype: torch.dtype = torch.float32,
) -> dist.Laplace:
    return dist.Laplace(_t(draw(floats32(min_loc, max_loc)), dtype), _t(draw(floats32(min_scale, max_scale)), dtype))


@st.composite
def gammas(
    draw: st.DrawFn,
    *,
    min_concentration: float = 2.0,
    max_concentration: float = 8.0,
    min_rate: float = 0.5,
    max_rate: float = 3.0,
    dtype: torch.dtype = torch.float32,
) -> dist.Gamma:
    """Gamma with shape >= 2 by default: a density that is C^1 at 0, as the quadrature bounds need."""
    k = draw(floats32(min_concentration, max_concentration))
    return dist.Gamma(_t(k, dtype), _t(draw(floats32(min_rate, max_rate)), dtype))


@st.composite
def betas(
    draw: st.DrawFn,
    *,
    min_concentration: float = 2.0,
    max_concentration: float = 8.0,
    dtype: torch.dtype = torch.float32,
) -> dist.Beta:
    a = draw(floats32(min_concentration, max_concentration))
    b = draw(floats32(min_concentration, max_concentration))
    return dist.Beta(_t(a, dtype), _t(b, dtype))


@st.composite
def normal_mixtures(
    draw: st.DrawFn,
    *,
    min_loc: float = -3.0,
    max_loc: float = 5.0,
    min_scale: float = 0.4,
    max_scale: float = 1.5,
    min_weight: float = 0.1,
    dtype: torch.dtype = torch.float32,
) -> dist.MixtureSameFamily:
    """Two-component Normal mixtures, like the lecture's 0.4 N(-1, 0.75^2) + 0.6 N(4, 0.5^2)."""
    w = draw(floats32(min_weight, 1 - min_weight))
    locs = [draw(floats32(min_loc, max_loc)) for _ in range(2)]
    scales = [draw(floats32(min_scale, max_scale)) for _ in range(2)]
    return dist.MixtureSameFamily(
        dist.Categorical(torch.tensor([w, 1 - w], dtype=dtype)),
        dist.Normal(torch.tensor(locs, dtype=dtype), torch.tensor(scales, dtype=dtype)),
    )


def real_line_distributions(*, dtype: torch.dtype = torch.float32) -> st.SearchStrategy[dist.Distribution]:
    """Normal, Laplace or two-component Normal mixture."""
    return st.one_of(normals(dtype=dtype), laplaces(dtype=dtype), normal_mixtures(dtype=dtype))


@st.composite
def distribution_pairs(
    draw: st.DrawFn, *, families: tuple[str, ...] = ("real", "positive", "unit"), dtype: torch.dtype = torch.float32
) -> tuple[dist.Distribution, dist.Distribution]:
    """(p, q) with the same support: both on the real line, both Gamma, or both Beta."""
    family = draw(st.sampled_from(families))
    if family == "positive":
        return draw(gammas(dtype=dtype)), draw(gammas(dtype=dtype))
    if family == "unit":
        return draw(betas(dtype=dtype)), draw(betas(dtype=dtype))
    return draw(real_line_distributions(dtype=dtype)), draw(real_line_distributions(dtype=dtype))


@st.composite
def variational_params(
    draw: st.DrawFn, *, min_mu: float = -3.0, max_mu: float = 3.0, min_sigma: float = 0.1, max_sigma: float = 2.0
) -> tuple[float, float]:
    """(mu, sigma) of the variational Normal, in the domain the coin-model properties are stated for."""
    return draw(floats32(min_mu, max_mu)), draw(floats32(min_sigma, max_sigma))


def unit_interval_points(*, min_value: float = 0.01, max_value: float = 0.99) -> st.SearchStrategy[float]:
    return floats32(min_value, max_value)
