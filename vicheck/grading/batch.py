"""Grading a class: one submission's verdict (:func:`grade_one`), and the whole class scheduled over a pool of
runs (:func:`grade_class`).

For each submission the property suite runs as::

    python -m pytest -p vicheck.grading.run.plugin --pyargs properties -q -p no:cacheprovider -p no:randomly \\
        --impl SUB --grade-report OUT/<name>.json --junitxml OUT/<name>.junit.xml ...

(:func:`vicheck.grading.run.options.run_argv`) in a fresh empty working folder, with an empty ini file of the
grader's (so no ``pytest.ini`` or ``conftest.py`` of the working folder or of the submission's folder is
read), ``PYTHONHASHSEED=0``, a Hypothesis storage folder of the grader's and ``OMP_NUM_THREADS=1``
(:mod:`vicheck.grading.run.fresh`). Its output goes to ``OUT/<name>.log``. When two or more submissions are
to be graded, that pytest run is forked from a warm worker (:mod:`vicheck.grading.run.warm`) that imported
pytest, torch and the suite once and rehearsed the run on the reference, instead of a fresh ``python -m
pytest`` process: the same run, seconds cheaper, and the same report (``--no-warm`` starts a fresh process
each time; a worker that cannot start or dies is replaced by fresh processes, the submission it was grading
graded again). A run that passes the hard time limit is killed, with its process group, and its partial
report finalized: properties not reached become ``"not run"``. The student's other files (feedback,
Gradescope results, ...: the formats chosen) are then drawn from the final report.

A submission whose complete report is in OUT, graded from the same file bytes with the same rubric,
profile and visibility, is reused (its missing files written) unless ``force``.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import shlex
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from vicheck.grading.progress import Progress
from vicheck.grading.report.formats import ClassFormat, StudentContext, StudentFormat, student_formats
from vicheck.grading.report.outputs import STATE_DIR, resume_key, state_path, write_json_atomic
from vicheck.grading.report.records import GradeReport, iso_utc, now_utc, read_report
from vicheck.grading.report.render import student_paths, write_student_files
from vicheck.grading.rubric import Rubric
from vicheck.grading.run.fresh import (
    DEFAULT_PYTEST,
    Run,
    RunFolder,
    environment,
    kill_tree,
    launch,
    pytest_command,
    suite_folder,
    wait_or_kill,
)
from vicheck.grading.run.options import RunOptions, run_argv
from vicheck.grading.run.warm import ForkServer, ForkServerUnavailable
from vicheck.grading.submissions import Outcome, Submission, file_sha256
from vicheck.sandbox.resources import sweep_leftovers

__all__ = ["TIMEOUT_MARGIN_SECONDS", "WARM_FROM", "Settings", "finalize_partial", "grade_class", "grade_one"]

#: seconds added to the rubric's submission_seconds + load_seconds for the hard wall-clock limit
TIMEOUT_MARGIN_SECONDS = 60.0
#: a class this large is graded by forks of a warm worker (its start-up costs about one submission)
WARM_FROM = 2


@dataclass
class Settings:
    """What every submission of one ``vicheck grade`` run is graded with."""

    out: Path
    rubric: Rubric
    rubric_path: Path | None
    profile: str
    visibility: str
    force: bool
    time_limit: float
    isolation: str = "process"
    #: the resource-control level decided once for the run: cgroup2, cgroup1 or rlimits
    resources: str = "rlimits"
    #: the student files written (the required ones among them) and the class files
    student_formats: list[StudentFormat] = field(default_factory=list)
    class_formats: list[ClassFormat] = field(default_factory=list)
    #: the user's own path for a student format (``--gradescope-results``), one submission only
    overrides: dict[str, Path] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    #: the warm worker that forks each pytest run, or None: a fresh pytest process per submission
    warm: ForkServer | None = None
    #: the folder the warm worker's runs make their folders in (its zygote's ``/jobs``), or None
    jobs: Path | None = None

    def paths(self, name: str) -> dict[str, Path]:
        """Every file of student ``name``, for every registered format (the chosen ones are written, the others
        removed before a regrade, so that no stale file survives beside a new report)."""
        return student_paths(self.out, name, student_formats().values(), self.overrides)

    def key(self, sha: str) -> dict[str, str]:
        return resume_key(
            submission_sha256=sha,
            rubric_sha256=self.rubric.sha256,
            profile=self.profile,
            visibility=self.visibility,
            isolation=self.isolation,
            resources=self.resources,
        )


def finalize_partial(report: GradeReport, reason: str, note: str = "", *, kind: str = "time_limit") -> GradeReport:
    """Close a report whose run was stopped: pending properties become ``"not run"`` naming where it stopped.

    ``reason`` completes "not run: ..." (e.g. "the submission's time limit was reached"); ``note`` is
    added to the error recorded in ``report.errors``; ``kind`` is that error's kind and the properties' reason
    (``time_limit`` or ``grader_failure``).
    """
    if report.running:
        where = f"while {report.running} was running"
    elif all(p.status == "pending" for p in report.properties):
        where = "before the first property started (while loading the submission)"
    else:
        where = "between two properties"
    for p in report.properties:
        if p.status in ("pending", "running"):
            p.stop(kind, f"not run: {reason} {where}")
    report.add_error(kind, f"{reason}{note} {where}; the grading process was stopped")
    from vicheck.grading.report.diagnosis import diagnose

    report.diagnosis = diagnose(report.properties)  # of the properties that ran (no error carried forward)
    report.complete = True
    return report


def _finished_report(sub: Submission, sha: str, s: Settings) -> GradeReport | None:
    """The report from an earlier run that can be reused, or ``None``."""
    try:
        report = read_report(s.out / f"{sub.name}.json")
        key = json.loads(state_path(s.out, sub.name).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return None
    if not report.complete or (report.submission_sha256 and report.submission_sha256 != sha):
        return None
    return report if key == s.key(sha) else None


def _blank_report(sub: Submission, sha: str, s: Settings, kind: str, error: str) -> GradeReport:
    report = GradeReport(
        submission=str(sub.file or sub.path),
        profile=s.profile,
        rubric=s.rubric.describe(),
        complete=True,
        submission_sha256=sha,
        isolation=s.isolation,
        resources=s.resources,
    )
    report.add_error(kind, error)
    return report


def _finish(report: GradeReport, sub: Submission, sha: str, s: Settings, seconds: float, *, grade: bool) -> None:
    """Write the final report and, when it is a grade, the student's other files and the resume key."""
    report.submission_sha256 = report.submission_sha256 or sha
    report.graded_at = report.graded_at or iso_utc(now_utc())
    paths = s.paths(sub.name)
    report.write(paths["json"])
    if grade:  # a grader failure is no grade: no feedback nor Gradescope results (run_autograder says so)
        write_student_files(report, paths, s.student_formats, StudentContext(seconds))
        if sub.file is not None:
            write_json_atomic(state_path(s.out, sub.name), s.key(sha))


