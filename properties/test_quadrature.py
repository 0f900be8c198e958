r"""``integrate(func, a, b, N)``: exact for affine functions, error :math:`O(h^2)` on smooth ones.

For the trapezoid rule, :math:`|E| \le \frac{(b-a)h^2}{12}\max|f''|` (Atkinson eq. 5.1.7); any rule of
order at least 2 meets the same bound.
"""

from __future__ import annotations

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from . import strategies as s
from ._assumptions import INTEGRATE_AFFINE, INTEGRATE_ORDER
from ._checks import Caller, check_close, text
from ._registry import prop
from ._tolerances import rounding_bound

F32 = torch.float32


def _affine(c0: float, c1: float):
    def f(x):
        return c0 + c1 * x

    f.__doc__ = f"lambda x: {c0!r} + {c1!r} * x"
    return f


@prop(functions=("integrate",), weight=2.0, examples=20)
@given(
    c0=s.floats32(-5, 5),
    c1=s.floats32(-5, 5),
    a=s.floats32(-5, 5),
    width=s.floats32(0.1, 10),
    N=st.sampled_from([2, 3, 10, 101, 500]),
)
def test_integrate_exact_for_affine_functions(impl, c0, c1, a, width, N):
    r"""For :math:`f(x) = c_0 + c_1 x`, :math:`\int_a^b f = c_0(b-a) + c_1(b^2-a^2)/2` exactly for any N >= 2
    (the trapezoid rule integrates linear functions exactly). Tolerance: float32 rounding of
    :math:`(b-a)(|c_0| + |c_1|\max(|a|,|b|))` with :math:`\log_2 N` for the sum."""
    b = a + width
    f = _affine(c0, c1)
    got = Caller(impl).scalar("integrate", f, a, b, N)
    want = c0 * (b - a) + c1 * (b * b - a * a) / 2
    tol = rounding_bound(F32, (b - a) * (abs(c0) + abs(c1) * max(abs(a), abs(b))), N)
    check_close(
        "integrate is not exact for an affine function",
        got,
        want,
        tol,
        call=text("integrate", f, a, b, N),
        why="float32 rounding",
        assumes=INTEGRATE_AFFINE,
    )


def _smooth(kind: str, k: float):
    if kind == "exp":

        def f(x):
            return torch.exp(k * x)

        f.__doc__ = f"lambda x: torch.exp({k!r} * x)"
        return (
            f,
            (lambda a, b: (math.exp(k * b) - math.exp(k * a)) / k),
            (lambda a, b: k * k * math.exp(abs(k) * max(abs(a), abs(b)))),
        )

    def g(x):
        return torch.sin(k * x)

    g.__doc__ = f"lambda x: torch.sin({k!r} * x)"
    return g, (lambda a, b: (math.cos(k * a) - math.cos(k * b)) / k), (lambda a, b: k * k)


@prop(functions=("integrate",), weight=2.0, examples=20)
@given(
    kind=st.sampled_from(["exp", "sin"]),
    k=s.floats32(0.5, 3),
    a=s.floats32(-2, 1),
    width=s.floats32(0.5, 3),
    N=st.sampled_from([20, 50, 200]),
)
def test_integrate_error_falls_as_h_squared(impl, kind, k, a, width, N):
    r"""On smooth :math:`f` the error is at most :math:`\frac{(b-a)h^2}{12}\max|f''|`, :math:`h = (b-a)/(N-1)`,
    at N and at 4N - 3 (a quarter of the step): the error falls as :math:`O(1/N^2)`. Tolerance: that bound
    plus float32 rounding of :math:`(b-a)\max|f|`."""
    b = a + width
    f, exact, max_f2 = _smooth(kind, k)
    want = exact(a, b)
    max_f = math.exp(abs(k) * max(abs(a), abs(b))) if kind == "exp" else 1.0
    for n in (N, 4 * N - 3):
        got = Caller(impl).scalar("integrate", f, a, b, n)
        h = (b - a) / (n - 1)
        bound = (b - a) * h * h / 12 * max_f2(a, b)
        tol = bound + rounding_bound(F32, (b - a) * max_f, n)
        check_close(
            "integrate's error does not fall as h^2",
            got,
            want,
            tol,
            call=text("integrate", f, a, b, n),
            why=f"(b-a) h^2/12 max|f''| = {bound:.3g} + float32 rounding",
            assumes=INTEGRATE_ORDER,
        )
