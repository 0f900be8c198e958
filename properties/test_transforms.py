r"""Transforms and densities: the sigmoid, the coin's transform ``T``, ``lp_transformed`` and
``derivative_lp``.

Change of variables (Casella and Berger, Thm. 2.1.5): if :math:`X = T(Y)` then
:math:`\log p_Y(y) = \log p_X(T(y)) + \log|T'(y)|`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
import torch.distributions as dist
from hypothesis import given
from hypothesis import strategies as st
from torch.distributions import transforms as tr

from . import _oracles as oracle
from . import strategies as s
from ._assumptions import EXACT_JACOBIAN, exact_derivative, near_miss_note
from ._checks import Caller, check, check_close, text
from ._registry import prop
from ._tolerances import EPS, rounding_bound

F32 = torch.float32
E32 = EPS[F32]


def _sigmoid64(y: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(y.double())


def _logistic_tolerance(exact: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    r"""Relative :math:`17\varepsilon` plus an absolute :math:`4\varepsilon`: a correct
    :math:`\sigma(1-\sigma)` or :math:`1 - 1/(1+e^y)` forms :math:`1-\sigma` with absolute error
    :math:`\varepsilon`, which no relative bound covers once :math:`\sigma` is near 1."""
    return rounding_bound(dtype, 1.0) * exact + 4 * EPS[dtype]


@prop(functions=("sigmoid",), weight=1.0, examples=20)
@given(ys=st.lists(s.floats32(-20, 20), min_size=1, max_size=8))
def test_sigmoid_matches_logistic(impl, ys):
    r""":math:`\sigma(y) = e^y/(1+e^y)` elementwise on float32 input.

    Tolerance: :func:`_logistic_tolerance` (a few roundings of exp, add, divide)."""
    y = torch.tensor(ys, dtype=F32)
    got = Caller(impl).tensor("sigmoid", y, shape=tuple(y.shape))
    want = _sigmoid64(y)
    tol = _logistic_tolerance(want, F32)
    bad = (got - want).abs() > tol
    check(
        not bool(bad.any()),
        "sigmoid is not the logistic function",
        call=text("sigmoid", y),
        expected=f"{want.tolist()} (relative tolerance {rounding_bound(F32, 1.0):.2g})",
        got=f"{got.tolist()}",
    )


@prop(functions=("sigmoid_prime",), weight=1.0, examples=20)
@given(ys=st.lists(s.floats32(-20, 20), min_size=1, max_size=8))
def test_sigmoid_prime_matches_derivative(impl, ys):
    r""":math:`\sigma'(y) = \sigma(y)\,\sigma(-y)`, checked against autograd of :math:`\sigma` in float64.

    Tolerance: :func:`_logistic_tolerance`, as for :math:`\sigma`."""
    y = torch.tensor(ys, dtype=F32)
    got = Caller(impl).tensor("sigmoid_prime", y, shape=tuple(y.shape))
    y64 = y.double().requires_grad_(True)
    torch.sigmoid(y64).sum().backward()
    assert y64.grad is not None
    want = y64.grad
    tol = _logistic_tolerance(want, F32)
    check(
        not bool(((got - want).abs() > tol).any()),
        "sigmoid_prime is not the derivative of the sigmoid",
        call=text("sigmoid_prime", y),
        expected=f"{want.tolist()}",
        got=f"{got.tolist()}",
        note=lambda: near_miss_note(got, want, "sigmoid_prime"),
        assumes=exact_derivative("sigmoid_prime"),
    )


@prop(functions=("sigmoid", "sigmoid_prime"), category="robustness", weight=1.0, examples=30)
@given(
    y=st.floats(allow_nan=False, allow_infinity=False, width=32), dtype=st.sampled_from([torch.float32, torch.float64])
)
def test_sigmoid_finite_and_in_range_for_every_float(impl, y, dtype):
    r"""For every finite float: :math:`\sigma(y)\in[0,1]`, :math:`\sigma'(y)\in[0,\tfrac14]`, both finite,
    both as accurate as for moderate inputs (:func:`_logistic_tolerance`), and in the input's dtype.
    The lecture's ``exp(y) / (1 + exp(y))`` is NaN for ``y = 100``."""
    x = torch.tensor([y], dtype=dtype)
    c = Caller(impl)
    for name, exact, hi in (("sigmoid", _sigmoid64(x), 1.0), ("sigmoid_prime", _sigmoid64(x) * _sigmoid64(-x), 0.25)):
        raw = c.raw(name, x)
        v = c.tensor(name, x, shape=(1,), finite=True)
        check(
            isinstance(raw, torch.Tensor) and raw.dtype == dtype,
            f"{name} changed the dtype",
            call=text(name, x),
            expected=str(dtype),
            got=str(getattr(raw, "dtype", type(raw).__name__)),
        )
        check(
            0.0 <= float(v) <= hi,
            f"{name} left its range",
            call=text(name, x),
            expected=f"in [0, {hi}]",
            got=f"{float(v)!r}",
        )
        tol = float(_logistic_tolerance(exact, dtype))
        check_close(f"{name} is inaccurate", float(v), float(exact), tol, call=text(name, x), why="17 eps relative")


