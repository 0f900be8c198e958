"""Notebooks grade exactly as the same functions in a .py do: same properties, same verdicts.

* the lecture notebook, whose savefig cells fail (no ``lecture_4_figs/`` folder);
* the lecture's function cells as a notebook with Jupyter's habits added: ``%matplotlib inline``,
  ``%%time`` and ``%time``, ``%load_ext autoreload``, ``display()`` and ``get_ipython()``, and a shell
  escape (``!pip install scipy``), which is refused and recorded against its cell.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "tests" / "data" / "lecture_4.ipynb"
FUNCTIONS = ROOT / "tests" / "submissions" / "lecture_4_functions.py"


def _start(impl: Path, report: Path) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "properties"), "-q", "-p", "no:cacheprovider"]
    cmd += ["--impl", str(impl), "--grade-report", str(report), "-m", "correctness or robustness"]
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def _magic_notebook(path: Path) -> Path:
    """The function cells of the lecture, one top-level block a cell, with a notebook's habits added."""
    source = FUNCTIONS.read_text()
    blocks, current = [], []
    for line in source.splitlines():
        if line and not line[0].isspace() and not line.startswith((")", "]", "}")) and current:
            if line.startswith(("def ", "class ", "@")) or not current[-1].strip():
                blocks.append("\n".join(current))
                current = []
        current.append(line)
    blocks.append("\n".join(current))
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("%matplotlib inline\n%load_ext autoreload\n%autoreload 2"))
    nb.cells.append(nbformat.v4.new_code_cell("!pip install scipy\nimport math"))
    for i, block in enumerate(b for b in blocks if b.strip()):
        if i % 3 == 0:
            block = "%%time\n" + block
        nb.cells.append(nbformat.v4.new_code_cell(block))
        if i % 4 == 1:
            nb.cells.append(nbformat.v4.new_code_cell("display(get_ipython() is not None)\n%time x = 1"))
    nbformat.write(nb, str(path))
    return path


def test_notebooks_grade_like_their_functions(tmp_path: Path) -> None:
    magic = _magic_notebook(tmp_path / "magic.ipynb")
    runs = {
        name: (_start(path, tmp_path / f"{name}.json"), tmp_path / f"{name}.json")
        for name, path in (("nb", NOTEBOOK), ("py", FUNCTIONS), ("magic", magic))
    }
    reports = {}
    for name, (proc, report) in runs.items():
        proc.wait(timeout=900)
        reports[name] = json.loads(report.read_text())
    nb, py, mg = reports["nb"], reports["py"], reports["magic"]
    assert nb["complete"] and py["complete"] and mg["complete"]
    verdicts = lambda r: [(p["name"], p["passed"]) for p in r["properties"]]  # noqa: E731
    assert verdicts(nb) == verdicts(py) == verdicts(mg)
    assert nb["score"] == py["score"] == mg["score"] > 0
    # the notebook's failing savefig cells are recorded, and they do not cost a property
    assert any("cell" in e and "FileNotFoundError" in e for e in nb["errors"]), nb["errors"]
    # the shell escape is the magic notebook's one problem, recorded against its cell
    assert mg["errors"] == [
        "cell 1 (`!pip install scipy`): ShellEscapeRefused: shell escapes are not run by the grader: !pip install scipy"
    ]
