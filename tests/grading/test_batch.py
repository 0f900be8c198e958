"""``vicheck grade`` with a fake property run: expansion, parallel runs, resume, time limits, exit status.

A tiny script stands in for pytest (``batch.pytest_command`` is replaced): it reads the options the grader
passes, behaves as the first line of the submission says (``# mode: pass|fail|sleep|hang|usage|noreport``)
and writes a report the way the property-suite plugin does.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
import time
from pathlib import Path

import pytest

from tests.processes import ended
from vicheck.cli import main
from vicheck.grading import batch
from vicheck.grading.progress import Progress
from vicheck.grading.report.records import GradeReport
from vicheck.grading.submissions import Outcome, expand_submissions

FAKE = r"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path
from vicheck.grading.report.records import GradeReport, PropertyResult
from vicheck.sandbox.loading import resolve_submission_path

start = time.time()
p = argparse.ArgumentParser()
for opt in ("--impl", "--grade-report", "--junitxml", "--vicheck-gradescope", "--vicheck-feedback",
            "--vicheck-rubric", "--vicheck-profile", "--vicheck-visibility", "--vicheck-isolation",
            "--vicheck-resources", "--rootdir", "-c",
            "--confcutdir",
            "--pyargs"):
    p.add_argument(opt)
p.add_argument("-p", action="append")
p.add_argument("-q", action="store_true")
a = p.parse_args()
file = resolve_submission_path(Path(a.impl))
mode = file.read_text().splitlines()[0].split(":")[1].strip()
record = {"impl": a.impl, "mode": mode, "start": start, "cwd": os.getcwd(), "cwd_files": os.listdir("."),
          "args": vars(a), "env": {k: os.environ.get(k) for k in ("PYTHONHASHSEED", "OMP_NUM_THREADS",
          "HYPOTHESIS_STORAGE_DIRECTORY", "PYTEST_ADDOPTS")}}
print("fake pytest for", a.impl)

def log(extra=None):
    record.update(extra or {}, end=time.time())
    with open(os.environ["FAKE_LOG"], "a") as fh:
        fh.write(json.dumps(record) + "\n")

if mode == "usage":
    log()
    print("ERROR: usage error", file=sys.stderr)
    sys.exit(4)
if mode == "noreport":
    log()
    sys.exit(0)
names = ["kl1_closed_form", "kl2_slow", "sigmoid_bounded[x]"]
report = GradeReport(submission=a.impl, profile=a.vicheck_profile, rubric=a.vicheck_rubric or "default",
                     properties=[PropertyResult(n, ["f"], "correctness", 1.0, description=f"checks {n}")
                                 for n in names],
                     hidden_left_out=1 if a.vicheck_visibility == "visible" else 0)
report.write(a.grade_report)
report.properties[0].passed, report.properties[0].status = True, "passed"
report.running = "kl2_slow"
report.write(a.grade_report)
if mode == "hang":
    child = subprocess.Popen(["sleep", "300"], start_new_session=True)
    log({"grandchild": child.pid})
    time.sleep(300)
if mode == "sleep":
    time.sleep(1.0)
fail = mode == "fail"
for prop in report.properties[1:]:
    prop.passed, prop.status = (not fail), ("failed" if fail else "passed")
    prop.message = "wrong value" if fail else ""
report.running, report.complete = "", True
report.write(a.grade_report)
if a.junitxml:  # passed only when the junit format is chosen
    Path(a.junitxml).write_text("<testsuites/>")
log()
sys.exit(1 if fail else 0)
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Install the fake pytest; returns the file where each run appends one JSON line."""
    script = tmp_path / "fake_pytest.py"
    script.write_text(FAKE)
    log = tmp_path / "fake.log"
    monkeypatch.setattr(batch, "pytest_command", lambda: [sys.executable, str(script)])
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("PYTEST_ADDOPTS", "-x")
    return log


