"""``vicheck figures DIR``: regenerate the lecture's nine figures from the reference implementation.

Each figure is the lecture's plotting cell, computed with :mod:`reference` and corrected where the
lecture is wrong:

* ``constraints_linear`` draws the map that takes U(0, 1) onto U(a, b), :math:`x = a + (b - a)\\,y`
  (the lecture draws :math:`(b - a)(y + a)`), under a title that names the parameters it uses
  (the lecture says Uniform(4,6) while a=1, b=4);
* the figures that show a fit draw the fitted Gaussian (the lecture's loss, minimised by
  :func:`reference.fit_gaussian` instead of the lecture's 18-second ``brute``) and, dashed, the exact
  optimum, each with its (mu, sigma) in the legend;
* the coin figures draw the exact posterior, Beta(3, 4) and its logit transform.

matplotlib is an optional extra (``pip install 'vicheck[plots]'``) imported only by :func:`run`.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "FIGURES",
    "INSTALL_HINT",
    "MissingMatplotlib",
    "add_arguments",
    "import_pyplot",
    "render",
    "run",
]

#: The lecture's nine figures, in lecture order.
FIGURES: tuple[str, ...] = (
    "constrained_derivative",
    "constraints_log",
    "constraints_sigmoid",
    "constraints_linear",
    "kl_mixture_compute",
    "kl_mode_seeking",
    "kl_mass_covering",
    "vi_coin_posterior",
    "vi_coin_model_elbo",
)

FORMATS: tuple[str, ...] = ("png", "pdf")

INSTALL_HINT = (
    "vicheck figures: matplotlib is not installed; install the plotting extra with: pip install 'vicheck[plots]'"
)

# The lecture's brute-force search boxes.
_MIXTURE_BOX = [(-4.0, 8.0), (0.1, 3.0)]
_COIN_BOX = [(-3.0, 3.0), (0.1, 1.0)]


class MissingMatplotlib(ImportError):
    """matplotlib (the ``plots`` extra) cannot be imported."""


def import_pyplot() -> ModuleType:
    """``matplotlib.pyplot`` on the non-interactive Agg backend; :class:`MissingMatplotlib` when absent."""
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingMatplotlib(INSTALL_HINT) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "directory", metavar="DIR", type=Path, help="folder to write the figures to (created if missing)"
    )
    parser.add_argument("--format", choices=FORMATS, default="png", help="image format (default: png)")
    parser.add_argument("--dpi", type=_positive_int, default=100, help="resolution of PNG files (default: 100)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=FIGURES,
        metavar="NAME",
        help=f"render only these figures (any of: {', '.join(FIGURES)})",
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    try:
        import_pyplot()
    except MissingMatplotlib as exc:
        print(exc, file=sys.stderr)
        return 1
    directory: Path = args.directory
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"vicheck figures: cannot create {directory}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    names = list(dict.fromkeys(args.only)) if args.only else list(FIGURES)
    for name in names:
        for path in render(directory, [name], fmt=args.format, dpi=args.dpi):
            print(path, flush=True)
    return 0


def render(
    directory: Path | str,
    names: list[str] | tuple[str, ...] = FIGURES,
    *,
    fmt: str = "png",
    dpi: int = 100,
) -> list[Path]:
    """Write the figures ``names`` into ``directory`` as ``NAME.fmt``; returns the paths written."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; choose from {FIGURES}")
    plt = import_pyplot()
    directory = Path(directory)
    written = []
    for name in names:
        fig = _BUILDERS[name]()
        path = directory / f"{name}.{fmt}"
        try:
            fig.tight_layout()
            fig.savefig(path, format=fmt, dpi=dpi)
        finally:
            plt.close(fig)
        written.append(path)
    return written


# --------------------------------------------------------------------------------------------------
# Fits: the lecture's loss minimised by fit_gaussian ("fitted") beside the exact optimum.


@dataclass(frozen=True)
class _Fit:
    mu: float
    sigma: float

    def label(self, what: str) -> str:
        return f"{what}: μ={self.mu:.5f}, σ={self.sigma:.5f}"


def _fit(loss: Callable[[Any], Any], box: list[tuple[float, float]], grid_loss: Any = None) -> _Fit:
    import reference as R

    result = R.fit_gaussian(loss, box, Ns=100, grid_loss=grid_loss)
    return _Fit(result.mu, result.sigma)


@functools.cache
def _mode_seeking() -> tuple[_Fit, _Fit]:
    """(the lecture's loss, on mu +- 4 sigma; the exact local optimum, float64 on mu +- 10 sigma)."""
    import torch

    import reference as R
    from reference.examples import make_normal_mixture

    fitted = _fit(R.mode_seeking_loss(R.normal_mixture, width=4.0), _MIXTURE_BOX)
    exact = _fit(R.mode_seeking_loss(make_normal_mixture(torch.float64)), _MIXTURE_BOX)
    return fitted, exact


