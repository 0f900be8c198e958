"""The lecture notebook (whose savefig cells fail: no lecture_4_figs/ folder) grades exactly as the
lecture's function cells as a .py do: same properties, same verdicts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "tests" / "data" / "lecture_4.ipynb"
FUNCTIONS = ROOT / "tests" / "submissions" / "lecture_4_functions.py"


def _grade(impl: Path, report: Path) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(ROOT / "properties"),
        "-q",
        "-p",
        "no:cacheprovider",
        "--impl",
        str(impl),
        "--grade-report",
        str(report),
        "-m",
        "correctness or robustness",
    ]
    subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONHASHSEED": "0"}
    )
    return json.loads(report.read_text())


def test_lecture_notebook_grades_like_its_functions(tmp_path: Path) -> None:
    nb = _grade(NOTEBOOK, tmp_path / "nb.json")
    py = _grade(FUNCTIONS, tmp_path / "py.json")
    assert nb["complete"] and py["complete"]
    verdicts = lambda r: [(p["name"], p["passed"]) for p in r["properties"]]  # noqa: E731
    assert verdicts(nb) == verdicts(py)
    assert nb["score"] == py["score"] > 0
    # the notebook's failing savefig cells are recorded, and they do not cost a property
    assert any("cell" in e and "FileNotFoundError" in e for e in nb["errors"]), nb["errors"]
