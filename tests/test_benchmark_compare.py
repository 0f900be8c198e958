"""The documented benchmark workflow: ``pytest benchmarks/ --benchmark-autosave``, then
``pytest benchmarks/ --benchmark-compare`` (with ``--benchmark-compare-fail`` as a regression gate) prints a
table comparing the new run with the saved one. Two runs of a tiny slice of the sweep, into a temporary
``--benchmark-storage``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLICE = ["benchmarks/test_estimators.py", "--vi-sweep=tiny", "-k", "mixture_kl and trapezoid and float64 and cpu"]
FAST = ["--benchmark-max-time=0.02", "--benchmark-min-rounds=3", "-q", "-p", "no:cacheprovider"]


def _pytest(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *SLICE, *FAST, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc


def test_autosave_then_compare(tmp_path: Path) -> None:
    storage = f"--benchmark-storage=file://{tmp_path}"
    _pytest("--benchmark-autosave", storage)
    saved = list(tmp_path.glob("*/0001_*.json"))
    assert len(saved) == 1, list(tmp_path.rglob("*"))
    data = json.loads(saved[0].read_text())
    infos = [b["extra_info"] for b in data["benchmarks"]]
    assert len(infos) == 3 and all(b["group"] == "mixture_kl" for b in data["benchmarks"])
    for info in infos:
        assert {"N", "device", "dtype", "abs_error", "estimate"} <= set(info)

    proc = _pytest("--benchmark-compare", "--benchmark-compare-fail=median:100000%", storage)
    out = proc.stdout + proc.stderr  # pytest-benchmark logs the "Comparing against" line to stderr
    assert "Comparing against benchmarks from" in out and saved[0].name in out
    assert "benchmark 'mixture_kl'" in out
    name = "test_estimator[cpu-mixture_kl-trapezoid-N128-float64]"
    assert f"{name} (NOW)" in out and f"{name} (0001_" in out
