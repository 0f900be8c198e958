"""pytest-benchmark set-up for ``benchmarks/``: the ``--vi-*`` options, the parameter sweep, the devices.

``pytest benchmarks/`` is not part of the default test run (``testpaths`` in pyproject.toml). Options:

* ``--vi-sweep=tiny|default|full`` -- the values of N (points or samples) from
  :data:`vicheck.estimators.SWEEPS` (also ``VICHECK_SWEEP``); ``tiny`` is what ``tests/`` uses;
* ``--vi-goals=report|assert`` -- the performance goals' timing ratios are only reported (``report``, the
  default) or also asserted (``assert``). Timing depends on the machine and its load, so, as with
  pytest-benchmark (whose runs fail on timing only through ``--benchmark-compare-fail``), a run fails on a
  timing goal only when asked to; accuracy goals are always asserted.

Ratios and goal checks are printed in a "vicheck performance goals" section at the end of the run.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import torch

from vicheck.estimators import DTYPES, PROBLEMS, SWEEPS, Sweep

SWEEP_KEY = pytest.StashKey[str]()
ENFORCE_KEY = pytest.StashKey[bool]()
GOALS_KEY = pytest.StashKey[list[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vicheck", "vicheck benchmarks (benchmarks/)")
    group.addoption(
        "--vi-sweep",
        choices=sorted(SWEEPS),
        default=None,
        help="values of N to benchmark: tiny (tests), default, full (default: $VICHECK_SWEEP or 'default')",
    )
    group.addoption(
        "--vi-goals",
        choices=("report", "assert"),
        default="report",
        help="report the performance goals' timing ratios (default), or also assert them (assert); "
        "accuracy goals are always asserted",
    )


def pytest_configure(config: pytest.Config) -> None:
    sweep = config.getoption("--vi-sweep", default=None) or os.environ.get("VICHECK_SWEEP") or "default"
    if sweep not in SWEEPS:
        raise pytest.UsageError(f"--vi-sweep / VICHECK_SWEEP must be one of {sorted(SWEEPS)}, got {sweep!r}")
    config.stash[SWEEP_KEY] = sweep
    config.stash[ENFORCE_KEY] = config.getoption("--vi-goals", default="report") == "assert"
    config.stash[GOALS_KEY] = []


def pytest_report_header(config: pytest.Config) -> list[str]:
    name = config.stash.get(SWEEP_KEY, "default")
    sweep = SWEEPS[name]
    cuda = f"cuda ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else "cuda: skipped, no CUDA device"
    goals = "asserted" if config.stash.get(ENFORCE_KEY, False) else "reported only"
    return [
        f"vicheck sweep: {name} (quadrature N={list(sweep.quadrature)}, Monte Carlo N={list(sweep.monte_carlo)})",
        f"vicheck devices: cpu, {cuda}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"timing goals {goals}",
    ]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    lines = config.stash.get(GOALS_KEY, [])
    if lines:
        terminalreporter.section("vicheck performance goals")
        for line in lines:
            terminalreporter.write_line(line)


def _device_params() -> list[Any]:
    return [
        pytest.param("cpu", id="cpu"),
        pytest.param(
            "cuda", id="cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
        ),
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    sweep = SWEEPS[metafunc.config.stash.get(SWEEP_KEY, "default")]
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", _device_params())
    if "estimator_case" in metafunc.fixturenames:
        cases = [
            pytest.param((problem.name, method, N, dtype), id=f"{problem.name}-{method}-N{N}-{dtype}")
            for problem in PROBLEMS.values()
            for method in problem.methods
            for N in sweep.sizes(method)
            for dtype in DTYPES
        ]
        metafunc.parametrize("estimator_case", cases)


@pytest.fixture(scope="session")
def vi_sweep_name(pytestconfig: pytest.Config) -> str:
    """The sweep's name: tiny, default or full."""
    return pytestconfig.stash[SWEEP_KEY]


@pytest.fixture(scope="session")
def vi_sweep(vi_sweep_name: str) -> Sweep:
    return SWEEPS[vi_sweep_name]


@pytest.fixture(scope="session")
def enforce_goals(pytestconfig: pytest.Config) -> bool:
    """Whether timing goals are asserted (see ``--vi-goals``); accuracy goals are always asserted."""
    return pytestconfig.stash[ENFORCE_KEY]


@pytest.fixture(scope="session")
def report_goal(pytestconfig: pytest.Config) -> Any:
    """``report_goal(line)``: print ``line`` now and again in the end-of-run goals section."""

    def report(line: str) -> None:
        print(line)
        pytestconfig.stash[GOALS_KEY].append(line)

    return report
