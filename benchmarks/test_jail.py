"""What a jail costs: starting a submission's child and loading a tiny submission, under each isolation level.

``test_child_start`` times each level with pytest-benchmark (compare runs with ``--benchmark-compare``);
``test_jail_start_cost`` measures the levels side by side, interleaved (so that drift of a busy machine
falls on every level alike), and reports each jail's extra cost over a plain child process against the
goal of at most 50 ms; the goal is asserted only with ``--vi-goals=assert``.
The child's own start (``python -I``, importing torch) dominates both.

What a control group adds (:mod:`vicheck.sandbox.resources`, the strongest group level the machine can make):
``test_group_start_cost`` starts and loads the same child with and without a group under each isolation
level, interleaved, and reports the group's extra cost at the start (making the group, writing its limits,
placing the child in it before its first instruction) against the goal of at most 20 ms, and at the close
(killing what is left in the group and removing it); ``test_group_create_and_remove`` times the group alone.
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
from vicheck.sandbox.resources import create_group, probe_resources

LEVELS = ("namespaces", "uid", "process")
GOAL_MS = 50.0
GROUP_GOAL_MS = 20.0
#: the strongest control-group level this machine can make, or None
GROUP = next((lv for lv in ("cgroup2", "cgroup1") if probe_resources(lv)[0]), None)
needs_group = pytest.mark.skipif(
    GROUP is None,
    reason="control groups unavailable: " + "; ".join(probe_resources(lv)[1] for lv in ("cgroup2", "cgroup1")),
)
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


def _timed_start(path: Path, level: str, resources: str) -> tuple[float, float]:
    """Seconds to start the child and load ``path``, and seconds to close it, under ``resources``."""
    t0 = time.perf_counter()
    impl = IsolatedImplementation(path, limits=Limits(), isolation=level, resources=resources)
    try:
        assert impl.names() == frozenset({"sigmoid"})
        t1 = time.perf_counter()
    finally:
        impl.close()
    return t1 - t0, time.perf_counter() - t1


@needs_group
@pytest.mark.parametrize("level", [_level(lv) for lv in LEVELS])
def test_group_start_cost(tiny: Path, level: str, vi_sweep_name: str, enforce_goals: bool, report_goal: Any) -> None:
    assert GROUP is not None
    rounds = 2 if vi_sweep_name == "tiny" else 15
    start: dict[str, list[float]] = {GROUP: [], "rlimits": []}
    close: dict[str, list[float]] = {GROUP: [], "rlimits": []}
    for i in range(rounds):  # interleaved, in turn first (a slow moment of the machine hits both alike)
        for resources in (GROUP, "rlimits") if i % 2 == 0 else ("rlimits", GROUP):
            s, c = _timed_start(tiny, level, resources)
            start[resources].append(s)
            close[resources].append(c)
    base = statistics.median(start["rlimits"])
    # the median of the rounds' differences: each pair ran back to back, so the machine's drift cancels
    extra_ms = 1000 * statistics.median([a - b for a, b in zip(start[GROUP], start["rlimits"], strict=True)])
    close_ms = 1000 * statistics.median([a - b for a, b in zip(close[GROUP], close["rlimits"], strict=True)])
    report_goal(
        f"child start under {level} in a {GROUP} group: {extra_ms:+.0f} ms over no group ({1000 * base:.0f} ms; "
        f"median of {rounds} paired rounds; goal <= {GROUP_GOAL_MS:g} ms); its close {close_ms:+.0f} ms"
    )
    if enforce_goals:
        assert extra_ms <= GROUP_GOAL_MS


@needs_group
def test_group_create_and_remove(benchmark: Any, vi_sweep_name: str) -> None:
    """The group alone: its folders made and its limits written, then removed (nothing in it to kill)."""
    assert GROUP is not None
    level = GROUP
    benchmark.group = "control group"
    benchmark.extra_info["level"] = level

    def cycle() -> None:
        group = create_group(level, Limits())
        assert group is not None
        group.close()

    rounds = 3 if vi_sweep_name == "tiny" else 50
    benchmark.pedantic(cycle, rounds=rounds, iterations=1)
