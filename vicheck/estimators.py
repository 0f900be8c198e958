r"""The lecture's numerical problems, their exact values, and the estimators that approximate them.

One registry, :data:`PROBLEMS`, shared by the pytest-benchmark suite (``benchmarks/``) and by
``vicheck work-precision``. Each :class:`Problem` has an exact value (computed once, in float64, in closed
form or by ``scipy.integrate.quad``, and cached) and a set of estimators, each a callable
``estimator(N, dtype, device, seed) -> torch.Tensor`` returning a 0-dim tensor on ``device``:

========================  ====================================================  =========================
problem                   quantity                                              exact value
========================  ====================================================  =========================
``mixture_kl``            KL(0.4 N(-1, 0.75²) + 0.6 N(4, 0.5²) ‖ N(0, 1))       4.545539781755494 (quad)
``normal_kl``             KL(N(0, 1) ‖ N(0.5, 1.2²))                            closed form (torch)
``coin_elbo``             ELBO of q = N(-1, 1) for the coin model               log(1/60) − KL(q ‖ p(x|y))
``coin_log_evidence``     log p(y) of the coin model                            log(1/60)
========================  ====================================================  =========================

Methods (``N`` is the number of points or samples):

* ``trapezoid`` -- the lecture's rule on ``N`` equally spaced points of a window wide enough that the
  truncated tails are below float64 resolution (the integrands are analytic and decay like Gaussians,
  so the rule converges geometrically once the grid resolves the narrowest component);
* ``gauss-legendre`` -- the higher-order rule, ``N`` Gauss--Legendre nodes on the same window;
* ``mc-plain`` -- plain Monte Carlo, :math:`\frac1N\sum\log p(x_i) - \log q(x_i)`, :math:`x_i\sim p`
  (for the ELBO, :math:`x_i\sim q`; for the evidence, :math:`\log\frac1N\sum p(y\mid\theta_i)`,
  :math:`\theta_i` from the prior);
* ``mc-k3`` -- the low-variance unbiased KL estimator :math:`(r-1)-\log r`, :math:`r=q/p` (KL problems only:
  it needs both densities normalised).

All integrands are computed from log densities (never a ratio of densities). Distributions are built with
``validate_args=False`` on the requested device and cached per (dtype, device): the samples and grid
points are on the support by construction, and validation would be timed otherwise.
"""

from __future__ import annotations

import functools
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributions as dist

from reference.coin import log_joint_unconstrained
from reference.kl import monte_carlo_kl
from reference.quadrature import _legendre

__all__ = [
    "DTYPES",
    "METHODS",
    "PROBLEMS",
    "SWEEPS",
    "Estimator",
    "Problem",
    "Sweep",
    "available_devices",
    "is_monte_carlo",
    "kl_trapezoid",
    "mixture",
    "synchronize",
    "time_call",
]

Device = str | torch.device
#: ``estimator(N, dtype, device, seed)``: a 0-dim tensor on ``device`` (``seed`` is ignored by quadrature).
Estimator = Callable[[int, torch.dtype, Device, int], torch.Tensor]

METHODS: tuple[str, ...] = ("trapezoid", "gauss-legendre", "mc-plain", "mc-k3")
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}

#: the lecture's mixture and its reference Normal
MIXTURE_WEIGHTS = (0.4, 0.6)
MIXTURE_LOCS = (-1.0, 4.0)
MIXTURE_SCALES = (0.75, 0.5)
#: the two Normals of ``normal_kl``: KL(N(0, 1) || N(0.5, 1.2^2))
NORMAL_P = (0.0, 1.0)
NORMAL_Q = (0.5, 1.2)
#: the variational Normal at which ``coin_elbo`` evaluates the ELBO (the lecture's mu = -1, sigma = 1)
ELBO_Q = (-1.0, 1.0)
#: coin model: 2 heads and 3 tails under a U(0, 1) prior, evidence B(3, 4) = 1/60
HEADS, TAILS = 2, 3
LOG_EVIDENCE = -math.log(60.0)