@prop(functions=("T",), weight=1.0, examples=20)
@given(ys=st.lists(s.floats32(-10, 10), min_size=1, max_size=8))
def test_T_is_the_sigmoid_and_inverts(impl, ys):
    r"""The coin's ``T`` maps the real line onto (0, 1) by :math:`\sigma`, and :math:`T^{-1}(T(y)) = y`.

    Tolerance of the round trip: :math:`17\varepsilon_{32}\,(1/\sigma(y) + 1/\sigma(-y))`, the float32
    condition number of :math:`\operatorname{logit}` at :math:`\sigma(y)`."""
    y = torch.tensor(ys, dtype=F32)
    c = Caller(impl)
    x = c.tensor("T", y, shape=tuple(y.shape), label="T")
    want = _sigmoid64(y)
    check(
        bool(((x - want).abs() <= _logistic_tolerance(want, F32)).all()),
        "T is not the sigmoid",
        call=text("T", y),
        expected=f"{want.tolist()}",
        got=f"{x.tolist()}",
    )
    back = c.tensor("T.inv", x.to(F32), shape=tuple(y.shape), label="T.inv")
    tol = rounding_bound(F32, 1.0) * (1 / want + 1 / _sigmoid64(-y))
    check(
        bool(((back - y.double()).abs() <= tol).all()),
        "T.inv(T(y)) is not y",
        call=text("T.inv", x.to(F32)),
        expected=f"{y.tolist()}",
        got=f"{back.tolist()}",
    )


@prop(functions=("T",), weight=1.0, examples=20)
@given(ys=st.lists(s.floats32(-10, 10), min_size=1, max_size=8))
def test_T_log_abs_det_jacobian_matches_autograd(impl, ys):
    r"""``T.log_abs_det_jacobian(y, T(y))`` equals :math:`\log|dT/dy|` computed by autograd of
    :math:`\sigma` in float64. Tolerance: :math:`17\varepsilon_{32}(1 + |\log\sigma'(y)|)`."""
    y = torch.tensor(ys, dtype=F32)
    c = Caller(impl)
    x = c.tensor("T", y, shape=tuple(y.shape), label="T").to(F32)
    got = c.tensor("T.log_abs_det_jacobian", y, x, shape=tuple(y.shape), label="T.log_abs_det_jacobian")
    y64 = y.double().requires_grad_(True)
    torch.sigmoid(y64).sum().backward()
    assert y64.grad is not None
    want = torch.log(y64.grad)
    tol = rounding_bound(F32, 1.0) * (1 + want.abs())
    check(
        bool(((got - want).abs() <= tol).all()),
        "T.log_abs_det_jacobian is not log|dT/dy|",
        call=text("T.log_abs_det_jacobian", y, x),
        expected=f"{want.tolist()}",
        got=f"{got.tolist()}",
        note=lambda: near_miss_note(got, want, "T.log_abs_det_jacobian"),
        assumes=exact_derivative("log|dT/dy|"),
    )


# --- lp_transformed: one case per lecture transform --------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A lecture transform with a distribution on its codomain and the y-interval that holds the mass."""

    name: str
    draw: Callable[[st.DrawFn], tuple[dist.Distribution, tr.Transform]]
    y_window: Callable[[dist.Distribution, tr.Transform, float], tuple[float, float]]


def _draw_exp(draw: st.DrawFn) -> tuple[dist.Distribution, tr.Transform]:
    return draw(s.gammas()), tr.ExpTransform()


def _draw_sigmoid(draw: st.DrawFn) -> tuple[dist.Distribution, tr.Transform]:
    return draw(s.betas()), tr.SigmoidTransform()


