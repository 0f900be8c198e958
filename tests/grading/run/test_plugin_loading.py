"""The grader's pytest plugin loads by its name, by its older name (``-p properties.plugin``, in the logs of
earlier grading runs), and once when named several ways."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    "plugins",
    [
        ["-p", "vicheck.grading.run.plugin"],
        ["-p", "properties.plugin"],
        ["-p", "properties.plugin", "-p", "vicheck.grading.run.plugin"],
    ],
    ids=["name", "older-name", "both"],
)
def test_the_plugin_loads_once_by_either_name(tmp_path: Path, plugins: list[str]) -> None:
    report = tmp_path / "r.json"
    cmd = [sys.executable, "-m", "pytest", *plugins, "--pyargs", "properties", "-q", "-p", "no:cacheprovider"]
    cmd += [
        "--rootdir",
        str(tmp_path),
        "-c",
        os.devnull,
        "-k",
        "integrate_exact_for_affine",
        "--grade-report",
        str(report),
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout.count("score ") == 1  # one plugin, one terminal summary
    assert report.is_file()
