"""The lecture's four brute-force Gaussian fits: ``scipy.optimize.brute`` over the lecture's losses versus
:func:`reference.fit_gaussian`, on the same problems and the same Ns x Ns grid, in one run.

Issue "reference fit benchmark": the reference must be >= 50x faster (all four fits together) and >= 100x
closer to the exact optimum (each fit). The exact optima are recomputed here independently in float64:
``scipy.integrate.quad`` for KL(q || p) and its gradient, ``scipy.optimize.minimize`` (BFGS, gtol 1e-12);
mass covering is moment matching (closed form). The accuracy ratio is deterministic and always asserted;
the speed ratio is asserted only when ``--vi-goals`` says so. The ``tiny`` sweep uses a 20 x 20 grid.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy.integrate import IntegrationWarning, quad
from scipy.optimize import brute, minimize

import reference as R
import reference.coin
from reference.examples import make_normal_mixture


def _load_lecture() -> Any:
    """benchmarks/_lecture.py under a name of its own (tests/ may hold a module of the same file name)."""
    path = Path(__file__).with_name("_lecture.py")
    spec = importlib.util.spec_from_file_location("vicheck_benchmarks_lecture", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


L = _load_lecture()

# ----------------------------------------------------------------------------- exact optima (float64)

_W = np.array([0.4, 0.6])
_M = np.array([-1.0, 4.0])
_S = np.array([0.75, 0.5])


def _mixture_log_pdf(x: float) -> float:
    terms = np.log(_W) - 0.5 * ((x - _M) / _S) ** 2 - np.log(_S) - 0.5 * math.log(2 * math.pi)
    return float(np.logaddexp(terms[0], terms[1]))


def _mixture_score(x: float) -> float:
    terms = np.log(_W) - 0.5 * ((x - _M) / _S) ** 2 - np.log(_S)
    resp = np.exp(terms - terms.max())
    resp /= resp.sum()
    return float(np.sum(resp * (-(x - _M) / _S**2)))


def _coin_log_pdf(x: float) -> float:
    """logit(theta), theta ~ Beta(3, 4): 3 log s(x) + 4 log s(-x) + log 60."""
    return -3 * float(np.logaddexp(0, -x)) - 4 * float(np.logaddexp(0, x)) + math.log(60)


def _coin_score(x: float) -> float:
    return 3.0 - 7.0 / (1.0 + math.exp(-x))


def _gaussian_expectation(f: Callable[[float], float]) -> float:
    """E[f(Z)], Z ~ N(0, 1), by adaptive quadrature."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IntegrationWarning)
        value, _ = quad(
            lambda z: math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) * f(z),
            -40,
            40,
            points=[0.0],
            epsabs=1e-15,
            epsrel=1e-14,
            limit=500,
        )
    return float(value)


def _reverse_kl_optimum(
    log_p: Callable[[float], float], score: Callable[[float], float], start: tuple[float, float]
) -> tuple[float, float]:
    """argmin over (mu, sigma) of KL(N(mu, sigma^2) || p) = -log sigma - log sqrt(2 pi e) - E log p(mu + sigma Z),
    with its gradient (-E s(mu + sigma Z), -1/sigma - E Z s(mu + sigma Z)), s = (log p)'. Parametrised by
    (mu, log sigma)."""

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        mu, sigma = float(theta[0]), math.exp(float(theta[1]))
        value = -math.log(sigma) - 0.5 * math.log(2 * math.pi * math.e)
        value -= _gaussian_expectation(lambda z: log_p(mu + sigma * z))
        g_mu = -_gaussian_expectation(lambda z: score(mu + sigma * z))
        g_sigma = -1 / sigma - _gaussian_expectation(lambda z: z * score(mu + sigma * z))
        return value, np.array([g_mu, g_sigma * sigma])

    result = minimize(fun, np.array([start[0], math.log(start[1])]), jac=True, method="BFGS", options={"gtol": 1e-12})
    _, grad = fun(result.x)
    assert np.max(np.abs(grad)) < 1e-9, f"exact optimum not converged: gradient {grad}"
    return float(result.x[0]), math.exp(float(result.x[1]))


@functools.cache
def exact_optimum(problem: str) -> tuple[float, float]:
    if problem == "mode_seeking":
        return _reverse_kl_optimum(_mixture_log_pdf, _mixture_score, (3.99987, 0.50025))
    if problem == "mass_covering":  # moment matching
        mean = float(np.sum(_W * _M))
        return mean, math.sqrt(float(np.sum(_W * (_S**2 + _M**2))) - mean**2)
    # KL(q || posterior) and -ELBO differ by log p(y): the same optimum
    return _reverse_kl_optimum(_coin_log_pdf, _coin_score, (-0.329726, 0.817149))


# ------------------------------------------------------------------------------------------ the fits


