"""``vicheck.check()`` in a real Jupyter kernel (ipykernel, driven by nbclient): the submission is what the
kernel has executed, the result is HTML under the cell, and the student's code never runs in the kernel (a
function that never returns, or that kills its process, leaves the kernel responsive)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.check.helpers import CORRECTNESS_RUBRIC, lecture_source

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

#: seconds a cell may take (the first check starts the warm runner) and the kernel may take to start
CELL_SECONDS = 240
STARTUP_SECONDS = 120


def _outputs(cell: Any) -> tuple[str, list[str], list[str]]:
    """(stdout text, HTML displays, plain-text displays) of an executed cell."""
    stdout = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
    shown = [o for o in cell.outputs if o.output_type in ("display_data", "execute_result")]
    return stdout, [o.data.get("text/html", "") for o in shown], [o.data.get("text/plain", "") for o in shown]


def _result(stdout: str) -> Any:
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, stdout
    return json.loads(lines[-1].removeprefix("RESULT "))


def _run(tmp_path: Path, sources: list[str]) -> Any:
    (tmp_path / "rubric.toml").write_text(CORRECTNESS_RUBRIC, encoding="utf-8")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_SECONDS,
        startup_timeout=STARTUP_SECONDS,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    return nb


REPORT = "print('RESULT ' + json.dumps({'failed': r.failed, 'errors': r.report.errors, 'n': len(r.report.properties)}))"


@pytest.mark.slow
def test_check_in_a_kernel_shows_html_with_the_failure_and_its_counterexample(tmp_path: Path) -> None:
    nb = _run(
        tmp_path,
        [
            lecture_source(mistake=True),
            "import json, sys\nimport vicheck\n"
            "print('HEAVY ' + json.dumps(sorted(m for m in ('pytest', 'hypothesis') if m in sys.modules)))",
            "vicheck.check(rubric='rubric.toml')",
            f"r = vicheck.check(rubric='rubric.toml', show=False)\n{REPORT}",
            # the mistake fixed in a later cell: the history has both, in order, and the last definition wins
            "def sigmoid_prime(x):\n    return torch.exp(x) / (1 + torch.exp(x))**2",
            f"r = vicheck.check('sigmoid_prime', rubric='rubric.toml', show=False)\n{REPORT}",
        ],
    )
    stdout, _, _ = _outputs(nb.cells[1])
    assert "HEAVY []" in stdout  # import vicheck brings neither pytest nor Hypothesis into the kernel
    _, htmls, texts = _outputs(nb.cells[2])
    assert len(htmls) == 1, "the result is shown once under the cell"
    page = htmls[0]
    assert "sigmoid_prime_matches_derivative" in page
    assert "sigmoid_prime(0.0)" in html.unescape(page)  # the counterexample
    assert "<script" not in page.lower()
    assert re.search(r": \d+ of \d+ visible properties passed, 1 failed \(profile grade", texts[0]), texts[0][:300]
    first = _result(_outputs(nb.cells[3])[0])
    # every correct function passes: the one mistake fails only the property that checks it
    assert first["failed"] == ["sigmoid_prime_matches_derivative"], first
    assert first["n"] > 20 and first["errors"] == []
    fixed = _result(_outputs(nb.cells[5])[0])
    assert fixed["failed"] == [] and fixed["n"] == 1


@pytest.mark.slow
def test_a_hang_or_a_crash_leaves_the_kernel_responsive(tmp_path: Path) -> None:
    nb = _run(
        tmp_path,
        [
            "import json, os, time\nimport vicheck\n" + lecture_source(),
            "def log_evidence():\n    while True:\n        pass",
            f"t = time.monotonic()\nr = vicheck.check('log_evidence', rubric='rubric.toml')\n{REPORT}\n"
            "print('SECONDS', time.monotonic() - t)",
            "def sigmoid(x):\n    os._exit(3)",
            f"r = vicheck.check('sigmoid', rubric='rubric.toml')\n{REPORT}",
            "print('STILL HERE', os.getpid())",
        ],
    )
    hung = _result(_outputs(nb.cells[2])[0])
    assert hung["failed"] and all("log_evidence" in name for name in hung["failed"]), hung
    _, htmls, _ = _outputs(nb.cells[2])
    assert re.search(r"did not return within 3 s", html.unescape(htmls[0])), htmls[0][:3000]
    seconds = float(_outputs(nb.cells[2])[0].split("SECONDS")[1])
    assert seconds < 90, "the hanging function is stopped by the per-call limit, not the check's whole limit"
    crashed = _result(_outputs(nb.cells[4])[0])
    assert crashed["failed"], crashed
    _, htmls, _ = _outputs(nb.cells[4])
    assert "died" in html.unescape(htmls[0]) or "crash" in html.unescape(htmls[0]).lower()
    assert "STILL HERE" in _outputs(nb.cells[5])[0]
