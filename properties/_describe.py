"""Readable, paste-able descriptions of property inputs (distributions, tensors, numbers)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.distributions as dist
from torch.distributions import transforms as tr

__all__ = ["describe", "describe_call", "fmt"]


def fmt(value: Any) -> str:
    """A number in its shortest exact form for its dtype (float32 values print as typed: 1.2, not 1.2000000476)."""
    if isinstance(value, torch.Tensor):
        if value.numel() == 1:
            # item() reads a one-element tensor of any shape, device or grad (one torch call, not four)
            x = value.item()
            return str(np.float32(x)) if value.dtype == torch.float32 else repr(x)
        return _tensor(value)
    if isinstance(value, float):
        return repr(value)
    return repr(value)


def _tensor(t: torch.Tensor) -> str:
    t = t.detach().cpu()
    if t.numel() > 8:
        head = ", ".join(fmt(x) for x in t.reshape(-1)[:4])
        return f"tensor([{head}, ...], shape={tuple(t.shape)}, dtype={str(t.dtype).replace('torch.', '')})"
    body = ", ".join(fmt(x) for x in t.reshape(-1))
    suffix = "" if t.dtype == torch.float32 else f", dtype=torch.{str(t.dtype).replace('torch.', '')}"
    shape = "" if t.dim() <= 1 else f".reshape{tuple(t.shape)}"
    return f"tensor([{body}]{suffix}){shape}" if t.dim() else f"tensor({body}{suffix})"


_PARAMS: dict[type, tuple[str, ...]] = {
    dist.Normal: ("loc", "scale"),
    dist.Laplace: ("loc", "scale"),
    dist.Gamma: ("concentration", "rate"),
    dist.Beta: ("concentration1", "concentration0"),
    dist.Uniform: ("low", "high"),
    dist.Exponential: ("rate",),
}


def describe(obj: Any) -> str:
    """``Normal(loc=0.5, scale=1.2)``-style text for distributions and transforms, ``fmt`` for numbers."""
    if isinstance(obj, dist.MixtureSameFamily):
        w = obj.mixture_distribution.probs
        return f"MixtureSameFamily(Categorical(probs={fmt(w)}), {describe(obj.component_distribution)})"
    if isinstance(obj, dist.TransformedDistribution):
        ts = ", ".join(describe(t) for t in obj.transforms)
        return f"TransformedDistribution({describe(obj.base_dist)}, [{ts}])"
    for cls, names in _PARAMS.items():
        if type(obj) is cls:
            args = ", ".join(f"{n}={fmt(getattr(obj, n))}" for n in names)
            return f"{cls.__name__}({args})"
    if isinstance(obj, tr.AffineTransform):
        return f"AffineTransform(loc={fmt(obj.loc)}, scale={fmt(obj.scale)})"
    if isinstance(obj, tr._InverseTransform):
        return f"{describe(obj.inv)}.inv"
    if isinstance(obj, tr.Transform):
        return f"{type(obj).__name__}()"
    if isinstance(obj, (torch.Tensor, float, int)):
        return fmt(obj)
    if isinstance(obj, (tuple, list)):
        inner = ", ".join(describe(x) for x in obj)
        return f"({inner})" if isinstance(obj, tuple) else f"[{inner}]"
    if callable(obj):
        doc = (getattr(obj, "__doc__", None) or "").strip()
        return doc.splitlines()[0] if doc else str(getattr(obj, "__name__", "f"))
    return repr(obj)


def describe_call(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"
