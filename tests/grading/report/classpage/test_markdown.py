"""``summary.md``: the class page's tables as markdown, checked against the JSON reports and, byte for byte,
against the summary drawn before the class page moved to templates (a golden file)."""

from __future__ import annotations

import dataclasses
import re
import statistics
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.grading.report.classpage.classdir import CONTRACT, NOW, ODD_NAME, build_varied_class
from tests.grading.report.classpage.pages import FakeMatch, percent, reports, write_pages
from vicheck.grading.report.classpage import class_statistics, render_markdown
from vicheck.grading.report.classpage import statistics as class_stats
from vicheck.grading.report.folder import load_reports

DATA = Path(__file__).with_name("data")


def _tables(md: str) -> list[list[str]]:
    return [t.strip().splitlines() for t in re.findall(r"(?:^\|.*\|$\n?)+", md, flags=re.M)]


def test_scores_median_and_quartiles(class_dir: Path) -> None:
    np = pytest.importorskip("numpy")
    _, summary = write_pages(class_dir)
    scored = [percent(r) for r in reports(class_dir).values() if r["complete"]]
    q1, med, q3 = np.percentile(scored, [25, 50, 75])
    assert med == pytest.approx(statistics.median(scored))
    assert f"| {med:.1f}% | {q1:.1f}% | {q3:.1f}% |" in summary.read_text()


def test_links_resolve(class_dir: Path) -> None:
    _, summary = write_pages(class_dir)
    targets = re.findall(r"\]\(([^)]+)\)", summary.read_text())
    assert "erin.md" in targets and "grace.log" in targets
    for target in targets:
        if target != "index.html":  # the page is written beside it, by the other format
            assert (class_dir / unquote(target)).is_file(), f"broken link in summary.md: {target}"


def test_hostile_text_keeps_the_tables_whole(class_dir: Path) -> None:
    """Every table row has as many unescaped pipes as its header."""
    _, summary = write_pages(class_dir)
    md = summary.read_text()
    for lines in _tables(md):
        width = len(re.findall(r"(?<!\\)\|", lines[0]))
        assert all(len(re.findall(r"(?<!\\)\|", line)) == width for line in lines), lines
    assert r"KL(p \|\| q)" in md


def test_provenance(class_dir: Path) -> None:
    _, summary = write_pages(class_dir)
    md = summary.read_text()
    assert "- generated: 2024-05-01 12:00:00 UTC" in md
    assert "Files passed over:" in md and "- notes.json: not a vicheck grade report" in md


def test_roster_section(class_dir: Path) -> None:
    match = FakeMatch("canvas", unmatched=(ODD_NAME, "bob"), missing=("Doe, Jane",))
    md = write_pages(class_dir, matches=match)[1].read_text()
    section = md.split("## Roster\n", 1)[1].split("\n## ", 1)[0]
    assert "canvas roster: 2 submissions match no student, 1 students of the roster have no submission" in section
    assert f"- {ODD_NAME}\n- bob\n" in section and "- Doe, Jane\n" in section
    assert md.index("## Needs a look by hand") < md.index("## Roster") < md.index("## Provenance")
    everyone = write_pages(class_dir, matches=FakeMatch())[1].read_text()
    assert "Every student of the roster has a submission." in everyone
    assert "## Roster" not in write_pages(class_dir)[1].read_text()


def test_summary_is_byte_for_byte_the_summary_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The golden summary was drawn by the class page of commit 96bb2d1 (``data/make_golden.py``, run once in a
    worktree of that commit): contract fixed, folder and version written as placeholders."""
    monkeypatch.setattr(class_stats, "_contract_names", lambda: CONTRACT)
    folder = build_varied_class(tmp_path / "grades")
    st = class_statistics(load_reports(folder), now=NOW)
    st = dataclasses.replace(st, provenance=dataclasses.replace(st.provenance, vicheck="@VERSION@"))
    md = render_markdown(st).replace(str(folder), "@FOLDER@")
    assert md == (DATA / "class_page.md").read_text(encoding="utf-8")
