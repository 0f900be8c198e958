"""Merging output folders graded apart: newest report wins, companions copied byte for byte, mixes refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vicheck.grading.report.merge import MergeRefused, merge_folders
from vicheck.grading.report.records import GradeReport, PropertyResult, read_report

RUBRIC = "rubric.toml sha256:" + "a" * 64


def _report(
    name: str,
    score_passed: int,
    *,
    graded_at: str = "",
    rubric: str = RUBRIC,
    profile: str = "standard",
    version: str = "1.4.0",
) -> GradeReport:
    props = [PropertyResult(f"p{i}", ["f"], "core", 1.0, passed=i < score_passed) for i in range(4)]
    return GradeReport(
        submission=f"{name}.py",
        properties=props,
        complete=True,
        rubric=rubric,
        profile=profile,
        versions={"vicheck": version, "python": "3.11.7"},
        graded_at=graded_at,
    )


def _student(folder: Path, name: str, report: GradeReport, *, tag: str = "", mtime: float | None = None) -> None:
    """A student's files as ``vicheck grade`` leaves them: report, companions, resume key."""
    folder.mkdir(parents=True, exist_ok=True)
    report.write(folder / f"{name}.json")
    (folder / f"{name}.md").write_text(f"# Feedback {name} {tag}\n", encoding="utf-8")
    (folder / f"{name}.junit.xml").write_text(f"<testsuite name='{name}{tag}'/>\n", encoding="utf-8")
    (folder / f"{name}.gradescope.json").write_text(f'{{"score": {report.score}}}\n', encoding="utf-8")
    (folder / f"{name}.log").write_bytes(f"log {tag}\r\ncrlf kept\r\n".encode() + b"\xff\xfe not utf-8\n")
    (folder / ".vicheck").mkdir(exist_ok=True)
    (folder / ".vicheck" / f"{name}.json").write_text(f'{{"key": "{tag}"}}\n', encoding="utf-8")
    if mtime is not None:
        os.utime(folder / f"{name}.json", (mtime, mtime))


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


SUFFIXES = (".json", ".md", ".junit.xml", ".gradescope.json", ".log")


def test_newest_report_wins_by_graded_at_and_companions_come_with_it(tmp_path: Path) -> None:
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "grades"
    _student(a, "alice", _report("alice", 3, graded_at="2024-05-02T09:00:00Z"), tag="A")
    _student(b, "alice", _report("alice", 1, graded_at="2024-05-01T09:00:00+00:00"), tag="B")
    _student(b, "bob", _report("bob", 2, graded_at="2024-05-01T08:00:00Z"), tag="B")
    before = {a: _snapshot(a), b: _snapshot(b)}

    result = merge_folders([a, b], out)  # a is named first, but its alice is newer

    assert result.students == ("alice", "bob")
    assert read_report(out / "alice.json").score == 3
    for suffix in SUFFIXES:
        assert (out / f"alice{suffix}").read_bytes() == (a / f"alice{suffix}").read_bytes()
        assert (out / f"bob{suffix}").read_bytes() == (b / f"bob{suffix}").read_bytes()
    assert (out / ".vicheck" / "alice.json").read_bytes() == (a / ".vicheck" / "alice.json").read_bytes()
    assert (out / ".vicheck" / "bob.json").read_bytes() == (b / ".vicheck" / "bob.json").read_bytes()
    # byte for byte: CRLF and bytes that are not UTF-8 survive; the modification time is kept
    assert (out / "alice.log").read_bytes().startswith(b"log A\r\ncrlf kept\r\n\xff\xfe")
    assert (out / "alice.json").stat().st_mtime_ns == (a / "alice.json").stat().st_mtime_ns
    assert len(result.copied) == 12

    assert [(c.name, c.kept, c.over) for c in result.replaced] == [("alice", a, (b,))]
    assert "2024-05-02T09:00:00Z" in result.replaced[0].describe() and "newer" in result.replaced[0].describe()
    # the sources are untouched
    assert {a: _snapshot(a), b: _snapshot(b)} == before
    assert not list(out.glob(".*.json.*"))  # no temporary file left behind


