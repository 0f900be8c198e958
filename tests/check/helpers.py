"""What the self-check's tests share: the lecture's code, with or without a mistake, and running ``vicheck``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LECTURE = ROOT / "tests" / "submissions" / "lecture_4_functions.py"
EXAMPLES = ROOT / "vicheck" / "examples"
#: the lecture's sigmoid_prime, and the mistake the tests make in it (the square forgotten)
RIGHT_PRIME = "return torch.exp(x) / (1 + torch.exp(x))**2"
WRONG_PRIME = "return torch.exp(x) / (1 + torch.exp(x))"
#: a rubric under which the lecture's own code passes every visible property: correctness only (its code
#: fails robustness properties, e.g. sigmoid(100.) is NaN), short per-call limit (the hang tests wait for it)
CORRECTNESS_RUBRIC = """[grading]
categories = ["correctness"]
[limits]
call_seconds = 3
"""


def lecture_source(mistake: bool = False) -> str:
    source = LECTURE.read_text(encoding="utf-8")
    assert RIGHT_PRIME in source
    return source.replace(RIGHT_PRIME, WRONG_PRIME) if mistake else source


def vicheck(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``vicheck ARGS`` in a process of its own, bounded in time."""
    return subprocess.run(
        [sys.executable, "-m", "vicheck", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
