"""Short one-line descriptions of call arguments, for messages such as
``kl_divergence_2(Normal(loc=0.0, scale=1.0), Normal(loc=30.0, scale=1.0), N=1000)``."""

from __future__ import annotations

from typing import Any

import torch
import torch.distributions as dist

__all__ = ["describe", "describe_call"]

MAX_CALL = 300


def _num(x: float | int | bool) -> str:
    if isinstance(x, bool) or isinstance(x, int):
        return str(x)
    s = f"{x:.6g}"
    return s + ".0" if s.lstrip("-").isdigit() else s


def _values(t: torch.Tensor, top: bool) -> str:
    """A tensor's values when it is small, else its shape and dtype."""
    # no detach(): item() and tolist() read a tensor that requires grad as well, and this runs for every
    # tensor argument of every call into a submission
    if t.dim() == 0 and not t.is_complex():
        return f"tensor({_num(t.item())})" if top else _num(t.item())
    if t.numel() <= 4 and t.dim() == 1 and not t.is_complex():
        return f"tensor([{', '.join(_num(v) for v in t.tolist())}])"
    return f"tensor(shape={tuple(t.shape)}, {str(t.dtype).removeprefix('torch.')})"


def _param(v: Any) -> str:
    return _values(v, top=False) if isinstance(v, torch.Tensor) else describe(v)


def describe(obj: Any, depth: int = 0) -> str:
    """A short, one-line, never-raising description of ``obj``."""
    try:
        return _describe(obj, depth)
    except Exception:
        return type(obj).__name__


def _describe(obj: Any, depth: int) -> str:
    label = getattr(type(obj), "_describe_label", None)
    if label is not None:  # RemoteObject
        return str(label(obj))
    if obj is None or isinstance(obj, (bool, int, float)):
        return _num(obj) if isinstance(obj, float) else repr(obj)
    if isinstance(obj, str):
        return repr(obj) if len(obj) <= 40 else repr(obj[:37] + "...")
    if isinstance(obj, torch.Tensor):
        return _values(obj, top=True)
    if depth > 3:
        return "..."
    if isinstance(obj, (list, tuple)):
        inner = ", ".join(describe(x, depth + 1) for x in obj[:6]) + (", ..." if len(obj) > 6 else "")
        return f"[{inner}]" if isinstance(obj, list) else f"({inner}{',' if len(obj) == 1 else ''})"
    if isinstance(obj, dist.TransformedDistribution):
        return f"TransformedDistribution({describe(obj.base_dist, depth + 1)}, {describe(obj.transforms, depth + 1)})"
    if isinstance(obj, dist.MixtureSameFamily):
        mix, comp = obj.mixture_distribution, obj.component_distribution
        return f"MixtureSameFamily({describe(mix, depth + 1)}, {describe(comp, depth + 1)})"
    if isinstance(obj, dist.Distribution):
        params = [k for k in obj.arg_constraints if k in obj.__dict__]
        return f"{type(obj).__name__}({', '.join(f'{k}={_param(obj.__dict__[k])}' for k in params)})"
    if isinstance(obj, dist.transforms._InverseTransform):
        return f"{describe(obj.inv, depth + 1)}.inv"
    if isinstance(obj, dist.transforms.ComposeTransform):
        return f"ComposeTransform({describe(obj.parts, depth + 1)})"
    if isinstance(obj, dist.transforms.AffineTransform):
        return f"AffineTransform(loc={_param(obj.loc)}, scale={_param(obj.scale)})"
    if isinstance(obj, dist.transforms.Transform):
        return f"{type(obj).__name__}()"
    if callable(obj):
        return str(getattr(obj, "__name__", type(obj).__name__))
    return f"{type(obj).__name__}(...)"


def describe_call(label: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """``label(arg, ..., key=value)`` with every argument described, at most about 300 characters."""
    parts = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()]
    text = f"{label}({', '.join(parts)})"
    return text if len(text) <= MAX_CALL else text[: MAX_CALL - 4] + "...)"
