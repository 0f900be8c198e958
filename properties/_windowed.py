r"""Tolerance of a windowed trapezoid KL-type integral, shared by the fit and coin-model properties.

For :math:`\int_a^b f` approximating :math:`\int_{\mathbb R} f` with the trapezoid rule on N points in float32:
:math:`\frac{h^2}{8}V(f')` + :math:`|\int_{\mathbb R\setminus[a,b]} f|` + rounding of
:math:`\int w\,(|\log w| + |\log v| + |x\,\partial_x\log(w/v)| + 1)` where :math:`f = w\log(w/v)`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import _oracles as oracle
from ._tolerances import rounding_bound, trapezoid_bound

LogDensity = Callable[[torch.Tensor], torch.Tensor]


def windowed_kl(
    log_w: LogDensity, log_v: LogDensity, a: float, b: float, lo: float, hi: float, N: int = 500
) -> tuple[float, float, str]:
    """(exact integral of w log(w/v) over [lo, hi] (the whole mass), tolerance, reason) for the trapezoid rule
    on [a, b] with N points, evaluated in float32."""

    def f(x: torch.Tensor) -> torch.Tensor:
        lw = log_w(x)
        return torch.where(lw > -745, torch.exp(lw) * (lw - log_v(x)), torch.zeros((), dtype=torch.float64))

    def sens(x: torch.Tensor) -> torch.Tensor:
        x = x.clone().requires_grad_(True)
        lw, lv = log_w(x), log_v(x)
        (g,) = torch.autograd.grad((lw - lv).sum(), x)
        lw, lv = lw.detach(), lv.detach()
        return torch.exp(lw) * (lw.abs() + lv.abs() + (x.detach() * g).abs() + 1)

    exact = oracle.quad(f, lo, hi, panels=512)
    inside = oracle.quad(f, a, b, panels=256)
    quad_err = trapezoid_bound(f, a, b, N)
    rounding = rounding_bound(torch.float32, oracle.quad(sens, a, b), N)
    outside = abs(exact - inside)
    tol = quad_err + outside + rounding
    why = (
        f"trapezoid h^2/8 V(f') = {quad_err:.2g} + outside [{a:.4g}, {b:.4g}] {outside:.2g} "
        f"+ float32 rounding {rounding:.2g}"
    )
    return exact, tol, why
