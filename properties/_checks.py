"""Calling the implementation and judging what comes back.

:class:`PropertyFailure` is the one exception a property raises: it names the property's call, the
input, what was expected (with the tolerance and where it comes from) and what came back. Values from
the implementation are validated before use (number, shape, finiteness) and converted to plain float64
tensors or floats in this process.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from vicheck.implementation import Implementation, SubmissionProblem

from ._describe import describe_call, fmt

__all__ = ["PropertyFailure", "Note", "Caller", "check_close", "check_at_least", "check_at_most", "check"]


class PropertyFailure(AssertionError):
    """A property did not hold: ``call`` is the (minimal) input, ``expected``/``got`` the values.

    ``note`` says what the suite found out about the failure (e.g. that the value varies with the seed);
    ``assumes`` names the assumption about *how* the function computes that the verdict rests on (the
    lecture's estimator, window, quadrature rule or float32 rounding), so that a student who used another
    valid method sees why the check failed and an instructor can decide. Both are rendered after ``got``.
    """

    def __init__(
        self,
        summary: str,
        *,
        call: str = "",
        expected: str = "",
        got: str = "",
        note: str = "",
        assumes: str = "",
    ) -> None:
        self.summary, self.call, self.expected, self.got = summary, call, expected, got
        self.note, self.assumes = note, assumes
        lines = [summary]
        if call:
            lines.append(f"  input:    {call}")
        if expected:
            lines.append(f"  expected: {expected}")
        if got:
            lines.append(f"  got:      {got}")
        if note:
            lines.append(f"  note:     {note}")
        if assumes:
            lines.append(f"  assumes:  {assumes}")
        super().__init__("\n".join(lines))


#: A note for a failure: text, or a function producing it, called only when the check fails (so that a
#: diagnosis that calls the implementation again costs nothing while the property holds).
Note = str | Callable[[], str]


def _note(note: Note) -> str:
    return note() if callable(note) else note


class Caller:
    """Calls into an implementation on behalf of one property, validating every result."""

    def __init__(self, impl: Implementation) -> None:
        self.impl = impl

    def raw(self, target: Any, *args: Any, seed: int | None = None, label: str | None = None, **kwargs: Any) -> Any:
        """Call and return the raw result; a problem in the submission becomes a PropertyFailure."""
        try:
            return self.impl.invoke(target, *args, seed=seed, **kwargs)
        except SubmissionProblem as exc:
            call = _describe(target, label, args, kwargs)
            raise PropertyFailure(f"{call.split('(')[0]} failed", call=call, got=str(exc)) from None

    def tensor(
        self,
        target: Any,
        *args: Any,
        seed: int | None = None,
        shape: tuple[int, ...] | None = None,
        finite: bool = True,
        label: str | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """The result as a float64 tensor of ``shape`` (a Python number or 1-element tensor is accepted
        where ``shape`` is ``()``)."""
        value = self.raw(target, *args, seed=seed, label=label, **kwargs)
        return as_tensor(value, lambda: _describe(target, label, args, kwargs), shape=shape, finite=finite)

    def scalar(
        self,
        target: Any,
        *args: Any,
        seed: int | None = None,
        finite: bool = True,
        label: str | None = None,
        **kwargs: Any,
    ) -> float:
        """The result as a Python float (0-d or one-element tensor, or a real number)."""
        return float(self.tensor(target, *args, seed=seed, shape=(), finite=finite, label=label, **kwargs))

    def get(self, name: str) -> Any:
        try:
            return self.impl.get(name)
        except SubmissionProblem as exc:
            raise PropertyFailure(f"{name} is not usable", got=str(exc)) from None


def _describe(target: Any, label: str | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    return describe_call(label or (target if isinstance(target, str) else "loss"), args, kwargs)


def as_tensor(
    value: Any, call: str | Callable[[], str], *, shape: tuple[int, ...] | None, finite: bool
) -> torch.Tensor:
    """Validate a value from the implementation and convert it to a plain float64 tensor. ``call`` names
    the call, or is a function producing that text, so that it is only built when a check fails."""

    def fail(summary: str, **parts: str) -> PropertyFailure:
        text = call() if callable(call) else call
        return PropertyFailure(f"{text.split('(')[0]} {summary}", call=text, **parts)

    if isinstance(value, bool) or not isinstance(value, (torch.Tensor, float, int)):
        raise fail(f"returned a {type(value).__name__}, not a number or tensor", expected="a torch.Tensor or a float")
    # as few torch operations as possible: each call into the implementation ends here, and every operation
    # right after the wait for the child's reply is slow (the process resumes with cold caches)
    if isinstance(value, torch.Tensor):
        if value.is_complex() or value.dtype == torch.bool:
            raise fail(f"returned a {value.dtype} tensor", expected="a real tensor")
        plain = value.detach()
        if type(plain) is not torch.Tensor:
            plain = torch.Tensor.as_subclass(plain, torch.Tensor)
        t = plain.to("cpu", torch.float64, copy=True)
    else:
        t = torch.tensor(float(value), dtype=torch.float64)
    if shape is not None and tuple(t.shape) != shape:
        if shape == () and t.numel() == 1:
            t = t.reshape(())
        else:
            raise fail("returned the wrong shape", expected=f"shape {shape}", got=f"shape {tuple(t.shape)}")
    if finite and not (math.isfinite(t.item()) if t.dim() == 0 else bool(torch.isfinite(t).all())):
        raise fail("returned a non-finite value", expected="finite values", got=fmt(t))
    return t


def check_close(
    what: str,
    got: float,
    expected: float,
    tol: float,
    *,
    call: str,
    why: str,
    expected_label: str = "",
    note: Note = "",
    assumes: str = "",
) -> None:
    """|got - expected| <= tol, else a PropertyFailure stating the tolerance's origin."""
    if not (math.isfinite(got) and abs(got - expected) <= tol):
        label = f" ({expected_label})" if expected_label else ""
        raise PropertyFailure(
            what,
            call=call,
            expected=f"{expected:.10g}{label} within ±{tol:.3g} [{why}]",
            got=f"{got:.10g} (off by {abs(got - expected):.3g})",
            note=_note(note),
            assumes=assumes,
        )


def check_at_least(
    what: str, got: float, bound: float, *, call: str, why: str, note: Note = "", assumes: str = ""
) -> None:
    if not (got >= bound):
        raise PropertyFailure(
            what, call=call, expected=f">= {bound:.10g} [{why}]", got=f"{got:.10g}", note=_note(note), assumes=assumes
        )


def check_at_most(
    what: str, got: float, bound: float, *, call: str, why: str, note: Note = "", assumes: str = ""
) -> None:
    if not (got <= bound):
        raise PropertyFailure(
            what, call=call, expected=f"<= {bound:.10g} [{why}]", got=f"{got:.10g}", note=_note(note), assumes=assumes
        )


def check(
    condition: bool,
    what: str,
    *,
    call: str = "",
    expected: str = "",
    got: str = "",
    note: Note = "",
    assumes: str = "",
) -> None:
    if not condition:
        raise PropertyFailure(what, call=call, expected=expected, got=got, note=_note(note), assumes=assumes)


def text(name: str, *args: Any, **kwargs: Any) -> str:
    return describe_call(name, args, kwargs)
