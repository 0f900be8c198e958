"""Per property, which contract functions its calls reached: the trace of its last example.

The implementation counts the contract functions each call reaches (traced where the code runs, see
``vicheck.sandbox._child.Tracer``); here the count is restarted before every example Hypothesis runs, by
wrapping the test's ``hypothesis.inner_test`` (the hook Hypothesis offers plugins for that), so that what is
left when the property ends is the trace of its last example. For a failing property that is the final,
shrunk, failing example: Hypothesis replays it last, to raise its error, and the reported ``message`` comes
from that replay. A property without Hypothesis is one example.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

from vicheck.implementation import Implementation

__all__ = ["start_trace", "traced"]

#: the implementation whose trace the examples restart (the one the property running now calls)
_current: list[Implementation | None] = [None]


def start_trace(item: pytest.Function, implementation: Implementation) -> None:
    """Before a property runs: start its trace, and restart it before each of its Hypothesis examples."""
    _current[0] = implementation
    implementation.reset_reached()
    handle = getattr(getattr(item, "obj", None), "hypothesis", None)
    inner = getattr(handle, "inner_test", None)
    if handle is None or inner is None or getattr(inner, "_vicheck_traced", False):
        return
    handle.inner_test = _restarting(inner)


def _restarting(inner: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(inner)
    def example(*args: Any, **kwargs: Any) -> Any:
        implementation = _current[0]
        if implementation is not None:
            implementation.reset_reached()
        return inner(*args, **kwargs)

    example._vicheck_traced = True  # type: ignore[attr-defined]
    return example


def traced(implementation: Implementation | None) -> dict[str, int]:
    """The trace of the property that just ran (its last example's), ``{contract name: calls}``."""
    return implementation.reached() if implementation is not None else {}