@dataclass(frozen=True)
class FitProblem:
    lecture_loss: Callable[[Any], torch.Tensor]
    reference_fit: Callable[[int], tuple[float, float]]
    ranges: tuple[tuple[float, float], tuple[float, float]]
    exact: str


def _reference_fit(loss: Any, ranges: Any, grid_loss: Any = None) -> Callable[[int], tuple[float, float]]:
    def fit(Ns: int) -> tuple[float, float]:
        result = R.fit_gaussian(loss, ranges, Ns=Ns, grid_loss=grid_loss)
        return result.mu, result.sigma

    return fit


_MIXTURE64 = make_normal_mixture(torch.float64)
_WIDE = ((-4.0, 8.0), (0.1, 3.0))
_COIN = ((-3.0, 3.0), (0.1, 1.0))
FITS: dict[str, FitProblem] = {
    "mode_seeking": FitProblem(
        L.mode_seeking_loss(L.normal_mixture),
        _reference_fit(R.mode_seeking_loss(_MIXTURE64), _WIDE),
        _WIDE,
        "mode_seeking",
    ),
    "mass_covering": FitProblem(
        L.mass_covering_loss(L.normal_mixture),
        _reference_fit(R.mass_covering_loss(_MIXTURE64), _WIDE),
        _WIDE,
        "mass_covering",
    ),
    "coin_kl": FitProblem(L.DKL_QP, _reference_fit(R.DKL_QP, _COIN, reference.coin.coarse_DKL_QP), _COIN, "coin"),
    "coin_elbo": FitProblem(
        L.ELBO_loss, _reference_fit(R.ELBO_loss, _COIN, reference.coin.coarse_ELBO_loss), _COIN, "coin"
    ),
}

_RESULTS: dict[str, dict[str, float]] = {}


def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


@pytest.fixture(scope="module")
def grid_size(vi_sweep_name: str) -> int:
    return 20 if vi_sweep_name == "tiny" else 100


@pytest.mark.parametrize("name", list(FITS))
def test_fit(benchmark: Any, name: str, grid_size: int, report_goal: Any) -> None:
    problem = FITS[name]
    exact = exact_optimum(problem.exact)

    start = time.perf_counter()
    brute_x = brute(problem.lecture_loss, problem.ranges, Ns=grid_size)  # the lecture's call (finish=fmin)
    brute_s = time.perf_counter() - start
    brute_opt = (float(brute_x[0]), float(brute_x[1]))

    problem.reference_fit(grid_size)  # warm-up (first-call set-up of torch kernels)
    benchmark.group = "fit: reference vs scipy.optimize.brute"
    ref_opt = benchmark(problem.reference_fit, grid_size)
    start = time.perf_counter()
    problem.reference_fit(grid_size)
    ref_s = time.perf_counter() - start
    if benchmark.stats is not None:
        ref_s = min(ref_s, benchmark.stats.stats.min)

    d_brute, d_ref = _distance(brute_opt, exact), _distance(ref_opt, exact)
    accuracy_ratio = d_brute / max(d_ref, 1e-300)
    speed_ratio = brute_s / ref_s
    _RESULTS[name] = {"brute_s": brute_s, "reference_s": ref_s, "d_brute": d_brute, "d_reference": d_ref}
    benchmark.extra_info.update(
        problem=name,
        grid=f"{grid_size}x{grid_size}",
        exact=list(exact),
        brute=list(brute_opt),
        reference=list(ref_opt),
        brute_s=brute_s,
        reference_s=ref_s,
        speed_ratio=speed_ratio,
        brute_distance=d_brute,
        reference_distance=d_ref,
        accuracy_ratio=accuracy_ratio,
    )
    report_goal(
        f"fit {name} ({grid_size}x{grid_size}): brute {brute_s:.2f} s, reference {ref_s * 1e3:.0f} ms = "
        f"{speed_ratio:.0f}x faster; distance to exact optimum {d_brute:.1e} vs {d_ref:.1e} = "
        f"{accuracy_ratio:.0e}x closer (goal >= 100x)"
    )
    assert accuracy_ratio >= 100


def test_fits_speed_ratio(enforce_goals: bool, report_goal: Any) -> None:
    """The four fits together: the reference >= 50x faster than brute (asserted only with ``--vi-goals``)."""
    if len(_RESULTS) < len(FITS):
        pytest.skip("needs every test_fit case in the same run")
    brute_s = sum(r["brute_s"] for r in _RESULTS.values())
    ref_s = sum(r["reference_s"] for r in _RESULTS.values())
    report_goal(f"four fits: brute {brute_s:.1f} s, reference {ref_s:.2f} s = {brute_s / ref_s:.0f}x (goal >= 50x)")
    if enforce_goals:
        assert brute_s / ref_s >= 50
