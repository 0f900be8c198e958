"""``vicheck report DIR`` redraws a graded class's files, and ``vicheck grade`` draws them after grading: exit
status, the files written, and one line on stderr for what went wrong."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from tests.grading.report.classpage.classdir import build_class
from tests.grading.report.classpage.pages import parse
from vicheck.cli import main


@pytest.fixture
def class_dir(tmp_path: Path) -> Path:
    return build_class(tmp_path / "grades")


def test_report_command_draws_the_class_files(class_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (class_dir / "summary.csv").unlink()
    assert main(["report", str(class_dir)]) == 0
    assert str(class_dir / "index.html") in capsys.readouterr().out
    for name in ("index.html", "summary.md", "summary.csv"):
        assert (class_dir / name).is_file(), name
    assert parse(class_dir / "index.html").find("tr", data_property="kl1_matches_exact")


def test_report_command_dates_the_page(class_dir: Path) -> None:
    assert main(["report", str(class_dir), "--date", "2024-05-01T12:00:00+00:00"]) == 0
    assert "2024-05-01 12:00:00 UTC" in (class_dir / "index.html").read_text()
    assert "2024-05-01 12:00:00 UTC" in (class_dir / "summary.md").read_text()


def test_report_command_without_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "summary.csv").write_text("submission\n")
    for folder in (empty, tmp_path / "missing"):
        assert main(["report", str(folder)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("vicheck report: ") and str(folder) in err
        assert not (folder / "index.html").exists()


def test_report_command_refuses_a_bad_date(class_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (class_dir / "index.html").unlink(missing_ok=True)
    assert main(["report", str(class_dir), "--date", "yesterday"]) == 2
    assert "ISO 8601" in capsys.readouterr().err
    assert not (class_dir / "index.html").exists()


# --------------------------------------------------------------------------------------------- vicheck grade

RUNNER = r"""
import argparse
from pathlib import Path
from vicheck.grading.report.formats import StudentContext
from vicheck.grading.report.formats.feedback_md import write_feedback
from vicheck.grading.report.records import GradeReport, PropertyResult

p = argparse.ArgumentParser()
for opt in ("--impl", "--grade-report", "--vicheck-feedback"):
    p.add_argument(opt)
a, _ = p.parse_known_args()
ok = Path(a.impl).name.startswith("good")
prop = PropertyResult("sigmoid_matches_logistic", ["sigmoid"], "correctness", 1.0, ok,
                      status="passed" if ok else "failed", message="" if ok else "sigmoid is off by 0.5")
report = GradeReport(submission=a.impl, properties=[prop], complete=True)
report.write(a.grade_report)
if a.vicheck_feedback:
    write_feedback(report, Path(a.vicheck_feedback), StudentContext())
"""


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two submissions and a stand-in for the pytest process (``VICHECK_GRADE_RUNNER``)."""
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    monkeypatch.setenv("VICHECK_GRADE_RUNNER", shlex.join([sys.executable, str(script)]))
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "good.py").write_text("x = 1\n")
    (subs / "bad.py").write_text("x = 2\n")
    return subs


def test_grade_writes_the_class_page(runner: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "grades"
    assert main(["grade", str(runner), "--out", str(out), "--jobs", "1"]) == 0
    assert str(out / "index.html") in capsys.readouterr().out
    tree = parse(out / "index.html")
    row = tree.find("tr", data_property="sigmoid_matches_logistic")
    assert (row.attrs["data-passed"], row.attrs["data-graded"]) == ("1", "2")
    assert (out / "summary.md").is_file()


def test_grade_survives_a_failing_page(
    runner: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A class page that cannot be drawn is one line on stderr; the grades stand (exit status 0, as for a class
    whose students all failed), and so do the other class files."""
    from vicheck.grading.report.formats import index_html

    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(index_html, "render_html", broken)
    out = tmp_path / "grades"
    assert main(["grade", str(runner), "--out", str(out), "--jobs", "1"]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if "index.html" in line]
    assert (
        len(lines) == 1
        and lines[0].startswith("vicheck grade: could not write index.html")
        and "disk on fire" in lines[0]
    )
    assert str(out / "index.html") not in captured.out
    assert (out / "summary.csv").is_file() and (out / "summary.md").is_file()
    assert (out / "good.json").is_file() and (out / "bad.json").is_file()
    assert not (out / "index.html").exists()
