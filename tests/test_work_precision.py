"""``vicheck work-precision DIR --quick`` writes the table (markdown, CSV) and the plot, and states which
method reaches 1e-3 and 1e-6 relative error first on each problem."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

from vicheck.cli import main
from vicheck.estimators import PROBLEMS

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def test_exact_values() -> None:
    assert PROBLEMS["mixture_kl"].exact == pytest.approx(4.545539781755494, rel=1e-13, abs=0)
    assert PROBLEMS["coin_log_evidence"].exact == pytest.approx(-4.0943445622221, rel=1e-13, abs=0)


def test_quick_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["work-precision", str(tmp_path), "--quick"]) == 0
    out = capsys.readouterr().out
    md = (tmp_path / "work_precision.md").read_text()
    rows = list(csv.DictReader((tmp_path / "work_precision.csv").open()))

    assert {r["problem"] for r in rows} == set(PROBLEMS)
    assert {r["method"] for r in rows} == {"trapezoid", "gauss-legendre", "mc-plain", "mc-k3"}
    assert {r["dtype"] for r in rows} == {"float32", "float64"}
    for r in rows:
        assert float(r["time_median_s"]) > 0
        if r["method"].startswith("mc-"):  # Monte Carlo: spread over seeds
            assert int(r["seeds"]) == 3
            assert float(r["rel_error_min"]) <= float(r["rel_error_median"]) <= float(r["rel_error_max"])

    for problem in PROBLEMS.values():
        for threshold in ("1e-03", "1e-06"):
            sentence = next(
                line for line in out.splitlines() if line.startswith(f"{problem.title}:") and threshold in line
            )
            assert "reaches" in sentence and "first, with N=" in sentence and " per evaluation" in sentence
            assert sentence in md
    assert "| method | device | dtype | N | median time | relative error | seeds |" in md

    png = tmp_path / "work_precision.png"
    if HAS_MATPLOTLIB:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert not png.exists()


def test_without_matplotlib(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    assert main(["work-precision", str(tmp_path), "--quick", "--problem", "normal_kl", "--dtype", "float64"]) == 0
    err = capsys.readouterr().err
    assert "pip install 'vicheck[plots]'" in err
    assert (tmp_path / "work_precision.md").exists() and (tmp_path / "work_precision.csv").exists()
    assert not (tmp_path / "work_precision.png").exists()