def _draw_affine_normal(draw: st.DrawFn) -> tuple[dist.Distribution, tr.Transform]:
    loc, scale = draw(s.floats32(-3, 3)), draw(s.floats32(0.5, 4))
    return draw(s.normals()), tr.AffineTransform(torch.tensor(loc), torch.tensor(scale))


def _quantile_window(d: dist.Distribution, t: tr.Transform, tail: float) -> tuple[float, float]:
    lo, hi = oracle.window(d, tail)
    inv = t.inv
    a = float(inv(torch.tensor(lo, dtype=torch.float64)))
    b = float(inv(torch.tensor(hi, dtype=torch.float64)))
    return (a, b) if a < b else (b, a)


CASES = [
    Case("exp-Gamma", _draw_exp, _quantile_window),
    Case("sigmoid-Beta", _draw_sigmoid, _quantile_window),
    Case("affine-Normal", _draw_affine_normal, _quantile_window),
]


def _exact_lp(d: dist.Distribution, t: tr.Transform, y: torch.Tensor) -> torch.Tensor:
    """float64 log density of Y = T^{-1}(X): the stable logit-Beta formula, else torch's TransformedDistribution."""
    y = y.double()
    if isinstance(d, dist.Beta) and isinstance(t, tr.SigmoidTransform):
        return oracle.logit_beta_log_prob(y, float(d.concentration1), float(d.concentration0))
    d64 = oracle.as_float64(d)
    return dist.TransformedDistribution(d64, _float64(t).inv, validate_args=False).log_prob(y)


def _float64(t: tr.Transform) -> tr.Transform:
    """The transform with float64 parameters (affine maps carry tensors; the others have none)."""
    if isinstance(t, tr.AffineTransform):
        return tr.AffineTransform(torch.as_tensor(t.loc).double(), torch.as_tensor(t.scale).double())
    return t


def _sensitivity(d: dist.Distribution, t: tr.Transform, y: torch.Tensor) -> torch.Tensor:
    r"""Sum of the absolute sizes rounded in float32 at y:
    :math:`|\log p(x)| + |\log T'| + |y\,\partial_y\log p_Y| + |x\,\partial_y\log p_Y| + 1`."""
    y64 = y.double().clone().requires_grad_(True)
    lp = _exact_lp(d, t, y64)
    (g,) = torch.autograd.grad(lp.sum(), y64)
    x = _float64(t)(y64.detach())
    d64 = oracle.as_float64(d)
    lpx = d64.log_prob(x)
    return lpx.abs() + (lp.detach() - lpx).abs() + (y64.detach() * g).abs() + (x * g).abs() + 1


@st.composite
def _case_inputs(draw: st.DrawFn, case: Case) -> tuple[dist.Distribution, tr.Transform]:
    return case.draw(draw)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@prop(functions=("lp_transformed",), weight=2.0, examples=15)
@given(data=st.data())
def test_lp_transformed_matches_transformed_distribution(impl, case, data):
    r"""``lp_transformed(y, d, T)`` equals ``TransformedDistribution(d, T.inv).log_prob(y)`` (float64 oracle)
    at points holding all but 2e-4 of the mass. Tolerance: :func:`rounding_bound` of the float32
    sensitivity :math:`|\log p_X| + |\log T'| + |y\,\partial_y \log p_Y| + |x\,\partial_y\log p_Y| + 1`."""
    d, t = data.draw(_case_inputs(case))
    lo, hi = case.y_window(d, t, 1e-4)
    fractions = data.draw(st.lists(s.floats32(0, 1), min_size=1, max_size=6))
    y = torch.tensor([lo + f * (hi - lo) for f in fractions], dtype=F32)
    got = Caller(impl).tensor("lp_transformed", y, d, t, shape=tuple(y.shape))
    want = _exact_lp(d, t, y)
    tol = rounding_bound(F32, 1.0) * _sensitivity(d, t, y)
    worst = int(torch.argmax((got - want).abs() - tol))
    check_close(
        "lp_transformed is not the change-of-variables log density",
        float(got[worst]),
        float(want[worst]),
        float(tol[worst]),
        call=text("lp_transformed", y, d, t),
        why="float32 rounding of the terms",
        expected_label=f"at y={float(y[worst])!r}",
        note=lambda: near_miss_note(got, want, "lp_transformed"),
        assumes=EXACT_JACOBIAN,
    )