def runs(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def submission(path: Path, mode: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# mode: {mode}\nx = 1\n")
    return path


def grade(*args: str | Path) -> int:
    return main(["grade", *map(str, args)])


def test_expand_folder_of_submissions(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    submission(subs / "alice.py", "pass")
    submission(subs / "bob.ipynb", "pass")
    submission(subs / "carol" / "work.py", "pass")
    submission(subs / "dave" / "a.py", "pass")
    submission(subs / "dave" / "b.py", "pass")
    submission(subs / "alice" / "x.py", "pass")
    (subs / "notes.txt").write_text("hi")
    submission(subs / ".hidden.py", "pass")
    (subs / "__pycache__").mkdir()
    found, notes = expand_submissions([subs])
    assert [s.name for s in found] == ["alice", "alice-2", "bob", "carol", "dave"]
    by = {s.name: s for s in found}
    assert by["alice"].file == (subs / "alice" / "x.py").resolve()
    assert by["alice-2"].file == (subs / "alice.py").resolve()
    assert by["carol"].file == (subs / "carol" / "work.py").resolve() and by["carol"].problem == ""
    assert by["dave"].file is None and "exactly one" in by["dave"].problem
    assert any("notes.txt" in n for n in notes)
    # a folder holding one file is one submission, named after the file; a file is itself
    one = tmp_path / "one"
    submission(one / "lecture_4_functions.py", "pass")
    found, _ = expand_submissions([one, subs / "bob.ipynb"])
    assert [(s.name, s.path) for s in found] == [
        ("lecture_4_functions", one.resolve()),
        ("bob", (subs / "bob.ipynb").resolve()),
    ]
    # the output folder inside the submissions folder is not a student
    (subs / "grades").mkdir()
    found, _ = expand_submissions([subs], exclude=subs / "grades")
    assert "grades" not in [s.name for s in found]
    for bad in (tmp_path / "missing", subs / "notes.txt", tmp_path / "subs" / "__pycache__"):
        with pytest.raises(ValueError):
            expand_submissions([bad])


def test_parallel_grading_outputs_and_environment(
    tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subs = tmp_path / "subs"
    for name in ("alice", "bob", "carol"):
        submission(subs / f"{name}.py", "sleep")
    (subs / "pytest.ini").write_text("[pytest]\naddopts = --bogus\n")
    out = tmp_path / "grades"
    assert grade(subs, "--out", out, "--jobs", "3") == 0
    recs = runs(fake)
    assert len(recs) == 3
    # the three ran at the same time
    assert max(float(r["start"]) for r in recs) < min(float(r["end"]) for r in recs)  # type: ignore[arg-type]
    for r in recs:
        args, env = r["args"], r["env"]
        assert isinstance(args, dict) and isinstance(env, dict)
        assert r["cwd_files"] == [] and not str(r["cwd"]).startswith(str(subs))
        assert args["rootdir"] == r["cwd"] and Path(args["c"]).name == "pytest.ini"
        assert Path(args["c"]).parent != subs and "no:cacheprovider" in args["p"] and "no:randomly" in args["p"]
        assert args["pyargs"] == "properties" and "vicheck.grading.run.plugin" in args["p"]
        assert args["vicheck_profile"] == "grade" and args["vicheck_visibility"] == "all"
        # the resource level decided once for the class, as the isolation level is
        assert args["vicheck_resources"] in ("cgroup2", "cgroup1", "rlimits")
        assert env["PYTHONHASHSEED"] == "0" and env["OMP_NUM_THREADS"] == "1" and env["PYTEST_ADDOPTS"] is None
        hyp = str(env["HYPOTHESIS_STORAGE_DIRECTORY"])
        assert not hyp.startswith(str(subs)) and not hyp.startswith(str(r["cwd"]))
    for name in ("alice", "bob", "carol"):
        for suffix in (".json", ".junit.xml", ".gradescope.json", ".md", ".log"):
            assert (out / f"{name}{suffix}").is_file(), f"{name}{suffix}"
        assert "fake pytest for" in (out / f"{name}.log").read_text()
        report = GradeReport.from_json(json.loads((out / f"{name}.json").read_text()))
        assert report.complete and report.score == 3
        assert len(report.submission_sha256) == 64  # the grader records it when the run did not
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["submission"] for r in rows] == ["alice", "bob", "carol"]
    assert all(r["percent"] == "100" and r["complete"] == "true" for r in rows)
    captured = capsys.readouterr()
    assert "[3/3]" in captured.err  # a plain line per submission when stderr is not a terminal
    assert "alice" in captured.out and "summary.csv" in captured.out


def test_failing_students_exit_zero_and_summary(tmp_path: Path, fake: Path) -> None:
    subs = tmp_path / "subs"
    submission(subs / "alice.py", "fail")
    submission(subs / "bob.py", "pass")
    submission(subs / "dave" / "a.py", "pass")
    submission(subs / "dave" / "b.py", "pass")
    out = tmp_path / "grades"
    assert grade(subs, "--out", out, "--quiet") == 0
    rows = {r["submission"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert rows["alice"]["score"] == "1" and rows["alice"]["failed"] == "kl2_slow;sigmoid_bounded[x]"
    assert rows["bob"]["failed"] == "" and rows["bob"]["percent"] == "100"
    assert rows["dave"]["errors"] == "1" and rows["dave"]["score"] == "0"
    dave = json.loads((out / "dave.json").read_text())
    assert "exactly one" in dave["errors"][0]
    assert (out / "dave.gradescope.json").is_file() and (out / "dave.md").is_file()
    assert len(runs(fake)) == 2  # dave could not be graded, and no pytest was started for him


def test_resume_skips_finished_and_force_regrades(tmp_path: Path, fake: Path) -> None:
    subs = tmp_path / "subs"
    submission(subs / "alice.py", "pass")
    submission(subs / "bob.py", "fail")
    out = tmp_path / "grades"
    assert grade(subs, "--out", out, "-q") == 0
    assert len(runs(fake)) == 2
    assert grade(subs, "--out", out, "-q") == 0
    assert len(runs(fake)) == 2  # both skipped
    (subs / "bob.py").write_text("# mode: pass\n# changed\n")
    assert grade(subs, "--out", out, "-q") == 0
    assert [Path(str(r["impl"])).name for r in runs(fake)[2:]] == ["bob.py"]
    rubric = tmp_path / "rubric.toml"
    rubric.write_text("[weights]\n'kl*' = 2\n")
    assert grade(subs, "--out", out, "-q", "--rubric", rubric) == 0
    assert len(runs(fake)) == 5  # another rubric: both regraded
    assert grade(subs, "--out", out, "-q", "--rubric", rubric, "--self-check") == 0
    assert len(runs(fake)) == 7  # another visibility: both regraded
    assert grade(subs, "--out", out, "-q", "--rubric", rubric, "--self-check", "--force") == 0
    assert len(runs(fake)) == 9
    # an incomplete report is never reused
    data = json.loads((out / "alice.json").read_text())
    data["complete"] = False
    (out / "alice.json").write_text(json.dumps(data))
    assert grade(subs, "--out", out, "-q", "--rubric", rubric, "--self-check") == 0
    assert [Path(str(r["impl"])).name for r in runs(fake)[9:]] == ["alice.py"]
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert len(rows) == 2 and all(r["complete"] == "true" for r in rows)


def test_time_limit_kills_and_finalizes(tmp_path: Path, fake: Path) -> None:
    sub = submission(tmp_path / "slow.py", "hang")
    out = tmp_path / "grades"
    start = time.monotonic()
    assert grade(sub, "--out", out, "-q", "--time-limit", "2") == 0
    assert time.monotonic() - start < 30
    report = json.loads((out / "slow.json").read_text())
    assert report["complete"] is True
    props = {p["name"]: p for p in report["properties"]}
    assert props["kl1_closed_form"]["status"] == "passed"
    for name in ("kl2_slow", "sigmoid_bounded[x]"):
        assert props[name]["status"] == "not run" and props[name]["passed"] is False
        assert props[name]["message"] == ("not run: the submission's time limit was reached while kl2_slow was running")
    assert any("kl2_slow" in e and "time limit" in e for e in report["errors"])
    assert report["score"] == 1
    gradescope = json.loads((out / "slow.gradescope.json").read_text())
    assert gradescope["score"] == 1 and len(gradescope["tests"]) == 3
    assert "kl2_slow" in (out / "slow.md").read_text()
    assert (out / "slow.junit.xml").is_file()
    grandchild = int(runs(fake)[0]["grandchild"])  # type: ignore[call-overload]
    # the process the run started in its own session was killed too
    assert ended(grandchild, 5), "the run's grandchild process survived"
    # a finalized report counts as finished: not graded again
    assert grade(sub, "--out", out, "-q", "--time-limit", "2") == 0
    assert len(runs(fake)) == 1


@pytest.mark.parametrize("mode", ["usage", "noreport"])
def test_grader_failure_exits_nonzero(
    tmp_path: Path, fake: Path, mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    submission(tmp_path / "subs" / "ok.py", "pass")
    submission(tmp_path / "subs" / "broken.py", mode)
    out = tmp_path / "grades"
    assert grade(tmp_path / "subs", "--out", out, "-q") == 1
    err = capsys.readouterr().err
    assert "grader failed for broken" in err and "\n" == err[-1] and "Traceback" not in err
    broken = json.loads((out / "broken.json").read_text())
    assert broken["complete"] is False and "the grader failed" in broken["errors"][-1]
    assert not (out / "broken.gradescope.json").exists() and not (out / "broken.md").exists()
    assert json.loads((out / "ok.json").read_text())["complete"] is True
    rows = {r["submission"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert rows["broken"]["complete"] == "false" and rows["ok"]["complete"] == "true"
    # a failed run is retried next time
    assert grade(tmp_path / "subs", "--out", out, "-q") == 1
    assert [Path(str(r["impl"])).name for r in runs(fake)[2:]] == ["broken.py"]


def test_usage_errors_are_one_line(tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert grade(tmp_path / "missing", "--out", tmp_path / "g") == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[grading]\nprofil = 'x'\n")
    sub = submission(tmp_path / "a.py", "pass")
    assert grade(sub, "--out", tmp_path / "g", "--rubric", bad) == 2
    assert grade(sub, sub, "--out", tmp_path / "g", "--gradescope-results", tmp_path / "r.json") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "no such file" in err[0] and "profil" in err[1] and "exactly one" in err[2]
    assert runs(fake) == []


def test_gradescope_results_and_profile_options(tmp_path: Path, fake: Path) -> None:
    sub = submission(tmp_path / "submission" / "student.py", "pass")
    results = tmp_path / "results" / "results.json"
    out = tmp_path / "grades"
    assert grade(sub.parent, "--out", out, "-q", "--gradescope-results", results, "--profile", "dev") == 0
    assert json.loads(results.read_text())["score"] == 3
    assert not (out / "student.gradescope.json").exists()
    assert runs(fake)[0]["args"]["vicheck_profile"] == "dev"  # type: ignore[index]


def test_self_check_passes_visible(tmp_path: Path, fake: Path) -> None:
    sub = submission(tmp_path / "a.py", "pass")
    assert grade(sub, "--out", tmp_path / "g", "-q", "--self-check") == 0
    assert runs(fake)[0]["args"]["vicheck_visibility"] == "visible"  # type: ignore[index]
    assert "not the final grade" in json.loads((tmp_path / "g" / "a.gradescope.json").read_text())["output"]


def test_runner_override_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VICHECK_GRADE_RUNNER", "python3 'my runner.py'")
    assert batch.pytest_command() == ["python3", "my runner.py"]
    monkeypatch.delenv("VICHECK_GRADE_RUNNER")
    assert batch.pytest_command() == [sys.executable, "-m", "pytest"]


def test_finalize_partial_before_first_property() -> None:
    from vicheck.grading.report.records import PropertyResult

    report = GradeReport("x.py", [PropertyResult("a", [], "correctness", 1.0)])
    batch.finalize_partial(report, "the submission's time limit was reached")
    assert report.complete and report.properties[0].status == "not run"
    assert "while loading the submission" in report.properties[0].message


# --------------------------------------------------------------------------------------------- end to end

LECTURE = Path(__file__).resolve().parents[1] / "submissions" / "lecture_4_functions.py"


def test_end_to_end_with_the_property_suite(tmp_path: Path) -> None:
    """The real plugin grades the lecture's code (dev profile; a rubric leaves most properties hidden and
    the self-check runs only the visible ones, to stay quick)."""
    source = LECTURE
    folder = tmp_path / "alice"
    folder.mkdir()
    (folder / "lecture_4_functions.py").write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "pytest.ini").write_text("[pytest]\naddopts = --no-such-option\n")  # must not be read
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(
        '[grading]\ndefault_visibility = "hidden"\n[visibility]\nvisible = ["sigmoid_*", "integrate_*", "T_*"]\n'
        "[weights]\n'sigmoid_matches_logistic' = 5\n[limits]\nsubmission_seconds = 120\n"
    )
    out = tmp_path / "grades"
    code = grade(folder, "--out", out, "-q", "--profile", "dev", "--rubric", rubric, "--self-check", "--jobs", "1")
    log = (out / "lecture_4_functions.log").read_text()
    assert code == 0, log[-3000:]
    data = json.loads((out / "lecture_4_functions.json").read_text())
    for key in (
        "submission",
        "score",
        "max_score",
        "properties",
        "errors",
        "profile",
        "hypothesis_seed",
        "versions",
        "rubric",
        "hidden_left_out",
        "running",
        "complete",
        "submission_sha256",
    ):
        assert key in data, key
    assert data["complete"] is True and data["profile"] == "dev" and data["hidden_left_out"] > 0
    assert data["submission_sha256"] == hashlib.sha256((folder / "lecture_4_functions.py").read_bytes()).hexdigest()
    assert data["properties"], "no property ran"
    for p in data["properties"]:
        for key in ("name", "functions", "category", "weight", "passed", "message", "counterexample", "seconds"):
            assert key in p, key
        assert p["name"].startswith(("sigmoid_", "integrate_", "T_")) and p["status"] in ("passed", "failed")
    weights = {p["name"]: p["weight"] for p in data["properties"]}
    assert weights.get("sigmoid_matches_logistic", 5) == 5
    gradescope = json.loads((out / "lecture_4_functions.gradescope.json").read_text())
    assert gradescope["score"] == data["score"] and len(gradescope["tests"]) == len(data["properties"])
    assert "not the final grade" in gradescope["output"]
    assert "## Properties" in (out / "lecture_4_functions.md").read_text()
    assert "<testsuite" in (out / "lecture_4_functions.junit.xml").read_text()
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert rows[0]["submission"] == "lecture_4_functions" and rows[0]["complete"] == "true"


def test_progress_bar_on_a_terminal() -> None:
    import io

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    progress = Progress(2, stream, quiet=False)
    progress.tick(["alice", "bob"])
    assert "0/2" in stream.getvalue() and "alice, bob" in stream.getvalue() and "\r" in stream.getvalue()
    report = GradeReport("a.py", complete=True)
    progress.finished(Outcome("alice", report, "graded", 1.0))
    progress.tick(["bob"])
    progress.close()
    text = stream.getvalue()
    assert "[1/2] alice: 0/0 (graded, 1.0 s)\n" in text and "1/2" in text
    quiet = Tty()
    silent = Progress(1, quiet, quiet=True)
    silent.tick(["x"])
    silent.finished(Outcome("x", report, "graded"))
    assert quiet.getvalue() == ""


# --------------------------------------------------------------------------------------------- formats, shards


def test_formats_choose_the_files_and_a_reused_report_writes_the_new_ones(tmp_path: Path, fake: Path) -> None:
    sub = submission(tmp_path / "subs" / "alice.py", "pass")
    out = tmp_path / "grades"
    assert grade(sub.parent, "--out", out, "-q", "--formats", "md,summary.csv") == 0
    written = {p.name for p in out.iterdir() if p.is_file()}
    # json and log always; md asked; junit, gradescope, summary.md and index.html not
    assert written == {"alice.json", "alice.log", "alice.md", "summary.csv"}, written
    assert len(runs(fake)) == 1
    # asking for more later draws them from the finished report, without grading again
    assert grade(sub.parent, "--out", out, "-q", "--formats", "gradescope,junit") == 0
    assert len(runs(fake)) == 1
    assert (out / "alice.gradescope.json").is_file() and (out / "alice.junit.xml").is_file()


def test_an_unknown_format_is_a_usage_error(tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = submission(tmp_path / "subs" / "alice.py", "pass")
    assert grade(sub.parent, "--out", tmp_path / "g", "--formats", "md,pdf") == 2
    assert "unknown output format pdf" in capsys.readouterr().err and not runs(fake)
    assert grade(sub.parent, "--out", tmp_path / "g", "--formats", "canvas.csv") == 2
    assert "canvas.csv needs a canvas roster" in capsys.readouterr().err


def test_shards_split_a_class_and_report_merges_them(tmp_path: Path, fake: Path) -> None:
    """Three shards graded apart hold every student once; `vicheck report A B C --out` gives the class."""
    subs = tmp_path / "subs"
    names = [f"s{i:02d}" for i in range(12)]
    for name in names:
        submission(subs / f"{name}.py", "pass" if name < "s06" else "fail")
    shards = [tmp_path / f"shard{k}" for k in (1, 2, 3)]
    for k, folder in enumerate(shards, 1):
        assert grade(subs, "--out", folder, "-q", "--shard", f"{k}/3", "--no-warm") == 0
    graded = [sorted(p.stem for p in folder.glob("s??.json")) for folder in shards]
    assert sorted(name for shard in graded for name in shard) == names and all(graded)
    assert len(runs(fake)) == len(names)  # each graded once, on one machine
    merged = tmp_path / "class"
    assert main(["report", *map(str, shards), "--out", str(merged)]) == 0
    rows = {r["submission"]: r for r in csv.DictReader((merged / "summary.csv").open())}
    assert sorted(rows) == names
    assert all(rows[n]["score"] == ("3" if n < "s06" else "1") for n in names)
    assert (merged / "index.html").is_file() and (merged / "s00.md").is_file()


def test_report_refuses_to_merge_two_rubrics(tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = submission(tmp_path / "subs" / "alice.py", "pass")
    rubric = tmp_path / "rubric.toml"
    rubric.write_text("[weights]\n'kl1_*' = 2\n")
    assert grade(sub.parent, "--out", tmp_path / "a", "-q") == 0
    assert grade(sub.parent, "--out", tmp_path / "b", "-q", "--rubric", rubric) == 0
    assert main(["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rubric" in err[0]
    assert not (tmp_path / "c" / "alice.json").exists()


def test_a_canvas_roster_gives_canvas_csv_and_names_the_unmatched(
    tmp_path: Path, fake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subs = tmp_path / "subs"
    for name, mode in (("jdoe", "pass"), ("asmith", "fail"), ("stranger", "pass")):
        submission(subs / f"{name}.py", mode)
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,Lecture 4 (123)\n"
        "    Points Possible,,,,,3\n"
        '"Doe, Jane",101,S101,jdoe,A,\n'
        '"Smith, Ann",102,S102,asmith,A,\n'
        '"Roe, Rick",103,S103,rroe,B,\n'
    )
    out = tmp_path / "grades"
    assert grade(subs, "--out", out, "-q", "--roster", roster, "--assignment", "Lecture 4") == 0
    rows = list(csv.reader((out / "canvas.csv").open()))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lecture 4"]
    cells = {r[3]: r[5] for r in rows[2:]}
    assert cells == {"jdoe": "3", "asmith": "1", "rroe": ""}  # no submission: empty, never 0
    err = capsys.readouterr().err
    assert "1 submission matches no student" in err and "stranger" in err
    assert "stranger" in (out / "index.html").read_text()
