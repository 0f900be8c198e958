"""Every benchmark in ``benchmarks/`` runs once (``--benchmark-disable``, tiny sweep) and passes, so the
benchmarks, which are not part of the default test run, cannot rot."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from vicheck.estimators import DTYPES, PROBLEMS, SWEEPS

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = (
    "test_estimator",
    "test_monte_carlo_within_2x_of_floor",
    "test_quadrature_1e10_under_1ms",
    "test_batch_of_10000_kl_vs_separate_calls",
    "test_fit",
    "test_fits_speed_ratio",
    "test_child_start",
    "test_jail_start_cost",
)


def test_every_benchmark_runs_once(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "benchmarks/",
            "--benchmark-disable",
            "--vi-sweep=tiny",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "vicheck sweep: tiny" in proc.stdout  # the report header

    ran: dict[str, int] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name", "")
        function = name.split("[", 1)[0]
        skipped = case.find("skipped")
        assert case.find("failure") is None and case.find("error") is None, name
        if skipped is not None:  # only CUDA cases may skip without a GPU, and jails the machine cannot make
            message = skipped.get("message") or ""
            assert ("cuda" in name and "no CUDA device" in message) or "unavailable" in message, name
            continue
        ran[function] = ran.get(function, 0) + 1
    for function in BENCHMARKS:
        assert ran.get(function, 0) >= 1, f"{function} did not run: {ran}"

    tiny = SWEEPS["tiny"]
    expected = sum(len(tiny.sizes(m)) * len(DTYPES) for p in PROBLEMS.values() for m in p.methods)
    assert ran["test_estimator"] >= expected  # every (problem, method, N, dtype) on the CPU
    assert ran["test_fit"] == 4