def _mass_via_impl(impl, d: dist.Distribution, t: tr.Transform, a: float, b: float) -> tuple[float, float, str]:
    """(integral of exp(lp_transformed) over [a, b] by 20-point Gauss-Legendre on 32 panels, the same rule's
    error on the exact density plus the rounding allowance, the call text)."""
    tq, wq = oracle._legendre(20)
    edges = torch.linspace(a, b, 33, dtype=torch.float64)
    lo, hi = edges[:-1, None], edges[1:, None]
    nodes = ((lo + hi) / 2 + (hi - lo) / 2 * tq).reshape(-1)
    weights = ((hi - lo) / 2 * wq).reshape(-1)
    y32 = nodes.to(F32)
    got_lp = Caller(impl).tensor("lp_transformed", y32, d, t, shape=tuple(y32.shape), finite=False)
    got = float((weights * torch.exp(got_lp)).sum())
    exact_lp = _exact_lp(d, t, y32)
    rule_on_exact = float((weights * torch.exp(exact_lp)).sum())
    true_mass = oracle.quad(lambda u: torch.exp(_exact_lp(d, t, u)), a, b, panels=512)
    rounding = rounding_bound(F32, 1.0) * float((weights * torch.exp(exact_lp) * _sensitivity(d, t, y32)).sum())
    return got, abs(rule_on_exact - true_mass) + rounding, text("lp_transformed", y32, d, t)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@prop(functions=("lp_transformed",), weight=2.0, examples=8)