def test_older_reports_fall_back_to_the_file_time(tmp_path: Path) -> None:
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    _student(a, "alice", _report("alice", 4), tag="A", mtime=2_000_000_000)
    _student(b, "alice", _report("alice", 0), tag="B", mtime=1_000_000_000)
    result = merge_folders([a, b], out)
    assert read_report(out / "alice.json").score == 4
    assert (out / "alice.md").read_text(encoding="utf-8") == "# Feedback alice A\n"
    assert result.replaced[0].kept == a and "file modified" in result.replaced[0].reason


def test_a_tie_goes_to_the_folder_named_later(tmp_path: Path) -> None:
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    when = "2024-05-01T09:00:00Z"
    _student(a, "alice", _report("alice", 4, graded_at=when), tag="A")
    _student(b, "alice", _report("alice", 2, graded_at=when), tag="B")
    assert merge_folders([a, b], out).replaced[0].kept == b
    assert read_report(out / "alice.json").score == 2
    out2 = tmp_path / "out2"
    assert merge_folders([b, a], out2).replaced[0].kept == a
    assert read_report(out2 / "alice.json").score == 4


@pytest.mark.parametrize(
    ("field", "other", "words"),
    [
        ("rubric", {"rubric": "rubric.toml sha256:" + "b" * 64}, ["rubric", "sha256:aaaa", "sha256:bbbb"]),
        ("profile", {"profile": "thorough"}, ["profile", "'standard'", "'thorough'"]),
        ("version", {"version": "1.5.0"}, ["vicheck version", "'1.4.0'", "'1.5.0'"]),
    ],
)
def test_a_mix_is_refused_in_one_line(tmp_path: Path, field: str, other: dict[str, str], words: list[str]) -> None:
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    _student(a, "alice", _report("alice", 3, graded_at="2024-05-01T09:00:00Z"))
    _student(a, "carol", _report("carol", 3, graded_at="2024-05-01T09:00:00Z"))
    _student(b, "bob", _report("bob", 3, graded_at="2024-05-01T09:00:00Z", **other))
    with pytest.raises(MergeRefused) as info:
        merge_folders([a, b], out)
    message = str(info.value)
    assert "\n" not in message
    assert f"{a}/ (2 reports)" in message and f"{b}/ (1 report)" in message
    for word in words:
        assert word in message
    assert isinstance(info.value, ValueError)
    assert not out.exists() or not any(out.iterdir())  # nothing was copied