@functools.cache
def _mass_covering() -> tuple[_Fit, _Fit]:
    """(the lecture's loss, on [-4, 8]; the exact optimum: the mixture's mean and standard deviation)."""
    import torch

    import reference as R
    from reference.examples import make_normal_mixture

    fitted = _fit(R.mass_covering_loss(R.normal_mixture, a=-4.0, b=8.0), _MIXTURE_BOX)
    mixture = make_normal_mixture(torch.float64)
    return fitted, _Fit(float(mixture.mean), math.sqrt(float(mixture.variance)))


@functools.cache
def _coin(which: str) -> tuple[_Fit, _Fit]:
    """(the lecture's loss, on mu +- 4 sigma; the exact optimum, on mu +- 10 sigma) for DKL_QP or ELBO_loss."""
    import reference as R
    from reference import coin

    loss, coarse = (R.DKL_QP, coin.coarse_DKL_QP) if which == "DKL_QP" else (R.ELBO_loss, coin.coarse_ELBO_loss)
    fitted = _fit(functools.partial(loss, width=4.0), _COIN_BOX, grid_loss=coarse)
    exact = _fit(loss, _COIN_BOX, grid_loss=coarse)
    return fitted, exact


# --------------------------------------------------------------------------------------------------
# The nine figures.


def _density(d: Any, x: Any) -> Any:
    """p(x) as a numpy array, 0 outside the support (and wherever log p is not finite)."""
    import torch

    from reference.kl import _masked_log_prob

    lp, _ = _masked_log_prob(d, x)
    p = torch.exp(lp)
    return torch.where(torch.isfinite(p), p, torch.zeros((), dtype=p.dtype)).detach().numpy()


def _constrained_derivative() -> Figure:
    import torch
    import torch.distributions as dist

    import reference as R

    d = dist.Beta(2.0, 2.0, validate_args=False)
    xs = torch.linspace(-1, 2, 200)
    fig, axs = _subplots(2, (8, 4))
    axs[0].plot(xs, _density(d, xs), label="density function")
    axs[0].set_title("density function, Beta(2,2)")
    axs[1].plot(xs, R.derivative_lp(d, xs).detach().numpy(), label="density function derivative")
    axs[1].set_title("density function derivative")
    for ax in axs:
        ax.set_xlabel("x")
    return fig


def _subplots(ncols: int, figsize: tuple[float, float]) -> tuple[Figure, list[Axes]]:
    """A new pyplot figure with ``ncols`` axes side by side (pyplot is on Agg: :func:`import_pyplot`)."""
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, ncols, figsize=figsize, squeeze=False)
    return fig, list(axs[0])


def _constraints_log() -> Figure:
    import torch
    import torch.distributions as dist

    import reference as R

    d = dist.Gamma(1.0, 1.0)
    fig, axs = _subplots(3, (12, 4))
    ys = torch.linspace(-4, 4, 200)
    axs[0].plot(ys, torch.exp(ys))
    axs[0].set(xlabel="Y", ylabel="X", title=r"$H^{-1}(y) = \exp(y)$")
    xs = torch.linspace(-1, 3, 200)
    axs[1].plot(xs, _density(d, xs))
    axs[1].set(xlabel="X", title="X ~ Gamma(1,1), X = exp(Y)")
    ys = torch.linspace(-6, 3, 200)
    axs[2].plot(ys, R.lp_transformed(ys, d, R.exp_transform()).exp())
    axs[2].set(xlabel="Y", title="Y = log(X)")
    return fig


def _constraints_sigmoid() -> Figure:
    import torch
    import torch.distributions as dist

    import reference as R

    d = dist.Beta(2.0, 3.0)
    fig, axs = _subplots(3, (12, 4))
    ys = torch.linspace(-4, 4, 200)
    axs[0].plot(ys, R.sigmoid(ys))
    axs[0].set(xlabel="Y", ylabel="X", title=r"$H^{-1}(y) = \exp(y) / (1+\exp(y))$")
    xs = torch.linspace(0, 1, 200)
    axs[1].plot(xs, _density(d, xs))
    axs[1].set(xlabel="X", title=r"$X \sim Beta(2,3),\ X = \exp(Y) / (1+\exp(Y))$")
    ys = torch.linspace(-6, 3, 200)
    axs[2].plot(ys, R.lp_transformed(ys, d, R.sigmoid_transform()).exp())
    axs[2].set(xlabel="Y", title="Y = log(X / (1 - X))")
    return fig


def _constraints_linear() -> Figure:
    import torch
    import torch.distributions as dist

    import reference as R

    a, b = 1.0, 4.0
    d = dist.Uniform(a, b, validate_args=False)
    H = R.affine_transform(a, b)
    fig, axs = _subplots(3, (12, 4))
    ys = torch.linspace(-4, 4, 200)
    axs[0].plot(ys, H(ys))
    axs[0].set(xlabel="Y", ylabel="X", title=r"$H^{-1}(y) = a + (b - a)\,y$" + f"  (a={a:g}, b={b:g})")
    xs = torch.linspace(-2, 5, 701)
    axs[1].plot(xs, _density(d, xs))
    axs[1].set(xlabel="X", title=f"X ~ Uniform({a:g},{b:g}), X = a + (b - a) Y")
    ys = torch.linspace(-2, 5, 701)
    axs[2].plot(ys, R.lp_transformed(ys, d, H).exp())
    axs[2].set(xlabel="Y", title="Y = (X - a) / (b - a) ~ Uniform(0,1)")
    return fig