def _run_options(sub: Submission, s: Settings, folder: RunFolder) -> RunOptions:
    paths = s.paths(sub.name)
    run_files = tuple((f.run_option, paths[f.name]) for f in s.student_formats if f.run_option is not None)
    return RunOptions(
        impl=sub.path,
        report=paths["json"],
        profile=s.profile,
        visibility=s.visibility,
        isolation=s.isolation,
        resources=s.resources,
        rootdir=folder.work,
        ini=folder.ini,
        rubric=s.rubric_path,
        run_files=run_files,
        suite=suite_folder(),
    )


def grade_one(sub: Submission, s: Settings, running: dict[str, Run]) -> Outcome:
    """Grade one submission (or reuse its finished report)."""
    start = time.monotonic()
    paths = s.paths(sub.name)
    sha = ""
    if sub.file is not None:
        try:
            sha = file_sha256(sub.file)
        except OSError as exc:  # gone, or swapped for a link or a FIFO since it was checked
            sub = dataclasses.replace(sub, file=None, problem=f"`{sub.file.name}` could not be read ({exc.strerror})")
    if sub.file is None:
        blank = _blank_report(sub, "", s, "not_gradable", f"cannot grade this submission: {sub.problem}")
        _finish(blank, sub, "", s, 0.0, grade=True)
        return Outcome(sub.name, blank, "not gradable", 0.0, sub.problem)
    if not s.force:
        done = _finished_report(sub, sha, s)
        if done is not None:  # formats asked for since it was graded are drawn from it now
            write_student_files(done, paths, s.student_formats, StudentContext(), only_missing=True)
            return Outcome(sub.name, done, "skipped")
    for path in (*paths.values(), state_path(s.out, sub.name)):
        path.unlink(missing_ok=True)
    # a warm worker's runs lie in its jobs folder, where its zygote can fork their children
    folder = RunFolder.make(f"vicheck-grade-{sub.name}-", s.jobs)
    try:
        cmd = run_argv(_run_options(sub, s, folder), pytest_command())
        paths["log"].write_bytes(("$ " + shlex.join(cmd) + "\n").encode())
        run = launch(cmd, folder.work, environment(folder), paths["log"], s.warm)
        running[sub.name] = run
        try:
            rc, timed_out = wait_or_kill(run, start + s.time_limit, s.cancel)
        finally:
            running.pop(sub.name, None)
        if timed_out or rc not in (0, 1):  # a killed run could not remove its control groups: they go now
            sweep_leftovers(s.resources)
        if run.lost and not timed_out:  # the warm worker died under this run: grade it again, afresh
            return grade_one(sub, dataclasses.replace(s, warm=None, jobs=None), running)
        return _verdict(sub, sha, s, rc, timed_out, time.monotonic() - start)
    finally:
        shutil.rmtree(folder.root, ignore_errors=True)


