"""What a jail costs: starting a submission's child and loading a tiny submission, under each isolation level.

``test_child_start`` times each level with pytest-benchmark (compare runs with ``--benchmark-compare``);
``test_jail_start_cost`` measures the levels side by side, interleaved (so that drift of a busy machine
falls on every level alike), and reports each jail's extra cost over a plain child process against the
goal of at most 50 ms; the goal is asserted only with ``--vi-goals=assert``.
The child's own start (``python -I``, importing torch) dominates both.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from vicheck.sandbox.isolated import IsolatedImplementation
from vicheck.sandbox.jail import probe
from vicheck.sandbox.limits import Limits

LEVELS = ("namespaces", "uid", "process")
GOAL_MS = 50.0
TINY = "import torch\n\n\ndef sigmoid(x):\n    return torch.sigmoid(x)\n"


def _level(level: str) -> Any:
    ok, why = probe(level)
    return pytest.param(level, id=level, marks=pytest.mark.skipif(not ok, reason=f"{level} unavailable: {why}"))


def _start_and_load(path: Path, level: str) -> frozenset[str]:
    impl = IsolatedImplementation(path, limits=Limits(), isolation=level)
    try:
        return impl.names()
    finally:
        impl.close()


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.py"
    path.write_text(TINY)
    return path


@pytest.mark.parametrize("level", [_level(lv) for lv in LEVELS])
def test_child_start(benchmark: Any, tiny: Path, level: str, vi_sweep_name: str) -> None:
    benchmark.group = "child start and load"
    benchmark.extra_info["level"] = level
    rounds = 1 if vi_sweep_name == "tiny" else 5
    names = benchmark.pedantic(_start_and_load, args=(tiny, level), rounds=rounds, iterations=1)
    assert names == frozenset({"sigmoid"})


def test_jail_start_cost(tiny: Path, vi_sweep_name: str, enforce_goals: bool, report_goal: Any) -> None:
    levels = [lv for lv in LEVELS if probe(lv)[0]]
    rounds = 2 if vi_sweep_name == "tiny" else 9
    times: dict[str, list[float]] = {lv: [] for lv in levels}
    for _ in range(rounds):
        for level in levels:  # interleaved: a slow moment of the machine hits every level alike
            t0 = time.perf_counter()
            assert _start_and_load(tiny, level) == frozenset({"sigmoid"})
            times[level].append(time.perf_counter() - t0)
    base = statistics.median(times["process"])
    for level in levels:
        if level == "process":
            continue
        extra_ms = 1000 * (statistics.median(times[level]) - base)
        report_goal(
            f"child start under {level}: {extra_ms:+.0f} ms over a plain child ({1000 * base:.0f} ms; "
            f"medians of {rounds}; goal <= {GOAL_MS:g} ms)"
        )
        if enforce_goals:
            assert extra_ms <= GOAL_MS