#: quadrature windows: every window leaves out less than 1e-30 of its integrand
MIXTURE_WINDOW = (-11.0, 13.0)  # -1 - 13.3 * 0.75, 4 + 18 * 0.5
NORMAL_WINDOW = (-12.0, 12.0)  # p = N(0, 1) +- 12 sigma
ELBO_WINDOW = (ELBO_Q[0] - 12 * ELBO_Q[1], ELBO_Q[0] + 12 * ELBO_Q[1])
EVIDENCE_WINDOW = (-25.0, 25.0)  # the joint decays like e^{3x} and e^{-4x}


def is_monte_carlo(method: str) -> bool:
    """Whether ``method`` is a Monte Carlo estimator (its result depends on the seed)."""
    return method.startswith("mc-")


# --------------------------------------------------------------------------------------------- devices


def available_devices() -> list[str]:
    """``["cpu"]``, plus ``"cuda"`` when a CUDA device is present."""
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def synchronize(device: Device) -> None:
    """Wait for the device's queued kernels (CUDA launches are asynchronous); a no-op on the CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_call(
    fn: Callable[[], Any], device: Device = "cpu", *, repeat: int = 5, min_time: float = 2e-3, reduce: str = "min"
) -> float:
    """Seconds per call of ``fn``: ``repeat`` measurements of enough calls to last ``min_time`` each,
    reduced by ``min`` (default) or ``median``; the device is synchronised before each timer stops."""
    fn()
    synchronize(device)
    number = 1
    while True:  # calibrate the number of calls per measurement
        start = time.perf_counter()
        for _ in range(number):
            fn()
        synchronize(device)
        elapsed = time.perf_counter() - start
        if elapsed >= min_time or number >= 1 << 20:
            break
        number *= 2 if elapsed <= 0 else max(2, min(10, math.ceil(1.5 * min_time / elapsed)))
    samples = [elapsed / number]
    for _ in range(repeat - 1):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        synchronize(device)
        samples.append((time.perf_counter() - start) / number)
    return min(samples) if reduce == "min" else statistics.median(samples)


# ------------------------------------------------------------------------------------- distributions


def _dev(device: Device) -> torch.device:
    return torch.device(device)


@functools.cache
def mixture(dtype: torch.dtype, device: torch.device) -> dist.MixtureSameFamily:
    """The lecture's mixture 0.4 N(-1, 0.75^2) + 0.6 N(4, 0.5^2) in ``dtype`` on ``device``."""
    kw: dict[str, Any] = {"dtype": dtype, "device": device}
    return dist.MixtureSameFamily(
        dist.Categorical(torch.tensor(MIXTURE_WEIGHTS, **kw), validate_args=False),
        dist.Normal(torch.tensor(MIXTURE_LOCS, **kw), torch.tensor(MIXTURE_SCALES, **kw), validate_args=False),
        validate_args=False,
    )


@functools.cache
def _normal(loc: float, scale: float, dtype: torch.dtype, device: torch.device) -> dist.Distribution:
    kw: dict[str, Any] = {"dtype": dtype, "device": device}
    return dist.Normal(torch.tensor(loc, **kw), torch.tensor(scale, **kw), validate_args=False)


