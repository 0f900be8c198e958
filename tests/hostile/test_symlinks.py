"""Symbolic links out of a submission: refused with score 0 and one line naming the link, nothing read through them.

A class is built under ``tmp_path`` beside a folder ``outside/`` that no submission owns. Every link that
leaves its submission ends, where it ends at a file, at a FIFO (a named pipe): opening one for reading blocks
until a writer comes, and none ever does, so a grading run that finishes (bounded by a timeout) proves the
grader opened none of them, not to grade, copy or hash it. The refused submissions must still get every
output file and a place on the class page under "Needs a look by hand"; links that stay inside their
submission folder are followed and graded exactly as the file they point to.

=====================  =========================================  ==========================================
entry                  what                                       verdict
=====================  =========================================  ==========================================
``honest.py``          the lecture's code                         graded
``sibling.py``         ``-> honest.py`` (a classmate's file)      refused
``absolute.py``        ``-> /…/outside/fifo.py`` (absolute)       refused
``carol/solution.py``  ``-> ../honest.py``                        refused
``dana/solution.py``   ``-> /…/outside/fifo.py``                  refused
``erin``               ``-> ../outside/folder`` (a folder)        refused
``frank/solution.py``  ``-> ../absolute.py`` (a chain to a FIFO)  refused
``gina/solution.py``   ``-> ../../outside/nothing.py`` (dangling) refused
``hank/``              the lecture, and ``data/train.csv`` ->     refused: a link out, even one not graded
                       the FIFO
``kate.py``            ``-> nowhere.py`` (dangling)               refused
``ines/solution.py``   ``-> src/lecture.py`` (inside)             graded as ``honest``
``jack/``              ``lecture.py`` and ``main.py -> lecture``  graded as ``honest`` (one file, two names)
=====================  =========================================  ==========================================
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import pytest

from tests.rubrics import SIGMOID_SELF_CHECK
from vicheck.grading.submissions import expand_submissions, file_sha256, single_submission
from vicheck.sandbox.loading import OutsideLink, resolve_submission_path

ROOT = Path(__file__).resolve().parents[2]
LECTURE = ROOT / "tests" / "submissions" / "lecture_4_functions.py"
RUBRIC = SIGMOID_SELF_CHECK
OUT = "is a symbolic link to a file outside the submission"
#: each refused entry and the one line that says why
REFUSED = {
    "sibling": f"`sibling.py` {OUT}",
    "absolute": f"`absolute.py` {OUT}",
    "carol": f"`carol/solution.py` {OUT}",
    "dana": f"`dana/solution.py` {OUT}",
    "erin": "`erin` is a symbolic link to a folder outside the submission",
    "frank": f"`frank/solution.py` {OUT}",
    "gina": f"`gina/solution.py` {OUT}",
    "hank": f"`hank/data/train.csv` {OUT}",
    "kate": f"`kate.py` {OUT}",
}
GRADED = ("honest", "ines", "jack")


def _build(arena: Path) -> tuple[Path, Path]:
    """The class folder and the FIFO every outside link (but the classmates' and dangling ones) ends at."""
    klass, outside = arena / "class", arena / "outside"
    (outside / "folder").mkdir(parents=True)
    fifo = outside / "fifo.py"
    os.mkfifo(fifo)
    os.mkfifo(outside / "folder" / "solution.py")
    klass.mkdir()
    shutil.copyfile(LECTURE, klass / "honest.py")
    (klass / "sibling.py").symlink_to("honest.py")
    (klass / "absolute.py").symlink_to(fifo)
    for name, target in [
        ("carol", "../honest.py"),
        ("dana", str(fifo)),
        ("frank", "../absolute.py"),
        ("gina", "../../outside/nothing.py"),
    ]:
        (klass / name).mkdir()
        (klass / name / "solution.py").symlink_to(target)
    (klass / "erin").symlink_to("../outside/folder", target_is_directory=True)
    (klass / "hank" / "data").mkdir(parents=True)
    shutil.copyfile(LECTURE, klass / "hank" / "solution.py")
    (klass / "hank" / "data" / "train.csv").symlink_to(fifo)
    (klass / "kate.py").symlink_to("nowhere.py")
    (klass / "ines" / "src").mkdir(parents=True)
    shutil.copyfile(LECTURE, klass / "ines" / "src" / "lecture.py")
    (klass / "ines" / "solution.py").symlink_to("src/lecture.py")
    (klass / "jack").mkdir()
    shutil.copyfile(LECTURE, klass / "jack" / "lecture.py")
    (klass / "jack" / "main.py").symlink_to("lecture.py")
    return klass, fifo


@contextlib.contextmanager
def _bounded(seconds: int) -> Iterator[None]:
    """Fail instead of hanging: an ``open`` of a FIFO blocked in this (main) thread is interrupted."""

    def expired(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"still running after {seconds} s: something opened a FIFO behind a link")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _no_reader(fifo: Path) -> bool:
    """Whether no process holds ``fifo`` open for reading now (a non-blocking writer is refused, ENXIO)."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        return exc.errno == errno.ENXIO
    os.close(fd)
    return False


# --------------------------------------------------------------------------------------------- expansion


def test_expansion_refuses_links_out_and_follows_links_in(tmp_path: Path) -> None:
    klass, fifo = _build(tmp_path)
    with _bounded(30):
        subs, notes = expand_submissions([klass])
    by_name = {s.name: s for s in subs}
    assert set(by_name) == set(REFUSED) | set(GRADED) and notes == []
    for name, problem in REFUSED.items():
        assert by_name[name].file is None and by_name[name].problem == problem, name
    # a refused link is shown as itself, never as what it points to
    assert by_name["absolute"].path == klass / "absolute.py" and by_name["erin"].path == klass / "erin"
    assert by_name["honest"].file == klass / "honest.py"
    assert by_name["ines"].file == klass / "ines" / "src" / "lecture.py"
    assert by_name["jack"].file == klass / "jack" / "lecture.py"
    assert _no_reader(fifo)


def test_a_path_named_on_the_command_line_is_followed(tmp_path: Path) -> None:
    klass, _ = _build(tmp_path)
    (sub,), _ = expand_submissions([klass / "sibling.py"])  # the instructor named it: it is graded
    assert sub.file == klass / "honest.py" and sub.problem == ""
    assert resolve_submission_path(klass / "sibling.py") == klass / "sibling.py"
    linked = tmp_path / "linked"
    linked.symlink_to(klass / "ines", target_is_directory=True)
    assert resolve_submission_path(linked) == linked / "solution.py"


def test_a_folder_with_a_link_out_is_refused_as_one_submission(tmp_path: Path) -> None:
    klass, fifo = _build(tmp_path)
    with _bounded(30):
        for name in ("carol", "dana", "frank", "gina", "hank"):
            with pytest.raises(OutsideLink) as info:
                resolve_submission_path(klass / name)
            assert str(info.value) == REFUSED[name]
            if name != "hank":  # a folder holding a folder is a folder of submissions
                (sub,), _ = expand_submissions([klass / name])  # the folder named alone: one submission
                assert sub.file is None and sub.problem == REFUSED[name]
            sub = single_submission(klass / name)  # what a Gradescope upload is
            assert sub.file is None and sub.problem == REFUSED[name]
    assert _no_reader(fifo)


def test_the_hash_reads_only_a_regular_file_never_through_a_link(tmp_path: Path) -> None:
    """A file swapped for a link (or a FIFO) after the expansion checked it is refused where it is hashed."""
    klass, fifo = _build(tmp_path)
    assert file_sha256(klass / "honest.py") == hashlib.sha256(LECTURE.read_bytes()).hexdigest()
    with _bounded(30):
        for path in (klass / "sibling.py", klass / "absolute.py", fifo):
            with pytest.raises(OSError):
                file_sha256(path)
    (klass / "lena").mkdir()
    os.mkfifo(klass / "lena" / "solution.py")  # not a link, but no file either
    with _bounded(30), pytest.raises(ValueError, match=r"^`lena/solution.py` is not a regular file$"):
        resolve_submission_path(klass / "lena")
    assert _no_reader(fifo)


def test_pytest_impl_refuses_a_folder_with_a_link_out(tmp_path: Path) -> None:
    """``pytest --impl FOLDER``: a one-line usage error naming the link; ``--impl LINK.py`` is followed."""
    klass, _ = _build(tmp_path)
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "properties", "--co", "-q"]
    proc = subprocess.run(
        [*base, "--impl", str(klass / "carol")], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].endswith(f"--impl {klass / 'carol'}: {REFUSED['carol']}"), proc.stderr
    proc = subprocess.run(
        [*base, "--impl", str(klass / "sibling.py"), "--vicheck-isolation", "process"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


# --------------------------------------------------------------------------------------------- a class


@dataclass
class Graded:
    klass: Path
    out: Path
    fifo: Path
    rc: int
    stderr: str
    reports: dict[str, dict]

    def verdicts(self, name: str) -> dict[str, tuple[bool, str]]:
        """Each property's verdict and the first line of its message (the dev profile's examples are random:
        the counterexample below it may differ from run to run)."""
        return {p["name"]: (p["passed"], p["message"].split("\n")[0]) for p in self.reports[name]["properties"]}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    arena = tmp_path_factory.mktemp("symlinks")
    klass, fifo = _build(arena)
    rubric, out = arena / "rubric.toml", arena / "grades"
    rubric.write_text(RUBRIC)
    cmd = [sys.executable, "-m", "vicheck", "grade", str(klass), "--out", str(out), "--rubric", str(rubric)]
    cmd += ["--profile", "dev", "--self-check", "--isolation", "process", "--jobs", "2", "--quiet"]
    # a FIFO opened for reading would block the run: the timeout turns that into a failure, not a hang
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, cwd=arena)
    reports = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json") if not p.name.endswith(".gradescope.json")}
    return Graded(klass, out, fifo, proc.returncode, proc.stderr, reports)


def test_the_class_is_graded_and_nothing_behind_a_link_was_opened(graded: Graded) -> None:
    assert graded.rc == 0, graded.stderr
    assert set(graded.reports) == set(REFUSED) | set(GRADED)
    assert _no_reader(graded.fifo) and _no_reader(graded.klass.parent / "outside" / "folder" / "solution.py")


def test_refused_submissions_score_zero_with_the_link_named(graded: Graded) -> None:
    for name, problem in REFUSED.items():
        report = graded.reports[name]
        assert report["score"] == 0 and report["complete"] is True, name
        assert report["errors"] == [f"cannot grade this submission: {problem}"], name
        assert report["submission_sha256"] == "", name  # not hashed: nothing was read
        assert "outside" not in report["submission"], name  # the target's path is not shown
        for suffix in (".md", ".gradescope.json", ".junit.xml"):
            assert (graded.out / f"{name}{suffix}").is_file(), (name, suffix)
        assert problem in (graded.out / f"{name}.md").read_text()
        gradescope = json.loads((graded.out / f"{name}.gradescope.json").read_text())
        assert gradescope["score"] == 0 and problem in json.dumps(gradescope)


def test_links_inside_a_submission_are_graded_as_the_file_they_point_to(graded: Graded) -> None:
    honest = graded.reports["honest"]
    assert honest["properties"] and honest["errors"] == []
    assert any(passed for passed, _ in graded.verdicts("honest").values())
    for name in ("ines", "jack"):
        assert graded.verdicts(name) == graded.verdicts("honest"), name
        assert graded.reports[name]["score"] == honest["score"], name
        assert graded.reports[name]["submission_sha256"] == honest["submission_sha256"], name


def test_summary_and_class_page_list_the_refused(graded: Graded) -> None:
    rows = {r["submission"]: r for r in csv.DictReader((graded.out / "summary.csv").open())}
    assert set(rows) == set(REFUSED) | set(GRADED)
    for name in REFUSED:
        assert rows[name]["score"] == "0" and rows[name]["errors"] == "1", rows[name]
    page = (graded.out / "index.html").read_text()
    section = page[page.index('id="needs-look"') :]
    flagged = dict(re.findall(r'<tr data-student="([^"]+)" data-kinds="([^"]+)"', section))
    assert flagged == dict.fromkeys(REFUSED, "not gradable")
    summary = (graded.out / "summary.md").read_text()
    for problem in REFUSED.values():
        assert problem in summary, problem