def test_merge_into_one_of_the_sources(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _student(a, "alice", _report("alice", 4, graded_at="2024-05-03T09:00:00Z"), tag="A")
    _student(a, "bob", _report("bob", 1, graded_at="2024-05-01T09:00:00Z"), tag="A")
    (a / "summary.csv").write_text("submission,score\n", encoding="utf-8")
    _student(b, "alice", _report("alice", 2, graded_at="2024-05-02T09:00:00Z"), tag="B")
    _student(b, "bob", _report("bob", 3, graded_at="2024-05-02T09:00:00Z"), tag="B")
    _student(b, "carol", _report("carol", 2, graded_at="2024-05-02T09:00:00Z"), tag="B")
    b_before = _snapshot(b)
    alice_before = {p: (a / p).read_bytes() for p in ("alice.json", "alice.md", ".vicheck/alice.json")}

    result = merge_folders([a, b], a)

    assert result.out == a
    assert {p: (a / p).read_bytes() for p in alice_before} == alice_before  # alice in a was newest: kept
    assert all(p.name.startswith(("bob", "carol")) for p in result.copied)
    assert read_report(a / "bob.json").score == 3 and (a / "bob.md").read_text(encoding="utf-8") == "# Feedback bob B\n"
    assert (a / ".vicheck" / "bob.json").read_text(encoding="utf-8") == '{"key": "B"}\n'
    assert read_report(a / "carol.json").score == 2
    assert (a / "summary.csv").exists()  # nothing deleted
    assert _snapshot(b) == b_before
    assert sorted(c.name for c in result.replaced) == ["alice", "bob"]


def test_stale_companions_are_listed_not_deleted(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _student(a, "alice", _report("alice", 1, graded_at="2024-05-01T09:00:00Z"), tag="A")
    b.mkdir()
    _report("alice", 4, graded_at="2024-05-02T09:00:00Z").write(b / "alice.json")  # only the report
    result = merge_folders([a, b], a)
    assert read_report(a / "alice.json").score == 4
    assert sorted(p.name for p in result.stale) == [
        "alice.gradescope.json",
        "alice.json",
        "alice.junit.xml",
        "alice.log",
        "alice.md",
    ]
    assert (a / "alice.md").exists() and (a / ".vicheck" / "alice.json").exists()


def test_non_reports_are_skipped_with_a_note_and_a_second_merge_copies_nothing(tmp_path: Path) -> None:
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    _student(a, "alice", _report("alice", 3, graded_at="2024-05-01T09:00:00Z"))
    _student(b, "bob", _report("bob", 3, graded_at="2024-05-01T09:00:00Z"))
    (b / "notes.json").write_text('{"hello": 1}\n', encoding="utf-8")
    result = merge_folders([a, b], out)
    assert len(result.skipped) == 1 and "notes.json" in result.skipped[0] and str(b) in result.skipped[0]
    assert not (out / "notes.json").exists()
    assert result.replaced == ()
    again = merge_folders([a, b], out)
    assert again.copied == ()


def test_an_out_folder_holding_reports_counts_as_the_first_source(tmp_path: Path) -> None:
    a, out = tmp_path / "a", tmp_path / "out"
    _student(a, "alice", _report("alice", 1, graded_at="2024-05-01T09:00:00Z"), tag="A")
    _student(a, "bob", _report("bob", 1, graded_at="2024-05-03T09:00:00Z"), tag="A")
    _student(out, "alice", _report("alice", 4, graded_at="2024-05-02T09:00:00Z"), tag="OUT")
    _student(out, "zed", _report("zed", 3, graded_at="2024-05-01T09:00:00Z"), tag="OUT")
    _student(out, "bob", _report("bob", 4, graded_at="2024-05-03T09:00:00Z"), tag="OUT")
    result = merge_folders([a], out)
    assert result.students == ("alice", "bob", "zed")
    assert read_report(out / "alice.json").score == 4  # newer in out: kept
    assert read_report(out / "bob.json").score == 1  # a tie: the named folder comes later and wins
    assert (out / "bob.md").read_text(encoding="utf-8") == "# Feedback bob A\n"
    assert read_report(out / "zed.json").score == 3


def test_an_out_folder_of_another_grading_is_refused(tmp_path: Path) -> None:
    a, out = tmp_path / "a", tmp_path / "out"
    _student(a, "alice", _report("alice", 3, graded_at="2024-05-01T09:00:00Z"))
    _student(out, "zed", _report("zed", 3, graded_at="2024-05-01T09:00:00Z", profile="quick"))
    with pytest.raises(MergeRefused, match="profile"):
        merge_folders([a], out)


def test_a_missing_source_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        merge_folders([tmp_path / "nope"], tmp_path / "out")


def test_a_folder_named_twice_counts_once(tmp_path: Path) -> None:
    a = tmp_path / "a"
    _student(a, "alice", _report("alice", 3, graded_at="2024-05-01T09:00:00Z"))
    result = merge_folders([a, a.resolve(), tmp_path / "." / "a"], a)
    assert result.replaced == () and result.copied == ()
