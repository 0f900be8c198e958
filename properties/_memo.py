"""A cache of oracle values, keyed by the example's exact values.

Under the derandomized profiles every submission that passes a property sees the same examples, so the
float64 oracles and tolerance bounds (quadrature, quantiles, the trapezoid bound's variation) would be
computed again for every student with the same result. :func:`oracle_cache` remembers them by the exact
bits of their arguments. ``vicheck grade``'s warm worker rehearses the suite on the reference before it
forks (see :mod:`vicheck.grading.run.warm`), so each fork finds the cache filled for the examples that a
passing submission meets; a failing one's shrunk examples are computed as before.

A cached value is the value the function returned for bit-identical arguments in the same process, so
it is the value a fresh computation gives (tests/properties/test_oracle_cache.py checks it against fresh computation
for every cached oracle). Arguments with no exact key (a closure, an unknown object) are never cached.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torch.distributions as dist

__all__ = ["oracle_cache", "cache_key", "Uncacheable", "CACHED", "clear"]

F = TypeVar("F", bound=Callable[..., Any])

#: values kept per function (least recently used first out): a grading run meets a few hundred examples
MAX_ENTRIES = 4096
#: every function wrapped by :func:`oracle_cache`, by qualified name (the tests check each one)
CACHED: dict[str, Callable[..., Any]] = {}


class Uncacheable(TypeError):
    """An argument whose exact value cannot be keyed."""


def _tensor_key(t: torch.Tensor) -> tuple[Any, ...]:
    t = t.detach()
    return ("tensor", str(t.dtype), tuple(t.shape), t.cpu().contiguous().numpy().tobytes())


def _distribution_key(d: dist.Distribution) -> tuple[Any, ...]:
    if isinstance(d, dist.MixtureSameFamily):
        parts: tuple[Any, ...] = (cache_key(d.mixture_distribution), cache_key(d.component_distribution))
    elif isinstance(d, dist.TransformedDistribution):
        parts = (cache_key(d.base_dist), tuple(_transform_key(t) for t in d.transforms))
    elif type(d).__module__.startswith("torch.distributions") and d.arg_constraints:
        parts = tuple((name, cache_key(getattr(d, name))) for name in sorted(d.arg_constraints))
    else:
        raise Uncacheable(type(d).__name__)
    return ("distribution", type(d).__qualname__, parts)


def _transform_key(t: dist.transforms.Transform) -> tuple[Any, ...]:
    if not type(t).__module__.startswith("torch.distributions"):
        raise Uncacheable(type(t).__name__)
    if isinstance(t, dist.transforms._InverseTransform):
        if t._inv is None:
            raise Uncacheable("an inverse transform without its transform")
        return ("inverse", _transform_key(t._inv))
    if isinstance(t, dist.transforms.ComposeTransform):
        return ("compose", tuple(_transform_key(p) for p in t.parts))
    fields = []
    for name, value in sorted(vars(t).items()):
        if isinstance(value, (torch.Tensor, int, float)) and not isinstance(value, bool):
            fields.append((name, cache_key(value)))
    return ("transform", type(t).__qualname__, getattr(t, "cache_size", 0), tuple(fields))


def cache_key(value: Any) -> Any:
    """A hashable key equal for two values exactly when they are bit-identical (``Uncacheable`` when
    there is no such key): floats by their bits (so -0.0 and 0.0, or two NaNs, are told apart or not as
    the arithmetic would), tensors by dtype, shape and bytes, distributions by their parameters."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("float", value.hex() if math.isfinite(value) else repr(value))
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(cache_key(v) for v in value))
    if isinstance(value, torch.dtype):
        return ("dtype", str(value))
    if isinstance(value, torch.Tensor):
        return _tensor_key(value)
    if isinstance(value, dist.Distribution):
        return _distribution_key(value)
    raise Uncacheable(type(value).__name__)


def oracle_cache(func: F) -> F:
    """Remember ``func``'s results by the exact bits of its arguments. ``func`` must be a pure function of
    them returning a float, a bool, a string, ``None`` or a tuple of these (nothing a caller could change)."""
    store: OrderedDict[Any, Any] = OrderedDict()

    @functools.wraps(func)
    def cached(*args: Any, **kwargs: Any) -> Any:
        try:
            key = (cache_key(args), cache_key(tuple(sorted(kwargs.items()))))
        except Uncacheable:
            return func(*args, **kwargs)
        if key in store:
            store.move_to_end(key)
            return store[key][0]
        value = func(*args, **kwargs)
        store[key] = (value, args, kwargs)  # the arguments too: the tests recompute every entry
        if len(store) > MAX_ENTRIES:
            store.popitem(last=False)
        return value

    cached.uncached = func  # type: ignore[attr-defined]
    cached.cache = store  # type: ignore[attr-defined]
    CACHED[f"{func.__module__}.{func.__qualname__}"] = cached
    return cached  # type: ignore[return-value]


def clear() -> None:
    """Forget every cached value."""
    for func in CACHED.values():
        func.cache.clear()  # type: ignore[attr-defined]