def _kl_mixture_compute() -> Figure:
    import torch

    import reference as R

    x = torch.linspace(-4, 8, 400)
    kl = float(R.kl_divergence_1(R.normal_mixture, R.normal, -5, 7, N=10000))
    fig, (ax,) = _subplots(1, (6.4, 4.8))
    ax.plot(x, _density(R.normal_mixture, x), label="P: 0.4 N(-1, 0.75²) + 0.6 N(4, 0.5²)")
    ax.plot(x, _density(R.normal, x), label="Q: N(0, 1)")
    ax.set(xlabel="x", title=f"KL(P || Q) = {kl:.4f}")
    ax.legend()
    return fig


def _plot_fit(ax: Axes, x: Any, fitted: _Fit, exact: _Fit, what: str, transform: Any = None) -> None:
    """Draw Q fitted (solid) and Q at the exact optimum (dashed), each marked at mu (at T(mu) behind ``transform``)."""
    import torch
    import torch.distributions as dist

    for fit, style, color, marker, label in (
        (fitted, "-", "C1", "o", fitted.label(f"Q fitted ({what})")),
        (exact, "--", "k", "x", exact.label("Q exact optimum")),
    ):
        q: Any = dist.Normal(torch.tensor(fit.mu, dtype=torch.float64), torch.tensor(fit.sigma, dtype=torch.float64))
        at_mean = torch.tensor(fit.mu, dtype=torch.float64)
        if transform is not None:
            q = dist.TransformedDistribution(q, transform)
            at_mean = transform(at_mean)
        ax.plot(x, _density(q, x), linestyle=style, color=color, lw=1.2 if style == "--" else 2.0, label=label)
        ax.plot([float(at_mean)], [float(_density(q, at_mean))], marker=marker, color=color, ms=8, ls="none")


def _kl_fit_figure(fitted: _Fit, exact: _Fit, title: str, what: str) -> Figure:
    import torch

    import reference as R

    x = torch.linspace(-4, 8, 400, dtype=torch.float64)
    fig, (ax,) = _subplots(1, (6.4, 4.8))
    ax.plot(x, _density(R.normal_mixture, x.float()), label="P", color="C0")
    _plot_fit(ax, x, fitted, exact, what)
    ax.set(xlabel="x", title=title)
    ax.legend(fontsize="small")
    return fig


def _kl_mode_seeking() -> Figure:
    fitted, exact = _mode_seeking()
    return _kl_fit_figure(fitted, exact, "mode seeking: min KL(Q || P)", "lecture's loss")


def _kl_mass_covering() -> Figure:
    fitted, exact = _mass_covering()
    return _kl_fit_figure(fitted, exact, "mass covering: min KL(P || Q) = moment matching", "lecture's loss")


def _coin_figure(which: str, suptitle: str) -> Figure:
    import torch

    import reference as R

    fitted, exact = _coin(which)
    fig, axs = _subplots(2, (8, 4))
    ps = torch.linspace(-5, 5, 200, dtype=torch.float64)
    axs[0].plot(ps, _density(R.posterior_unconstrained, ps.float()), label="P(X|Y) exact: logit Beta(3,4)", color="C0")
    _plot_fit(axs[0], ps, fitted, exact, f"lecture's {which}")
    axs[0].set(title="Unconstrained", xlabel="logit θ")
    ps = torch.linspace(0, 1, 200, dtype=torch.float64)
    axs[1].plot(ps, _density(R.posterior, ps.float()), label="P(X|Y) exact: Beta(3,4)", color="C0")
    _plot_fit(axs[1], ps, fitted, exact, f"lecture's {which}", transform=R.T)
    axs[1].set(title="Constrained", xlabel="θ")
    for ax in axs:
        ax.legend(fontsize="x-small")
    fig.suptitle(suptitle)
    return fig


def _vi_coin_posterior() -> Figure:
    return _coin_figure("DKL_QP", "coin model: Q minimising KL(Q || P(X|Y))")


def _vi_coin_model_elbo() -> Figure:
    return _coin_figure("ELBO_loss", "coin model: Q maximising the ELBO")


_BUILDERS: dict[str, Callable[[], Figure]] = {
    "constrained_derivative": _constrained_derivative,
    "constraints_log": _constraints_log,
    "constraints_sigmoid": _constraints_sigmoid,
    "constraints_linear": _constraints_linear,
    "kl_mixture_compute": _kl_mixture_compute,
    "kl_mode_seeking": _kl_mode_seeking,
    "kl_mass_covering": _kl_mass_covering,
    "vi_coin_posterior": _vi_coin_posterior,
    "vi_coin_model_elbo": _vi_coin_model_elbo,
}
assert tuple(_BUILDERS) == FIGURES
