"""Evaluating a distribution only inside its support (private).

A validating ``torch.distributions`` object raises on points outside its support; the reference instead
evaluates at a placeholder inside the support there and masks the result.
"""

from __future__ import annotations

import torch
import torch.distributions as dist
from torch.distributions import constraints

__all__: list[str] = []


def support_of(d: dist.Distribution) -> constraints.Constraint:
    support = d.support
    if support is None:
        raise ValueError(f"{type(d).__name__} has no support")
    return support


def inside_support(d: dist.Distribution, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask of the points inside the support, x with the other points replaced by a point inside it)."""
    support = support_of(d)
    inside = support.check(x)
    if not isinstance(inside, torch.Tensor):
        inside = torch.as_tensor(inside)
    inside = inside.expand(torch.broadcast_shapes(inside.shape, x.shape))
    if bool(inside.all()):
        return inside, x
    placeholder = dist.transform_to(support)(torch.zeros((), dtype=x.dtype))
    return inside, torch.where(inside, x, placeholder)
