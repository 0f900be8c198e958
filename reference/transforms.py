r"""Moving densities between constrained and unconstrained spaces.

If :math:`X = T(Y)` with :math:`T` a smooth bijection from the real line onto the support of
:math:`X \sim p_X`, the change-of-variables formula gives the density of :math:`Y`,

.. math:: \log p_Y(y) = \log p_X\big(T(y)\big) + \log\Big|\frac{dT}{dy}(y)\Big|

(e.g. Casella and Berger, *Statistical Inference*, 2nd ed., Thm. 2.1.5). The lecture's three maps are
built from :mod:`torch.distributions.transforms`: :math:`\exp` onto :math:`(0,\infty)`, the logistic
sigmoid onto :math:`(0,1)` and the affine map :math:`y \mapsto a + (b-a)y` from U(0, 1) onto U(a, b).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributions as dist
import torch.nn.functional as F
from torch.distributions import constraints
from torch.distributions.transforms import AffineTransform, SigmoidTransform, Transform

from ._support import inside_support, support_of
from ._validation import _as_float

__all__ = [
    "sigmoid",
    "sigmoid_prime",
    "derivative_lp",
    "lp_transformed",
    "exp_transform",
    "sigmoid_transform",
    "affine_transform",
    "LogitBeta",
]


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    r"""Logistic function :math:`\sigma(x) = \frac{e^x}{1+e^x} = \frac{1}{1+e^{-x}}`.

    Evaluated without overflow (``torch.sigmoid``), so it is finite and in :math:`[0, 1]` for every
    finite float, where the lecture's ``exp(x) / (1 + exp(x))`` is NaN for ``x = 100``.
    """
    return torch.sigmoid(torch.as_tensor(x))


def sigmoid_prime(x: torch.Tensor) -> torch.Tensor:
    r"""Derivative :math:`\sigma'(x) = \frac{e^x}{(1+e^x)^2} = \sigma(x)\,\sigma(-x)`, finite and in
    :math:`[0, \tfrac14]` for every finite float."""
    x = torch.as_tensor(x)
    # near 0 each factor is 0.5 rounded (an ulp either way) and their product can round to just above 1/4,
    # which sigma' never reaches: the bound is exact, so clamping to it only removes rounding error
    return torch.clamp(torch.sigmoid(x) * torch.sigmoid(-x), max=0.25)


def derivative_lp(d_constrained: dist.Distribution, x: torch.Tensor) -> torch.Tensor:
    r"""Derivative of the density, :math:`\frac{d}{dx} p(x) = p(x)\,\frac{d}{dx}\log p(x)`, by autograd.

    Zero where ``x`` lies outside the support of ``d_constrained`` (the lecture's convention). ``x`` may
    be a scalar or a tensor of points; the result has the shape and dtype of ``x``.
    """
    x = torch.as_tensor(x)
    support = support_of(d_constrained)
    inside, safe = inside_support(d_constrained, x)
    safe = safe.detach().clone().requires_grad_(True)
    log_p = d_constrained.log_prob(safe)
    (grad_log_p,) = torch.autograd.grad(log_p.sum(), safe)
    derivative = torch.exp(log_p.detach()) * grad_log_p
    edge = inside & ~torch.isfinite(derivative)
    if bool(edge.any()):
        # On the edge of the support (p = 0, d log p = inf, e.g. Beta(2, 2) at 0) the derivative is the
        # one-sided limit: second-order one-sided difference p'(x) ~ (-3p(x) + 4p(x+h) - p(x+2h)) / 2h.
        derivative = torch.where(edge, _one_sided_derivative(d_constrained, safe.detach(), support), derivative)
    zero = torch.zeros((), dtype=derivative.dtype)
    return torch.where(inside, derivative, zero).to(x.dtype if x.is_floating_point() else derivative.dtype)


def _one_sided_derivative(d: dist.Distribution, x: torch.Tensor, support: constraints.Constraint) -> torch.Tensor:
    h = torch.finfo(x.dtype).eps ** (1 / 3) * torch.clamp(x.abs(), min=1.0)
    step = torch.where(support.check(x + 2 * h), h, -h)  # step into the support

    def p(u: torch.Tensor) -> torch.Tensor:
        inside = support.check(u)
        safe = torch.where(inside, u, x)
        return torch.where(inside, torch.exp(d.log_prob(safe)), torch.zeros((), dtype=x.dtype))

    with torch.no_grad():
        return (-3 * p(x) + 4 * p(x + step) - p(x + 2 * step)) / (2 * step)


def lp_transformed(xs: torch.Tensor, d: dist.Distribution, transform: Transform) -> torch.Tensor:
    r"""Log density of :math:`Y` where :math:`T(Y) \sim d`:
    :math:`\log p_d(T(y)) + \log|T'(y)|`, for ``transform`` = :math:`T` mapping the real line onto the
    support of ``d`` (the lecture's ``lp_transformed(xs, d, transform)``).

    For a Beta or U(0, 1) distribution behind a sigmoid the sum is evaluated in log space,
    :math:`\alpha\log\sigma(y) + \beta\log\sigma(-y) - \log B(\alpha,\beta)`, which stays exact where
    :math:`\sigma(y)` rounds to 0 or 1.
    """
    xs = torch.as_tensor(xs)
    stable = _logit_beta_params(d, transform)
    if stable is not None:
        return LogitBeta(*stable).log_prob(xs)
    ys = transform(xs)
    ladj: torch.Tensor = transform.log_abs_det_jacobian(xs, ys)
    return d.log_prob(ys) + ladj


def _logit_beta_params(d: dist.Distribution, transform: Transform) -> tuple[Any, Any] | None:
    """(alpha, beta) when ``d`` behind ``transform`` is a Beta (or U(0,1)) behind a sigmoid."""
    if not isinstance(transform, SigmoidTransform):
        return None
    if isinstance(d, dist.Beta):
        return d.concentration1, d.concentration0
    if isinstance(d, dist.Uniform) and bool((d.low == 0).all()) and bool((d.high == 1).all()):
        one = torch.ones_like(d.low)
        return one, one
    return None


class LogitBeta(dist.TransformedDistribution):
    r"""The unconstrained Beta: :math:`Y = \operatorname{logit}(X)`, :math:`X \sim \mathrm{Beta}(\alpha,\beta)`,

    .. math:: \log p_Y(y) = \alpha \log\sigma(y) + \beta\log\sigma(-y) - \log B(\alpha, \beta),

    the change-of-variables density of ``TransformedDistribution(Beta(alpha, beta), SigmoidTransform().inv)``
    with :math:`\log\sigma` evaluated as :math:`-\operatorname{softplus}(-y)`, so it is accurate for
    every finite :math:`y` (the generic path returns ``-inf`` once :math:`\sigma(y)` rounds to 1).
    """

    arg_constraints = {  # noqa: RUF012 - the attribute torch.distributions declares
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
    }
    support = constraints.real

    def __init__(self, concentration1: Any, concentration0: Any, validate_args: bool | None = None) -> None:
        base = dist.Beta(concentration1, concentration0, validate_args=validate_args)
        self.concentration1 = base.concentration1
        self.concentration0 = base.concentration0
        super().__init__(base, SigmoidTransform().inv, validate_args=validate_args)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        y = torch.as_tensor(value)
        dtype = torch.promote_types(y.dtype, self.concentration1.dtype) if y.is_floating_point() else None
        a, b = self.concentration1.to(dtype), self.concentration0.to(dtype)
        log_beta = torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)
        return a * -F.softplus(-y) + b * -F.softplus(y) - log_beta


def exp_transform() -> Transform:
    r""":math:`x = \exp(y)`, the real line onto :math:`(0, \infty)` (``transform_to(constraints.positive)``)."""
    transform: Transform = dist.transform_to(constraints.positive)
    return transform


def sigmoid_transform() -> Transform:
    r""":math:`x = \sigma(y)`, the real line onto :math:`(0, 1)` (``transform_to(constraints.unit_interval)``)."""
    transform: Transform = dist.transform_to(constraints.unit_interval)
    return transform


def affine_transform(a: Any, b: Any) -> Transform:
    r""":math:`x = a + (b - a)\,y`, mapping U(0, 1) onto U(a, b), with :math:`\log|dx/dy| = \log(b-a)`.

    (The lecture's figure draws :math:`(b-a)(y+a)`, which maps U(0, 1) onto U(a(b-a), (a+1)(b-a)).)
    Raises ``ValueError`` unless a < b.
    """
    fa, fb = _as_float("a", a), _as_float("b", b)
    if not fa < fb:
        raise ValueError(f"affine_transform needs a < b, got a={fa!r}, b={fb!r}")
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return AffineTransform(loc=torch.as_tensor(a), scale=torch.as_tensor(b) - torch.as_tensor(a))
    # Python numbers keep the transform dtype-neutral: it computes in the dtype of its input.
    return AffineTransform(loc=fa, scale=fb - fa)