@given(data=st.data())
def test_lp_transformed_integrates_to_one(impl, case, data):
    r""":math:`\int p_Y(y)\,dy = 1`: the density from ``lp_transformed`` integrated over the y-interval holding
    all but 2e-9 of the mass. Tolerance: the quadrature's own error on the exact density plus float32
    rounding of every node's log density."""
    d, t = data.draw(_case_inputs(case))
    a, b = case.y_window(d, t, 1e-9)
    got, tol, call = _mass_via_impl(impl, d, t, a, b)
    want = 1 - 2e-9
    check_close(
        "exp(lp_transformed) does not integrate to 1",
        got,
        want,
        tol + 2e-9,
        call=call,
        why="Gauss-Legendre error on the exact density + float32 rounding + mass outside",
        assumes=EXACT_JACOBIAN,
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@prop(functions=("lp_transformed",), weight=1.0, examples=8)
@given(data=st.data())
def test_lp_transformed_interval_mass(impl, case, data):
    r"""For any :math:`y_1 < y_2`: :math:`\int_{y_1}^{y_2} p_Y = F_X(T(y_2)) - F_X(T(y_1))` (scipy's cdf)
    for increasing :math:`T`. Tolerance as for the total mass."""
    d, t = data.draw(_case_inputs(case))
    lo, hi = case.y_window(d, t, 1e-6)
    f1, f2 = sorted(data.draw(st.lists(s.floats32(0, 1), min_size=2, max_size=2, unique=True)))
    y1, y2 = lo + f1 * (hi - lo), lo + f2 * (hi - lo)
    got, tol, call = _mass_via_impl(impl, d, t, y1, y2)
    x1 = float(
        t(torch.tensor(y1, dtype=torch.float64)) if not isinstance(t, tr.AffineTransform) else t.loc + t.scale * y1
    )
    x2 = float(
        t(torch.tensor(y2, dtype=torch.float64)) if not isinstance(t, tr.AffineTransform) else t.loc + t.scale * y2
    )
    want = oracle.cdf(d, x2) - oracle.cdf(d, x1)
    check_close(
        "lp_transformed puts the wrong mass on an interval",
        got,
        want,
        tol + 1e-12,
        call=call,
        why="Gauss-Legendre error on the exact density + float32 rounding",
        expected_label=f"F(T({y2:.6g})) - F(T({y1:.6g}))",
        assumes=EXACT_JACOBIAN,
    )


@prop(functions=("lp_transformed",), weight=1.0, examples=10)
@given(
    a=s.floats32(-5, 5), width=s.floats32(0.25, 8), fractions=st.lists(s.floats32(0.01, 0.99), min_size=1, max_size=5)
)
def test_lp_transformed_affine_uniform_is_standard_uniform(impl, a, width, fractions):
    r"""The lecture's affine map :math:`x = a + (b-a)y` takes U(0, 1) onto U(a, b), so
    ``lp_transformed(y, Uniform(a, b), AffineTransform(a, b - a))`` is :math:`\log(1/(b-a)) + \log(b-a) = 0`
    on (0, 1). Tolerance: :math:`17\varepsilon_{32}(1 + 2|\log(b-a)|)`."""
    b = a + width
    d = dist.Uniform(torch.tensor(a), torch.tensor(b))
    t = tr.AffineTransform(torch.tensor(a), torch.tensor(b) - torch.tensor(a))
    y = torch.tensor(fractions, dtype=F32)
    got = Caller(impl).tensor("lp_transformed", y, d, t, shape=tuple(y.shape))
    tol = rounding_bound(F32, 1 + 2 * abs(math.log(width)))
    worst = int(torch.argmax(got.abs()))
    check_close(
        "lp_transformed is not the U(0, 1) log density",
        float(got[worst]),
        0.0,
        tol,
        call=text("lp_transformed", y, d, t),
        why="float32 rounding of log(b-a) twice",
        assumes=EXACT_JACOBIAN,
    )


# --- derivative_lp ------------------------------------------------------------------------------


def _smooth_distributions() -> st.SearchStrategy[dist.Distribution]:
    return st.one_of(s.normals(), s.gammas(), s.betas(), s.laplaces())


@prop(functions=("derivative_lp",), weight=2.0, examples=20)
@given(d=_smooth_distributions(), u=s.floats32(0.02, 0.98))
def test_derivative_lp_matches_analytic_derivative(impl, d, u):
    r""":math:`\frac{d}{dx}p(x) = p(x)\,\frac{d}{dx}\log p(x)` inside the support (at the u-quantile), equal to
    the closed form and to a float64 central difference. Tolerance: float32 rounding of
    :math:`|p'| + |x\,p''| + p\,|\log p|\,|(\log p)'|` (input rounding and the log density's error)."""
    lo, hi = oracle.window(d, 0.5 - abs(u - 0.5))
    x_val = lo if u < 0.5 else hi
    if isinstance(d, dist.Laplace) and abs(x_val - float(d.loc)) < 1e-3 * float(d.scale):
        x_val += 0.01 * float(d.scale)  # the kink has no derivative
    x = torch.tensor(x_val, dtype=F32)
    got = Caller(impl).scalar("derivative_lp", d, x)
    want = float(oracle.density_derivative(d, x))
    d64 = oracle.as_float64(d)
    h = 1e-5 * max(abs(float(x)), 1.0)
    xd = x.double()
    fd = float((torch.exp(d64.log_prob(xd + h)) - torch.exp(d64.log_prob(xd - h))) / (2 * h))
    x64 = xd.clone().requires_grad_(True)
    lp = d64.log_prob(x64)
    (g1,) = torch.autograd.grad(lp, x64, create_graph=True)
    (g2,) = torch.autograd.grad(g1, x64)
    log_p, dlog_p, d2log_p = float(lp.detach()), float(g1.detach()), float(g2)
    p = math.exp(log_p)
    p2 = p * (dlog_p**2 + d2log_p)
    tol = rounding_bound(F32, abs(want) + abs(float(x)) * abs(p2) + p * abs(log_p) * abs(dlog_p) + 1e-30)
    call = text("derivative_lp", d, x)
    check_close(
        "derivative_lp is not the derivative of the density",
        got,
        want,
        tol,
        call=call,
        why="float32 rounding",
        expected_label="p(x) d/dx log p(x)",
        note=lambda: near_miss_note(got, want, "derivative_lp"),
        assumes=exact_derivative("the derivative of the density"),
    )
    check_close(
        "derivative_lp disagrees with a finite difference",
        got,
        fd,
        tol + 1e-6 * abs(fd) + 1e-9,
        call=call,
        why="float32 rounding + central-difference error",
        expected_label="central difference, h=1e-5",
        assumes=exact_derivative("the derivative of the density"),
    )


@prop(functions=("derivative_lp",), weight=1.0, examples=15)
@given(d=st.one_of(s.gammas(), s.betas()), offset=s.floats32(0.01, 3.0), side=st.sampled_from(["below", "above"]))
def test_derivative_lp_zero_outside_support(impl, d, offset, side):
    """Outside the support the density is identically 0, so its derivative is exactly 0."""
    if isinstance(d, dist.Gamma):
        side = "below"
    x = torch.tensor(-offset if side == "below" else 1.0 + offset, dtype=F32)
    got = Caller(impl).scalar("derivative_lp", d, x)
    check_close(
        "derivative_lp is not 0 outside the support", got, 0.0, 0.0, call=text("derivative_lp", d, x), why="exact"
    )