def _verdict(sub: Submission, sha: str, s: Settings, rc: int, timed_out: bool, seconds: float) -> Outcome:
    """What a finished (or killed) run gave, from the report it left."""
    paths = s.paths(sub.name)
    report: GradeReport | None
    try:
        report = read_report(paths["json"])
    except (OSError, ValueError, TypeError):
        report = None
    if timed_out:
        reason = f"the submission's time limit ({s.time_limit:g} s) was reached"
        if report is None:
            report = _blank_report(sub, sha, s, "time_limit", f"{reason} before the property suite had started")
        else:
            report = finalize_partial(report, "the submission's time limit was reached", f" ({s.time_limit:g} s)")
        _finish(report, sub, sha, s, seconds, grade=True)
        return Outcome(sub.name, report, "time limit", seconds, f"stopped after {s.time_limit:g} s")
    why = ""
    if rc not in (0, 1):
        why = f"pytest exited with status {rc}" if rc >= 0 else f"pytest was killed by signal {-rc}"
    elif report is None:
        why = f"pytest exited with status {rc} but wrote no readable report"
    elif not report.complete:
        why = f"pytest exited with status {rc} but the report is incomplete"
    if why:
        detail = f"{why}; see {paths['log']}"
        if report is None:
            report = _blank_report(sub, sha, s, "grader_failure", f"the grader failed: {detail}")
        else:
            if not report.complete:
                report = finalize_partial(report, "the grader failed", kind="grader_failure")
            report.add_error("grader_failure", f"the grader failed: {detail}")
        report.complete = False
        _finish(report, sub, sha, s, seconds, grade=False)
        return Outcome(sub.name, report, "grader failed", seconds, detail)
    assert report is not None
    _finish(report, sub, sha, s, seconds, grade=True)
    return Outcome(sub.name, report, "graded", seconds)


# --------------------------------------------------------------------------------------------- the class


def grades_at_least(n: int, subs: list[Submission], s: Settings) -> bool:
    """Whether this run will grade ``n`` or more of ``subs`` (not reusing a finished report); stops counting
    at ``n``, so that a large resumed class is not read twice."""
    found = 0
    for sub in subs:
        if sub.file is None:
            continue
        try:
            reuse = not s.force and _finished_report(sub, file_sha256(sub.file), s) is not None
        except OSError:  # grade_one says why it cannot be read
            continue
        if not reuse:
            found += 1
            if found >= n:
                return True
    return False


