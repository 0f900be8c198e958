"""A submission that prints 600 MB at import (``output_flood.py``) graded by ``vicheck grade`` beside the same
functions without the prints: printing costs no verdict, the report says how much was printed, and the
grader's memory does not grow with it.

The class is graded with ``--no-warm``: each submission then has a grading process of its own, named by its
``--grade-report`` argument, so that the peak memory of the process that graded the flood can be compared
with the one that graded its twin (a warm worker's forks all have the worker's command line). How a child is
started (afresh or by a zygote) makes no difference to its output: ``tests/sandbox/test_sandbox.py`` floods both.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hostile.test_attacks import CORE, RUBRIC
from vicheck.sandbox.jail import choose_level

HERE = Path(__file__).parent
PRINTED = re.compile(r"^output_flood\.py printed 6\d\d MB; kept the first and last 64 KiB of its output$")


@dataclass
class Graded:
    rc: int
    stderr: str
    reports: dict[str, dict]
    #: report name -> the peak resident memory (VmHWM, bytes) of the process that graded it
    peaks: dict[str, int]

    def passed(self, name: str) -> dict[str, bool]:
        return {p["name"]: p["passed"] for p in self.reports[name]["properties"]}


def _peak_memory(out: Path, peaks: dict[str, int], stop: threading.Event) -> None:
    """Record the peak memory of every process grading into ``out`` (its ``--grade-report`` names it)."""
    while not stop.wait(0.05):
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                argv = cmdline.read_bytes().split(b"\0")
                if b"--grade-report" not in argv:
                    continue
                report = Path(os.fsdecode(argv[argv.index(b"--grade-report") + 1]))
                if report.parent != out:
                    continue
                status = (cmdline.parent / "status").read_text()
            except (OSError, IndexError):
                continue  # ended while being read
            found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
            if found:
                peaks[report.stem] = max(peaks.get(report.stem, 0), int(found[1]) * 1024)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Graded]:
    arena = tmp_path_factory.mktemp("output-flood")
    klass, out = arena / "class", arena / "grades"
    klass.mkdir()
    (klass / "twin.py").write_text(CORE)
    (klass / "output_flood.py").write_text((HERE / "output_flood.py").read_text())
    rubric = arena / "rubric.toml"
    rubric.write_text(RUBRIC)
    for path in [arena, klass, *klass.iterdir(), rubric]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    level = choose_level()
    cmd = [sys.executable, "-m", "vicheck", "grade", str(klass), "--out", str(out), "--rubric", str(rubric)]
    cmd += ["--isolation", level, "--jobs", "2", "--no-warm", "--quiet"]
    peaks: dict[str, int] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=_peak_memory, args=(out.resolve(), peaks, stop), daemon=True)
    sampler.start()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    finally:
        stop.set()
        sampler.join()
    reports = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json") if not p.name.endswith(".gradescope.json")}
    yield Graded(proc.returncode, proc.stderr, reports, peaks)


def test_the_grader_worked(graded: Graded) -> None:
    assert graded.rc == 0, graded.stderr
    assert set(graded.reports) == {"twin", "output_flood"}
    assert all(r["complete"] for r in graded.reports.values())


def test_printing_costs_no_verdict(graded: Graded) -> None:
    twin = graded.passed("twin")
    assert twin["sigmoid_matches_logistic"] and twin["sigmoid_prime_matches_derivative"]
    assert graded.passed("output_flood") == twin
    assert graded.reports["output_flood"]["score"] == graded.reports["twin"]["score"]


def test_the_report_says_how_much_was_printed(graded: Graded) -> None:
    errors = graded.reports["output_flood"]["errors"]
    assert len([e for e in errors if PRINTED.match(e)]) == 1, errors  # one child, one note
    assert [e for e in errors if "printed" not in e] == graded.reports["twin"]["errors"]
    assert not any("printed" in e for e in graded.reports["twin"]["errors"])


def test_the_graders_memory_does_not_grow_with_the_output(graded: Graded) -> None:
    assert set(graded.peaks) == {"twin", "output_flood"}, graded.peaks
    # keeping all 600 MB would show as 600 MB more; the two buffers of 64 KiB are lost in the noise
    assert graded.peaks["output_flood"] - graded.peaks["twin"] < 64 * 2**20, graded.peaks
