"""Quadrature versus Monte Carlo on the lecture's problems, over N, dtype and device.

One benchmark per (problem, method, N, dtype, device), grouped by problem; ``extra_info`` holds N, device,
dtype, method, the estimate, the exact value and the absolute and relative errors. Monte Carlo cases use
seed 0 in every round (the value in ``extra_info`` is that seed's estimate).
"""

from __future__ import annotations

from typing import Any

import torch

from vicheck.estimators import DTYPES, PROBLEMS, is_monte_carlo, synchronize


def test_estimator(benchmark: Any, estimator_case: tuple[str, str, int, str], device: str) -> None:
    name, method, N, dtype_name = estimator_case
    problem = PROBLEMS[name]
    dtype = DTYPES[dtype_name]
    estimator = problem.estimators[method]

    def call() -> torch.Tensor:
        value = estimator(N, dtype, device, 0)
        synchronize(device)  # CUDA kernels run asynchronously: wait before the timer stops
        return value

    benchmark.group = problem.name
    benchmark.extra_info.update(
        problem=problem.name, method=method, N=N, device=device, dtype=dtype_name, monte_carlo=is_monte_carlo(method)
    )
    estimate = float(benchmark(call))
    exact = problem.exact
    benchmark.extra_info.update(
        estimate=estimate,
        exact=exact,
        abs_error=abs(estimate - exact),
        rel_error=abs(estimate - exact) / abs(exact),
    )
    assert torch.isfinite(torch.tensor(estimate))
