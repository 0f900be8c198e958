"""The submission corpus graded once for the whole test session: ``vicheck grade`` (jailed children, traced
calls, grade profile: derandomized) of every submission of ``tests/submissions/{wrong,correct}``, the lecture's
code and the submission with two independent mistakes, on the correctness properties, errors carried forward.

The kill matrix (``tests/test_kill_matrix.py``) and the diagnosis (``tests/test_diagnosis_corpus.py``) both read
it: each used to grade the corpus itself, and the two runs were a third of the suite's time. Carrying errors
forward changes points, never a property's ``passed``, which is all the kill matrix reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.kill_matrix import CORPUS, ROOT, corpus

__all__ = ["CORPUS_RUBRIC", "LECTURE", "TWO_MISTAKES", "grade", "grade_corpus"]

TWO_MISTAKES = CORPUS / "multi" / "integrate_and_derivative.py"
LECTURE = CORPUS / "lecture_4_functions.py"
CORPUS_RUBRIC = '[grading]\ncategories = ["correctness"]\ncarried_forward = true\n'


def grade(paths: list[Path], out: Path, rubric: str) -> dict[str, dict]:
    """``vicheck grade`` of ``paths`` into ``out`` with ``rubric`` (TOML text): each report, by submission name."""
    (out / "rubric.toml").parent.mkdir(parents=True, exist_ok=True)
    (out / "rubric.toml").write_text(rubric, encoding="utf-8")
    cmd = [sys.executable, "-m", "vicheck", "grade", *map(str, paths), "--out", str(out / "grades")]
    cmd += ["--rubric", str(out / "rubric.toml"), "--jobs", "2", "--profile", "grade", "--formats", "md", "-q"]
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=1500)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"vicheck grade failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return {p.stem: json.loads(p.read_text()) for p in (out / "grades").glob("*.json")}


def grade_corpus(out: Path) -> dict[str, dict]:
    """Every submission of the corpus, the lecture's code and the two-mistake submission, graded into ``out``."""
    paths = [s.path for s in corpus()] + [TWO_MISTAKES, LECTURE]
    return grade(paths, out, CORPUS_RUBRIC)
