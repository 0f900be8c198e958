"""Choosing the isolation level: what each needs, refusing a level that cannot be had (one line, before
anyone is graded), a rubric's minimum, and the level shown in the pytest header and recorded in reports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vicheck.grading.rubric import load_rubric
from vicheck.sandbox.jail import IsolationUnavailable, choose_level, level_rank, probe
from vicheck.sandbox.limits import ISOLATION_LEVELS, Limits
from vicheck.sandbox.loading import load_implementation
from vicheck.sandbox.resources import choose_resources, probe_resources

ROOT = Path(__file__).resolve().parents[2]
LECTURE = ROOT / "tests" / "submissions" / "lecture_4_functions.py"


def _without_bwrap(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH finds everything but bubblewrap."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("python3", "sh", "bash", "env"):
        found = shutil.which(name)
        if found:
            (bin_dir / name).symlink_to(found)
    return {**os.environ, "PATH": str(bin_dir)}


def test_levels_are_ordered_and_auto_picks_the_strongest_available() -> None:
    assert [level_rank(lv) for lv in ISOLATION_LEVELS] == [3, 2, 1, 0]
    strongest = next(lv for lv in ISOLATION_LEVELS if probe(lv)[0])
    assert choose_level() == strongest
    assert probe("process") == (True, "a child process per submission")


def test_a_minimum_stronger_than_the_level_is_refused_in_one_line() -> None:
    with pytest.raises(IsolationUnavailable) as info:
        choose_level("process", "uid")
    assert str(info.value) == "the rubric requires isolation level uid or stronger, and this grader has process"
    with pytest.raises(IsolationUnavailable, match="isolation none runs the submission in the grader's own"):
        load_implementation(str(LECTURE), isolation="none", limits=Limits(isolation="namespaces"))
    with pytest.raises(ValueError, match="isolation must be one of"):
        Limits(isolation="none")


def test_the_rubric_takes_a_minimum_level(tmp_path: Path) -> None:
    path = tmp_path / "rubric.toml"
    path.write_text('[limits]\nisolation = "uid"\n')
    assert load_rubric(path).limits.isolation == "uid"
    path.write_text('[limits]\nisolation = "jail"\n')
    with pytest.raises(ValueError, match=r"\[limits\].*isolation.*must be one of namespaces, uid, process"):
        load_rubric(path)


def _grade(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vicheck", "grade", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_grading_stops_before_anyone_when_the_level_cannot_be_had(tmp_path: Path) -> None:
    env = _without_bwrap(tmp_path)
    out = tmp_path / "grades"
    proc = _grade([str(LECTURE), "--out", str(out), "--isolation", "namespaces"], env, tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "vicheck grade: isolation level namespaces is not available here: bubblewrap (bwrap) is not installed "
        "(Debian/Ubuntu: apt-get install bubblewrap)"
    ]
    assert not out.exists()  # nobody was graded
    rubric = tmp_path / "rubric.toml"
    rubric.write_text('[limits]\nisolation = "namespaces"\n')
    proc = _grade([str(LECTURE), "--out", str(out), "--rubric", str(rubric)], env, tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "the rubric requires isolation level namespaces or stronger" in proc.stderr
    assert "bubblewrap (bwrap) is not installed" in proc.stderr  # and why the stronger level is missing
    assert not out.exists()


def _rubric(folder: Path, resources: str) -> Path:
    path = folder / "rubric.toml"
    path.write_text(f'[limits]\nresources = "{resources}"\n')
    return path


def test_the_pytest_header_names_the_level(tmp_path: Path) -> None:
    level = choose_level()
    collect = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--co", "properties", "--impl", str(LECTURE)]
    proc = subprocess.run(
        collect,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    header = next(line for line in proc.stdout.splitlines() if line.startswith("vicheck: impl="))
    assert f"isolation={level} ({probe(level)[1]})" in header
    resources = choose_resources()
    assert f"resources={resources} ({probe_resources(resources)[1]})" in header
    if resources != "rlimits":  # a rubric asking for no more than the machine has passes; one asking too much stops
        proc = subprocess.run(
            [*collect, "--vicheck-resources", "rlimits", "--vicheck-rubric", str(_rubric(tmp_path, "cgroup"))],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 4
        assert proc.stderr.strip().endswith(
            "--vicheck-resources rlimits: the rubric requires resource control by cgroup or stronger, and this "
            "grader has rlimits"
        ), proc.stderr
    proc = subprocess.run(
        [*collect, "--vicheck-isolation", "namespaces"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=_without_bwrap(tmp_path),
    )
    assert proc.returncode == 4  # a usage error, one line, no traceback
    assert "--vicheck-isolation namespaces: isolation level namespaces is not available here" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
