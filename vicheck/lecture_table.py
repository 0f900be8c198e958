"""``vicheck table``: the lecture's computations, the lecture's printed value beside the reference's and the exact.

The reference column is computed with the reference's accurate defaults (windows mu +- 10 sigma, the log
evidence over [-40, 40] in log space, the fits by :func:`reference.fit_gaussian`). The exact column is
computed at run time, independently of the reference, with SciPy: adaptive quadrature
(``scipy.integrate.quad``) for the KL, Gauss--Hermite quadrature (``scipy.special.roots_hermitenorm``) under
Nelder--Mead for the reverse-KL optima; closed forms only where one exists (moment matching, log(1/60), 4.5).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributions as dist
from scipy import integrate, optimize, special

__all__ = ["TableRow", "compute_rows", "format_table", "add_arguments", "run", "exact_values"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}
LOG_1_60 = math.log(1 / 60)
_WEIGHTS, _MEANS, _SCALES = (0.4, 0.6), (-1.0, 4.0), (0.75, 0.5)
_QUAD = {"epsabs": 0.0, "epsrel": 1e-13, "limit": 400}
_NELDER_MEAD = {"xatol": 1e-10, "fatol": 1e-15, "maxiter": 10_000}


@dataclass(frozen=True)
class TableRow:
    """One computation: the lecture's printed text, the reference's values, the exact values, and the
    tolerance (``"rel"`` or ``"abs"``) within which reference and exact must agree in float64."""

    computation: str
    lecture: str
    reference: tuple[float, ...]
    exact: tuple[float, ...]
    exact_note: str
    tol_kind: str
    tol: float

    def agrees(self) -> bool:
        for r, e in zip(self.reference, self.exact, strict=True):
            bound = self.tol * abs(e) if self.tol_kind == "rel" else self.tol
            if not abs(r - e) <= bound:
                return False
        return True


# ---- exact values, independent of the reference ---------------------------------------------------------


def _log_mixture(x: np.ndarray | float) -> np.ndarray:
    comps = [math.log(w) + _log_normal(x, m, s) for w, m, s in zip(_WEIGHTS, _MEANS, _SCALES, strict=True)]
    return np.logaddexp(comps[0], comps[1])


def _log_normal(x: np.ndarray | float, m: float, s: float) -> np.ndarray:
    return np.asarray(-0.5 * ((x - m) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi))


def _log_joint_coin(x: np.ndarray) -> np.ndarray:
    # 2 heads and 3 tails, flat prior, sigmoid Jacobian: 3 log sigma(x) + 4 log sigma(-x).
    return np.asarray(-3 * np.logaddexp(0.0, -x) - 4 * np.logaddexp(0.0, x))


def _gaussian_kl_to(log_target: Callable[[np.ndarray], np.ndarray], nodes: int = 200) -> Callable[[np.ndarray], float]:
    """``(mu, sigma) -> KL(N(mu, sigma) || target)`` by Gauss--Hermite (probabilists') on ``nodes`` points."""
    z, w = special.roots_hermitenorm(nodes)
    w = w / math.sqrt(2 * math.pi)

    def kl(p: np.ndarray) -> float:
        mu, s = float(p[0]), float(p[1])
        if s <= 0:
            return math.inf
        entropy = 0.5 * math.log(2 * math.pi * math.e * s * s)
        return float(-entropy - np.dot(w, log_target(mu + s * z)))

    return kl


def _minimise(f: Callable[[np.ndarray], float], start: Sequence[float]) -> tuple[float, float, float]:
    res = optimize.minimize(f, np.asarray(start, dtype=float), method="Nelder-Mead", options=_NELDER_MEAD)
    return float(res.x[0]), float(res.x[1]), float(res.fun)


def exact_values() -> dict[str, tuple[float, ...]]:
    """Exact values of the lecture's computations (float64, independent of the reference)."""

    def mixture_expect(f: Callable[[float], float]) -> float:
        pieces = [(-np.inf, -1.0), (-1.0, 4.0), (4.0, np.inf)]
        return sum(
            float(integrate.quad(lambda x: math.exp(float(_log_mixture(np.float64(x)))) * f(x), a, b, **_QUAD)[0])
            for a, b in pieces
        )

    kl = mixture_expect(lambda x: float(_log_mixture(np.float64(x)) - _log_normal(np.float64(x), 0.0, 1.0)))
    log_b = math.lgamma(3) + math.lgamma(4) - math.lgamma(7)
    mode = _minimise(_gaussian_kl_to(_log_mixture), (4.0, 0.5))
    coin = _minimise(_gaussian_kl_to(lambda x: _log_joint_coin(x) - log_b), (-0.3, 0.8))
    # Moment matching: mean 0.4(-1) + 0.6(4) = 2; variance 0.4(0.75^2 + 1) + 0.6(0.5^2 + 16) - 2^2 = 6.375.
    return {
        "kl": (kl,),
        "mode": mode,
        "mass": (2.0, math.sqrt(6.375)),
        "coin": coin,
        "log_evidence": (LOG_1_60,),
        "derivative": (4.5,),
    }


# ---- the reference's values -------------------------------------------------------------------------------


def compute_rows(dtype: torch.dtype = torch.float64) -> list[TableRow]:
    """Every row of the lecture's table, the reference evaluated in ``dtype``."""
    import reference as R
    from reference.coin import coarse_DKL_QP, coarse_ELBO_loss
    from reference.examples import make_normal_mixture

    exact = exact_values()
    mixture = make_normal_mixture(dtype)
    normal = dist.Normal(torch.tensor(0.0, dtype=dtype), torch.tensor(1.0, dtype=dtype))
    one = torch.tensor(1.0, dtype=dtype)
    mode_ranges = [(-4.0, 8.0), (0.1, 3.0)]
    coin_ranges = [(-3.0, 3.0), (0.1, 1.0)]

    kl_quad = float(R.kl_divergence_1(mixture, normal, -12 * one, 14 * one, N=2000))
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(0)
    mc = R.monte_carlo_kl(mixture, normal, 1_000_000)
    torch.random.set_rng_state(generator_state)
    mode = R.fit_gaussian(R.mode_seeking_loss(mixture), mode_ranges, dtype=dtype)
    mass = R.fit_gaussian(R.mass_covering_loss(mixture), mode_ranges, dtype=dtype)
    coin_kl = R.fit_gaussian(R.DKL_QP, coin_ranges, dtype=dtype, grid_loss=coarse_DKL_QP)
    coin_elbo = R.fit_gaussian(R.ELBO_loss, coin_ranges, dtype=dtype, grid_loss=coarse_ELBO_loss)
    log_ev = float(R.log_evidence(dtype=dtype))
    gap = float(R.DKL_QP((-one, one)) - R.ELBO_loss((-one, one)))
    grad, analytic = R.autodiff_example(torch.tensor(2.0, dtype=dtype))

    # Tolerances in float64: the 1e-8 relative for values, 1e-6 for fitted (mu, sigma). The Monte
    # Carlo row: 5.33 standard errors (two-sided false alarm 1e-7).
    se = float(mc.stderr)
    return [
        TableRow("KL(mixture ‖ N(0,1)), quadrature", "4.5455", (kl_quad,), exact["kl"], "scipy quad", "rel", 1e-8),
        TableRow(
            f"same, Monte Carlo, N=1e6 (± {se:.1g})",
            "4.5453",
            (float(mc.value),),
            exact["kl"],
            "scipy quad",
            "abs",
            5.33 * se,
        ),
        TableRow(
            "mode-seeking Gaussian fit (mu, sigma, KL)",
            "(3.99999, 0.50044)",
            (mode.mu, mode.sigma, mode.loss),
            exact["mode"],
            "Nelder-Mead, Gauss-Hermite",
            "abs",
            1e-6,
        ),
        TableRow(
            "mass-covering Gaussian fit (mu, sigma)",
            "(2.00051, 2.52487)",
            (mass.mu, mass.sigma),
            exact["mass"],
            "moment matching",
            "abs",
            1e-6,
        ),
        TableRow(
            "coin VI by KL(q‖p) (mu, sigma, KL)",
            "(-0.329713, 0.817461)",
            (coin_kl.mu, coin_kl.sigma, coin_kl.loss),
            exact["coin"],
            "Nelder-Mead, Gauss-Hermite",
            "abs",
            1e-6,
        ),
        TableRow(
            "coin VI by ELBO (mu, sigma)",
            "(-0.329206, 0.817300)",
            (coin_elbo.mu, coin_elbo.sigma),
            exact["coin"][:2],
            "same optimum as by KL",
            "abs",
            1e-6,
        ),
        TableRow("log evidence", "-4.0945", (log_ev,), exact["log_evidence"], "log(1/60)", "rel", 1e-8),
        TableRow("KL − (−ELBO) at mu=-1, sigma=1", "-4.0941", (gap,), exact["log_evidence"], "log(1/60)", "rel", 1e-8),
        TableRow(
            "d/dx (x² + log x) at x=2",
            "4.5",
            (float(grad), float(analytic)),
            exact["derivative"] * 2,
            "2x + 1/x",
            "abs",
            0.0,
        ),
    ]


def _fmt(values: tuple[float, ...], digits: int) -> str:
    text = ", ".join(f"{v:.{digits}g}" for v in values)
    return f"({text})" if len(values) > 1 else text


def format_table(rows: Sequence[TableRow], fmt: str = "markdown", dtype: torch.dtype = torch.float64) -> str:
    """The rows as a markdown table or CSV: computation, lecture, reference, exact."""
    digits = 16 if dtype == torch.float64 else 8
    header = ["computation", "lecture output", f"reference ({str(dtype).removeprefix('torch.')})", "exact"]
    body = [
        [r.computation, r.lecture, _fmt(r.reference, digits), f"{_fmt(r.exact, 16)} [{r.exact_note}]"] for r in rows
    ]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(body)
        return out.getvalue()
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("markdown", "csv"), default="markdown", help="output format")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="float64", help="dtype of the reference's values")


def run(args: argparse.Namespace) -> int:
    dtype = DTYPES[args.dtype]
    rows = compute_rows(dtype)
    sys.stdout.write(format_table(rows, args.format, dtype))
    return 0
