"""Meta-tests of the property suite: metadata, false-alarm budget, determinism, and the plugin's
command-line behaviour (usage errors, missing functions, marker selection)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from properties._registry import PROFILES, REGISTRY
from properties._tolerances import ALPHA, FALSE_ALARM_PER_RUN, MAX_STATISTICAL_CHECKS
from reference.contract import NAMES

ROOT = Path(__file__).resolve().parents[2]
LECTURE = ROOT / "tests" / "submissions" / "lecture_4_functions.py"


def _import_all_properties() -> None:
    import importlib

    for path in sorted((ROOT / "properties").glob("test_*.py")):
        importlib.import_module(f"properties.{path.stem}")


def test_every_property_is_documented_and_declares_contract_functions() -> None:
    _import_all_properties()
    assert len(REGISTRY) >= 30
    for name, info in REGISTRY.items():
        assert info.description, f"{name} has no docstring stating its maths and tolerance"
        assert info.functions and set(info.functions) <= set(NAMES), f"{name}: {info.functions}"
        assert info.category in ("correctness", "robustness")
        assert info.weight > 0 and info.examples >= 1


def test_statistical_checks_fit_the_false_alarm_budget() -> None:
    """Every Monte Carlo property makes at most 2 statistical checks per example; their number under the
    grade profile times the per-check alpha stays within the stated 1e-6 per run (Bonferroni)."""
    _import_all_properties()
    statistical = [i for i in REGISTRY.values() if "kl_divergence_2" in i.functions]
    checks = sum(2 * i.examples for i in statistical)
    assert checks <= MAX_STATISTICAL_CHECKS
    assert checks * ALPHA <= FALSE_ALARM_PER_RUN


def test_grade_profile_is_derandomized_without_database() -> None:
    for name in ("ci", "grade"):
        assert PROFILES[name]["derandomize"] is True
        assert PROFILES[name]["database"] is None


def _pytest(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_missing_impl_is_a_one_line_usage_error(tmp_path: Path) -> None:
    proc = _pytest(str(ROOT / "properties"), "--impl", str(tmp_path / "nope.py"))
    assert proc.returncode == 4
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "--impl" in err[0] and "nope.py" in err[0], proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_missing_function_fails_only_the_properties_that_need_it(tmp_path: Path) -> None:
    source = LECTURE.read_text()
    start = source.index("def kl_divergence_2")
    end = source.index("def mode_seeking_loss")
    sub = tmp_path / "no_mc.py"
    sub.write_text(source[:start] + source[end:])
    report = tmp_path / "r.json"
    proc = _pytest(
        str(ROOT / "properties"),
        "--impl",
        str(sub),
        "--vicheck-isolation",
        "none",
        "--vicheck-functions",
        "kl_divergence_2,sigmoid",
        "-m",
        "correctness",
        "--grade-report",
        str(report),
    )
    assert proc.returncode == 1, proc.stdout[-2000:]
    data = json.loads(report.read_text())
    by_name = {p["name"]: p for p in data["properties"]}
    mc = [p for p in by_name.values() if "kl_divergence_2" in p["functions"]]
    assert mc and all(not p["passed"] and "submission defines no `kl_divergence_2`" in p["message"] for p in mc)
    assert by_name["sigmoid_matches_logistic"]["passed"]


def test_marker_selection_and_report_header() -> None:
    proc = _pytest(
        str(ROOT / "properties"),
        "--impl",
        str(LECTURE),
        "--vicheck-isolation",
        "none",
        "-m",
        "robustness",
        "--collect-only",
        "-q",
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    collected = [line for line in proc.stdout.splitlines() if "::" in line]
    assert collected
    _import_all_properties()
    robust = {n for n, i in REGISTRY.items() if i.category == "robustness"}
    names = {line.split("::")[-1].split("[")[0].removeprefix("test_") for line in collected}
    assert names == robust
    header = _pytest(str(ROOT / "properties"), "--impl", str(LECTURE), "--collect-only", "--vicheck-profile", "dev")
    from vicheck.sandbox.jail import choose_level, probe
    from vicheck.sandbox.resources import choose_resources, probe_resources

    level = choose_level()  # the strongest level this machine has: what `auto` runs a file under
    resources = choose_resources()
    assert (
        f"vicheck: impl={LECTURE} isolation={level} ({probe(level)[1]}) "
        f"resources={resources} ({probe_resources(resources)[1]}) profile=dev"
    ) in header.stdout


@pytest.mark.parametrize("isolation", ["none"])
def test_grade_profile_gives_identical_verdicts_on_every_run(tmp_path: Path, isolation: str) -> None:
    """Two grade-profile runs on the same submission produce the same verdicts and messages."""
    runs = []
    for i in range(2):
        report = tmp_path / f"r{i}.json"
        _pytest(
            str(ROOT / "properties"),
            "--impl",
            str(ROOT / "tests" / "submissions" / "wrong" / "kl2_flipped_ratio.py"),
            "--vicheck-isolation",
            isolation,
            "--vicheck-functions",
            "kl_divergence_2,sigmoid",
            "--grade-report",
            str(report),
        )
        data = json.loads(report.read_text())
        runs.append([(p["name"], p["passed"], p["message"], p["counterexample"]) for p in data["properties"]])
    assert runs[0] == runs[1]
    assert any(not passed for _, passed, _, _ in runs[0])
