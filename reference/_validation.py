"""Argument checks shared by the reference modules (private)."""

from __future__ import annotations

import math
from typing import Any

import torch

__all__: list[str] = []


def _as_float(name: str, value: Any) -> float:
    """The value as a Python float, for checks only (tensors of one element allowed)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got a tensor of shape {tuple(value.shape)}")
        return float(value.detach().reshape(()))
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def check_num_points(N: Any, *, minimum: int = 2) -> int:
    """N as an int, or ``ValueError`` naming ``N`` when it is not an integer >= minimum."""
    if isinstance(N, bool) or (not isinstance(N, (int, torch.Tensor)) and not hasattr(N, "__index__")):
        raise ValueError(f"N must be an integer >= {minimum}, got {N!r}")
    n = int(N)
    if n < minimum:
        raise ValueError(f"N must be an integer >= {minimum}, got {n}")
    return n


def check_interval(a: Any, b: Any) -> None:
    """``ValueError`` unless every a < b and both are finite."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        ta = torch.as_tensor(a)
        tb = torch.as_tensor(b)
        if not bool(torch.isfinite(ta).all()) or not bool(torch.isfinite(tb).all()):
            raise ValueError(f"integration limits must be finite, got a={a!r}, b={b!r}")
        if not bool((ta < tb).all()):
            raise ValueError(f"integration limits must satisfy a < b, got a={a!r}, b={b!r}")
        return
    fa, fb = _as_float("a", a), _as_float("b", b)
    if not (math.isfinite(fa) and math.isfinite(fb)):
        raise ValueError(f"integration limits must be finite, got a={fa!r}, b={fb!r}")
    if not fa < fb:
        raise ValueError(f"integration limits must satisfy a < b, got a={fa!r}, b={fb!r}")


def check_positive(name: str, value: Any) -> None:
    """``ValueError`` naming the argument unless every element is finite and > 0."""
    t = torch.as_tensor(value.detach() if isinstance(value, torch.Tensor) else value)
    if not bool(torch.isfinite(t).all()) or not bool((t > 0).all()):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")


def check_finite(name: str, value: Any) -> None:
    """``ValueError`` naming the argument unless every element is finite."""
    t = torch.as_tensor(value.detach() if isinstance(value, torch.Tensor) else value)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite, got {value!r}")


def result_dtype(*values: Any) -> torch.dtype:
    """The floating dtype torch's promotion gives these values (Python numbers -> default dtype)."""
    dtype = torch.get_default_dtype()
    tensors = [v for v in values if isinstance(v, torch.Tensor) and v.is_floating_point()]
    if tensors:
        dtype = tensors[0].dtype
        for t in tensors[1:]:
            dtype = torch.promote_types(dtype, t.dtype)
    return dtype
