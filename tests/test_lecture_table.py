"""``vicheck table``: every row of the lecture's table printed, the reference agreeing with the exact column."""

from __future__ import annotations

import csv
import io

import pytest
import torch

from vicheck.cli import main
from vicheck.lecture_table import compute_rows

LECTURE_COLUMN = [
    "4.5455",
    "4.5453",
    "(3.99999, 0.50044)",
    "(2.00051, 2.52487)",
    "(-0.329713, 0.817461)",
    "(-0.329206, 0.817300)",
    "-4.0945",
    "-4.0941",
    "4.5",
]


@pytest.fixture(scope="module")
def rows_float64() -> list:
    return compute_rows(torch.float64)


def test_markdown_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| computation | lecture output | reference (float64) | exact")
    assert lines[1].count("---") == 4
    body = lines[2:]
    assert len(body) == len(LECTURE_COLUMN)
    assert [line.split(" | ")[1] for line in body] == LECTURE_COLUMN


def test_csv_float32(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", "--format", "csv", "--dtype", "float32"]) == 0
    records = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert records[0][:3] == ["computation", "lecture output", "reference (float32)"]
    assert [r[1] for r in records[1:]] == LECTURE_COLUMN


def test_reference_agrees_with_exact_in_float64(rows_float64: list) -> None:
    """Tolerances (in the rows): values 1e-8 relative, fitted (mu, sigma) 1e-6, Monte Carlo 5.33 standard
    errors (false alarm 1e-7)."""
    for row in rows_float64:
        assert row.agrees(), row
    tolerances = {row.computation.split(" (")[0]: (row.tol_kind, row.tol) for row in rows_float64}
    assert tolerances["log evidence"] == ("rel", 1e-8)
    assert tolerances["KL(mixture ‖ N(0,1)), quadrature"] == ("rel", 1e-8)


def test_exact_column_is_the_readme_exact_column(rows_float64: list) -> None:
    exact = {row.computation.split(" (")[0]: row.exact for row in rows_float64}
    # README digits: half a unit in the last printed place.
    assert exact["KL(mixture ‖ N(0,1)), quadrature"][0] == pytest.approx(4.545539781755494, rel=1e-12)
    assert exact["mode-seeking Gaussian fit"] == pytest.approx((3.99987, 0.50025, 0.510765), abs=5e-6)
    assert exact["coin VI by KL(q‖p)"] == pytest.approx((-0.329726, 0.817149, 0.0022010), abs=5e-7)
    assert exact["log evidence"][0] == pytest.approx(-4.0943445622221, abs=5e-14)