@functools.cache
def _legendre_tensors(N: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    nodes, weights = _legendre(N)
    return torch.as_tensor(nodes, dtype=dtype, device=device), torch.as_tensor(weights, dtype=dtype, device=device)


# ---------------------------------------------------------------------------------------- quadrature


def _trapezoid(
    func: Callable[[torch.Tensor], torch.Tensor], a: float, b: float, N: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """The lecture's trapezoid rule on ``N`` points of [a, b], the step taken from the end points."""
    x = torch.linspace(a, b, N, dtype=dtype, device=device)
    y = func(x)
    return ((b - a) / (N - 1)) * (y.sum(dim=0) - 0.5 * (y[0] + y[-1]))


def _gauss_legendre(
    func: Callable[[torch.Tensor], torch.Tensor], a: float, b: float, N: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    t, w = _legendre_tensors(N, dtype, device)
    half = (b - a) / 2
    return half * (w * func((a + b) / 2 + half * t)).sum(dim=0)


def _kl_integrand(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    r""":math:`p\,(\log p - \log q)` from log densities; 0 where :math:`p` underflows to 0."""
    finite = torch.isfinite(log_p)
    return torch.where(
        finite, torch.exp(log_p) * (log_p - log_q), torch.zeros((), dtype=log_p.dtype, device=log_p.device)
    )


def kl_trapezoid(p: dist.Distribution, q: dist.Distribution, a: Any, b: Any, N: int) -> torch.Tensor:
    r"""KL(p || q) by the trapezoid rule on ``N`` points of [a, b], batched and device-aware.

    ``a`` and ``b`` may be tensors of the batch shape of ``p`` and ``q`` (on their device): the grid has shape
    ``(N, *batch)``. Same rule and log-space integrand as :func:`reference.kl.kl_divergence_1`, for
    distributions whose support is the real line, with the grid built on the distributions' device.
    """
    a_t = torch.as_tensor(a)
    b_t = torch.as_tensor(b, dtype=a_t.dtype, device=a_t.device)
    t = torch.linspace(0.0, 1.0, N, dtype=a_t.dtype, device=a_t.device).reshape((N,) + (1,) * a_t.dim())
    x = a_t + t * (b_t - a_t)
    y = _kl_integrand(p.log_prob(x), q.log_prob(x))
    return (b_t - a_t) / (N - 1) * (y.sum(dim=0) - 0.5 * (y[0] + y[-1]))


# -------------------------------------------------------------------------------------------- problems


def _kl_estimators(
    make: Callable[[torch.dtype, torch.device], tuple[dist.Distribution, dist.Distribution]],
    window: tuple[float, float],
) -> dict[str, Estimator]:
    a, b = window

    def trapezoid(N: int, dtype: torch.dtype, device: Device, seed: int = 0) -> torch.Tensor:
        p, q = make(dtype, _dev(device))
        return _trapezoid(lambda x: _kl_integrand(p.log_prob(x), q.log_prob(x)), a, b, N, dtype, _dev(device))

    def gauss_legendre(N: int, dtype: torch.dtype, device: Device, seed: int = 0) -> torch.Tensor:
        p, q = make(dtype, _dev(device))
        return _gauss_legendre(lambda x: _kl_integrand(p.log_prob(x), q.log_prob(x)), a, b, N, dtype, _dev(device))

    def mc_plain(N: int, dtype: torch.dtype, device: Device, seed: int = 0) -> torch.Tensor:
        p, q = make(dtype, _dev(device))
        torch.manual_seed(seed)
        return monte_carlo_kl(p, q, N).value

    def mc_k3(N: int, dtype: torch.dtype, device: Device, seed: int = 0) -> torch.Tensor:
        p, q = make(dtype, _dev(device))
        torch.manual_seed(seed)
        return monte_carlo_kl(p, q, N, estimator="k3").value

    return {"trapezoid": trapezoid, "gauss-legendre": gauss_legendre, "mc-plain": mc_plain, "mc-k3": mc_k3}


def _mixture_pair(dtype: torch.dtype, device: torch.device) -> tuple[dist.Distribution, dist.Distribution]:
    return mixture(dtype, device), _normal(0.0, 1.0, dtype, device)


def _normal_pair(dtype: torch.dtype, device: torch.device) -> tuple[dist.Distribution, dist.Distribution]:
    return _normal(*NORMAL_P, dtype, device), _normal(*NORMAL_Q, dtype, device)


def _elbo_estimators() -> dict[str, Estimator]:
    a, b = ELBO_WINDOW

    def integrand(q: dist.Distribution) -> Callable[[torch.Tensor], torch.Tensor]:
        def f(x: torch.Tensor) -> torch.Tensor:
            log_q = q.log_prob(x)
            return torch.exp(log_q) * (log_joint_unconstrained(x) - log_q)

        return f

    def trapezoid(N: int, dtype: torch.dtype, device: Device, seed: int = 0) -> torch.Tensor:
        q = _normal(*ELBO_Q, dtype, _dev(device))
        return _trapezoid(integrand(q), a, b, N, dtype, _dev(device))

    def gauss_legendre(N: int, dtype: torch.dtype, device: Device, seed: int = 0) -> torch.Tensor:
        q = _normal(*ELBO_Q, dtype, _dev(device))
        return _gauss_legendre(integrand(q), a, b, N, dtype, _dev(device))

    def mc_plain(N: int, dtype: torch.dtype, device: Device, seed: int = 0) -> torch.Tensor:
        q = _normal(*ELBO_Q, dtype, _dev(device))
        torch.manual_seed(seed)
        x = q.sample((N,))
        return (log_joint_unconstrained(x) - q.log_prob(x)).mean()

    return {"trapezoid": trapezoid, "gauss-legendre": gauss_legendre, "mc-plain": mc_plain}


def _evidence_estimators() -> dict[str, Estimator]:
    a, b = EVIDENCE_WINDOW

    def joint(x: torch.Tensor) -> torch.Tensor:
        return torch.exp(log_joint_unconstrained(x))

    def trapezoid(N: int, dtype: torch.dtype, device: Device, seed: int = 0) -> torch.Tensor:
        return torch.log(_trapezoid(joint, a, b, N, dtype, _dev(device)))

    def gauss_legendre(N: int, dtype: torch.dtype, device: Device, seed: int = 0) -> torch.Tensor:
        return torch.log(_gauss_legendre(joint, a, b, N, dtype, _dev(device)))

    def mc_plain(N: int, dtype: torch.dtype, device: Device, seed: int = 0) -> torch.Tensor:
        torch.manual_seed(seed)
        theta = torch.rand(N, dtype=dtype, device=_dev(device))
        log_lik = torch.xlogy(HEADS, theta) + torch.xlogy(TAILS, 1 - theta)
        return torch.logsumexp(log_lik, dim=0) - math.log(N)

    return {"trapezoid": trapezoid, "gauss-legendre": gauss_legendre, "mc-plain": mc_plain}


# ------------------------------------------------------------------------------------ exact (float64)


def _quad(f: Callable[[float], float], a: float, b: float, points: Sequence[float] = ()) -> float:
    import warnings

    from scipy.integrate import IntegrationWarning, quad

    with warnings.catch_warnings():  # at this tolerance quad may report round-off: the value is still accurate
        warnings.simplefilter("ignore", IntegrationWarning)
        value, _ = quad(f, a, b, points=list(points) or None, epsabs=1e-15, epsrel=1e-14, limit=500)
    return float(value)


def _log_normal_pdf(x: float, loc: float, scale: float) -> float:
    return -0.5 * ((x - loc) / scale) ** 2 - math.log(scale) - 0.5 * math.log(2 * math.pi)


def _log_mixture_pdf(x: float) -> float:
    terms = [
        math.log(w) + _log_normal_pdf(x, m, s)
        for w, m, s in zip(MIXTURE_WEIGHTS, MIXTURE_LOCS, MIXTURE_SCALES, strict=True)
    ]
    return float(np.logaddexp(terms[0], terms[1]))


def _log_posterior_unconstrained(x: float) -> float:
    """log density of logit(theta), theta ~ Beta(3, 4): 3 log s(x) + 4 log s(-x) - log B(3, 4)."""
    log_sig = -float(np.logaddexp(0.0, -x))
    log_sig_neg = -float(np.logaddexp(0.0, x))
    return (1 + HEADS) * log_sig + (1 + TAILS) * log_sig_neg - LOG_EVIDENCE


def _exact_mixture_kl() -> float:
    def f(x: float) -> float:
        lp = _log_mixture_pdf(x)
        return math.exp(lp) * (lp - _log_normal_pdf(x, 0.0, 1.0))

    return _quad(f, -30.0, 30.0, points=MIXTURE_LOCS)


def _exact_normal_kl() -> float:
    p = dist.Normal(torch.tensor(NORMAL_P[0], dtype=torch.float64), torch.tensor(NORMAL_P[1], dtype=torch.float64))
    q = dist.Normal(torch.tensor(NORMAL_Q[0], dtype=torch.float64), torch.tensor(NORMAL_Q[1], dtype=torch.float64))
    return float(dist.kl_divergence(p, q))


def _exact_elbo() -> float:
    mu, sigma = ELBO_Q

    def f(x: float) -> float:
        lq = _log_normal_pdf(x, mu, sigma)
        return math.exp(lq) * (lq - _log_posterior_unconstrained(x))

    kl_q_posterior = _quad(f, mu - 40 * sigma, mu + 40 * sigma, points=(mu,))
    return LOG_EVIDENCE - kl_q_posterior


@dataclass(frozen=True)
class Problem:
    """One of the lecture's computations: its exact value and the estimators that approximate it."""

    name: str
    title: str
    exact_fn: Callable[[], float]
    estimators: Mapping[str, Estimator]

    @property
    def exact(self) -> float:
        """The exact value (float64; computed on first use, then cached)."""
        return _exact(self.name)

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(m for m in METHODS if m in self.estimators)

    def estimate(
        self, method: str, N: int, dtype: torch.dtype = torch.float64, device: Device = "cpu", seed: int = 0
    ) -> float:
        """The estimate as a Python float (the device is synchronised by the transfer)."""
        return float(self.estimators[method](N, dtype, device, seed))

    def abs_error(self, value: float) -> float:
        return abs(value - self.exact)

    def rel_error(self, value: float) -> float:
        return abs(value - self.exact) / abs(self.exact)


PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in (
        Problem(
            "mixture_kl", "KL(mixture || N(0,1))", _exact_mixture_kl, _kl_estimators(_mixture_pair, MIXTURE_WINDOW)
        ),
        Problem(
            "normal_kl", "KL(N(0,1) || N(0.5,1.2^2))", _exact_normal_kl, _kl_estimators(_normal_pair, NORMAL_WINDOW)
        ),
        Problem("coin_elbo", "coin ELBO at q = N(-1, 1)", _exact_elbo, _elbo_estimators()),
        Problem("coin_log_evidence", "coin log evidence log p(y)", lambda: LOG_EVIDENCE, _evidence_estimators()),
    )
}


@functools.cache
def _exact(name: str) -> float:
    return PROBLEMS[name].exact_fn()


# ---------------------------------------------------------------------------------------------- sweeps


@dataclass(frozen=True)
class Sweep:
    """The values of ``N``: points for the quadrature rules, samples for Monte Carlo."""

    quadrature: tuple[int, ...]
    monte_carlo: tuple[int, ...]

    def sizes(self, method: str) -> tuple[int, ...]:
        return self.monte_carlo if is_monte_carlo(method) else self.quadrature


SWEEPS: dict[str, Sweep] = {
    "tiny": Sweep(quadrature=(8, 32, 128), monte_carlo=(100, 1_000, 10_000)),
    "default": Sweep(quadrature=(16, 64, 256, 1024), monte_carlo=(100, 10_000, 1_000_000)),
    "full": Sweep(quadrature=tuple(2**k for k in range(2, 12)), monte_carlo=tuple(10**k for k in range(2, 7))),
}