def start_warm(s: Settings, folder: RunFolder, quiet: bool) -> ForkServer | None:
    """The warm worker, ready (imports done, the run rehearsed on the reference); ``None``, saying why, when
    it cannot start: then each submission gets a fresh process, as before."""
    rehearsal = Submission("rehearsal", folder.root / "rehearsal.py", folder.root / "rehearsal.py")
    cmd = run_argv(_run_options(rehearsal, dataclasses.replace(s, out=folder.root), folder), DEFAULT_PYTEST)
    log = s.out / STATE_DIR / "warm-worker.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log.open("wb") as err:
            server = ForkServer(DEFAULT_PYTEST[0], environment(folder), folder.work, err)
        jobs = None
        if s.isolation == "namespaces":  # a zygote forks the jailed children
            jobs = folder.jobs
            jobs.mkdir(mode=0o700, exist_ok=True)
        seconds = server.warm(cmd[len(DEFAULT_PYTEST) :], jobs=jobs)
    except (ForkServerUnavailable, OSError) as exc:
        if not quiet:
            print(f"vicheck grade: no warm worker ({exc}); a fresh process per submission", file=sys.stderr)
        return None
    s.jobs = jobs
    if not quiet:
        zygote = f"; zygote {server.zygote}" if server.zygote else ""
        print(f"vicheck grade: warm worker ready in {seconds:.1f} s (pid {server.pid}){zygote}", file=sys.stderr)
    return server


def grade_class(subs: list[Submission], s: Settings, jobs: int, *, quiet: bool, warm: bool) -> list[Outcome]:
    """Grade ``subs``, ``jobs`` at a time (forked from a warm worker when ``warm`` and worth it); one outcome per
    submission, in order. A submission the grader itself fails on gets a report saying so; the others go on."""
    folder: RunFolder | None = None
    if warm and pytest_command() == DEFAULT_PYTEST and grades_at_least(WARM_FROM, subs, s):
        folder = RunFolder.make("vicheck-warm-")
        s.warm = start_warm(s, folder, quiet)
    try:
        return _grade_all(subs, s, jobs, quiet)
    finally:
        if s.warm is not None:
            s.warm.close()
        if folder is not None:
            shutil.rmtree(folder.root, ignore_errors=True)


def _grader_failed(sub: Submission, s: Settings, exc: Exception) -> Outcome:
    """The outcome of a submission the grader itself failed on: a report that says so, written if it can be."""
    detail = f"{type(exc).__name__}: {exc}"
    report = GradeReport(submission=str(sub.path), profile=s.profile, rubric=s.rubric.describe())
    report.add_error("grader_failure", f"the grader failed: {detail}")
    try:
        report.graded_at = iso_utc(now_utc())
        report.write(s.paths(sub.name)["json"])
    except OSError:
        pass  # the outcome still says it, in the table and the exit message
    return Outcome(sub.name, report, "grader failed", 0.0, detail)


def _grade_all(subs: list[Submission], s: Settings, jobs: int, quiet: bool) -> list[Outcome]:
    progress = Progress(len(subs), sys.stderr, quiet)
    running: dict[str, Run] = {}
    results: dict[str, Outcome] = {}
    pool = cf.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="vicheck-grade")
    futures = {pool.submit(grade_one, sub, s, running): sub for sub in subs}
    pending = set(futures)
    try:
        while pending:
            done, pending = cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                sub = futures[fut]
                try:
                    outcome = fut.result()
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # the grader's own failure for this submission: say so, go on
                    outcome = _grader_failed(sub, s, exc)
                results[sub.name] = outcome
                progress.finished(outcome)
            progress.tick(sorted(running))
    except KeyboardInterrupt:
        s.cancel.set()
        for fut in pending:
            fut.cancel()
        for run in list(running.values()):
            kill_tree(run)
        pool.shutdown(wait=True, cancel_futures=True)
        progress.close()
        raise
    pool.shutdown(wait=True)
    progress.close()
    return [results[sub.name] for sub in subs]


def print_table(outcomes: list[Outcome], out: TextIO) -> None:
    """The class's scores as a plain table (one row per submission, in order)."""
    rows = [("submission", "score", "max", "%", "failed", "state")]
    for o in outcomes:
        r = o.report
        pct = f"{100 * r.score / r.max_score:.1f}" if r.max_score else "-"
        failed = sum(not p.passed for p in r.properties)
        rows.append((o.name, f"{r.score:g}", f"{r.max_score:g}", pct, str(failed), o.state))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (c.ljust(w) if i in (0, 5) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        out.write("  ".join(cells) + "\n")
