"""``vicheck grade``: grade one or many submissions, each in its own pytest process, in parallel.

For each submission the property suite runs as::

    python -m pytest -p properties.plugin --pyargs properties -q -p no:cacheprovider -p no:randomly \\
        --impl SUB --grade-report OUT/<name>.json --junitxml OUT/<name>.junit.xml \\
        --vicheck-gradescope OUT/<name>.gradescope.json --vicheck-feedback OUT/<name>.md ...

in a fresh empty working folder, with an empty ini file of the grader's (so no ``pytest.ini`` or
``conftest.py`` of the working folder or of the submission's folder is read), ``PYTHONHASHSEED=0``, a
Hypothesis storage folder of the grader's and ``OMP_NUM_THREADS=1``. Its output goes to
``OUT/<name>.log``. When two or more submissions are to be graded, that pytest run is forked from a warm
worker (:mod:`vicheck.grading.warm`) that imported pytest, torch and the suite once and rehearsed the run on
the reference, instead of a fresh ``python -m pytest`` process: the same run, seconds cheaper, and the same
report (``--no-warm`` starts a fresh process each time; a worker that cannot start or dies is replaced by
fresh processes, the submission it was grading graded again). A run that passes the hard time limit is
killed, with its process group, and its partial report finalized: properties not reached become
``"not run"``.

A submission whose complete report is in OUT, graded from the same file bytes with the same rubric,
profile and visibility, is skipped unless ``--force``. The exit status is 0 when the grader worked (even
if every student failed), 1 when it failed for some submission (pytest usage or internal error, no
report), 2 for a usage error.

Tests substitute the pytest process: :func:`pytest_command` gives the command prefix, and the
environment variable ``VICHECK_GRADE_RUNNER`` (a shell-quoted command) overrides it.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import dataclasses
import errno
import hashlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import TextIO

from vicheck.grading.records import GradeReport, write_json_atomic
from vicheck.grading.reports import write_feedback, write_gradescope, write_junit, write_summary_csv
from vicheck.grading.rubric import PROFILES, Rubric, load_rubric
from vicheck.grading.warm import ForkServer, ForkServerUnavailable, WarmRun
from vicheck.sandbox.jail import IsolationUnavailable, choose_level, probe
from vicheck.sandbox.limits import RESOURCE_LEVELS, WALL_BACKSTOP
from vicheck.sandbox.loading import check_links, link_problem, resolve_submission_path
from vicheck.sandbox.resources import ResourcesUnavailable, choose_resources, probe_resources, sweep_leftovers

__all__ = [
    "TIMEOUT_MARGIN_SECONDS",
    "Outcome",
    "Submission",
    "add_arguments",
    "expand_submissions",
    "finalize_partial",
    "pytest_command",
    "run",
    "single_submission",
]

#: seconds added to the rubric's submission_seconds + load_seconds for the hard wall-clock limit
TIMEOUT_MARGIN_SECONDS = 60.0
SUBMISSION_SUFFIXES = (".py", ".ipynb")
STATE_DIR = ".vicheck"

EXIT_OK, EXIT_GRADER_FAILED, EXIT_USAGE = 0, 1, 2

_INI = """\
[pytest]
# Written by `vicheck grade`: an empty configuration, so that no pytest.ini, pyproject.toml or
# conftest.py of the working folder or of the submission's folder is read.
markers =
    correctness: the property checks a value the lecture asks for (counts for the grade)
    robustness: the property checks behaviour at extreme or invalid inputs
    slow: a test that takes more than a few seconds
"""


_DEFAULT_PYTEST = [sys.executable, "-m", "pytest"]
#: a class this large is graded by forks of a warm worker (its start-up costs about one submission)
WARM_FROM = 2


def pytest_command() -> list[str]:
    """The command that starts pytest (tests replace it, or set ``VICHECK_GRADE_RUNNER``)."""
    override = os.environ.get("VICHECK_GRADE_RUNNER", "").strip()
    if override:
        return shlex.split(override)
    return list(_DEFAULT_PYTEST)


@dataclass(frozen=True)
class Submission:
    """One student's submission: ``path`` goes to ``--impl``; ``problem`` says why it cannot be graded."""

    name: str
    path: Path
    file: Path | None
    problem: str = ""


@dataclass
class Outcome:
    """What grading one submission gave: ``state`` is graded, skipped, time limit, not gradable or grader failed."""

    name: str
    report: GradeReport
    state: str
    seconds: float = 0.0
    detail: str = ""

    @property
    def grader_failed(self) -> bool:
        return self.state == "grader failed"


@dataclass
class _Settings:
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
    gradescope_results: Path | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    #: the warm worker that forks each pytest run, or None: a fresh pytest process per submission
    warm: ForkServer | None = None
    #: the folder the warm worker's runs make their folders in (its zygote's ``/jobs``), or None
    jobs: Path | None = None


# --------------------------------------------------------------------------------------------- expansion


def _visible_entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith((".", "__")))


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "submission"
    return cleaned


def expand_submissions(paths: list[Path], *, exclude: Path | None = None) -> tuple[list[Submission], list[str]]:
    """Submissions named by ``paths`` (files, one-submission folders, folders of submissions), unique names;
    and notes about entries passed over. ``ValueError`` for a path that names nothing gradable.

    Symbolic links: a path named here is followed (the instructor chose it). What a folder holds is not
    trusted: an entry of a folder of submissions that is itself a link (``alice.py -> ../bob/solution.py``,
    ``alice -> /elsewhere``, dangling or not) points outside the one submission it stands for, and a
    submission folder holding a link anywhere that resolves outside it is refused
    (:func:`~vicheck.sandbox.loading.check_links`): such a submission is listed with ``file`` ``None`` and a
    ``problem`` naming the link relative to the folder named here (``alice/solution.py``), so it is reported,
    not graded, and nothing behind the link is opened (not even to hash it). A link that stays inside its
    submission folder is followed."""
    found: list[tuple[str, Path, Path | None, str]] = []
    notes: list[str] = []
    excluded = exclude.resolve() if exclude is not None else None
    for path in paths:
        if not path.exists():
            raise ValueError(f"{path}: no such file or folder")
        if path.is_file():
            if path.suffix not in SUBMISSION_SUFFIXES:
                raise ValueError(f"{path}: a submission is a .py file, a .ipynb notebook, or a folder holding one")
            found.append((path.stem, path, path, ""))
            continue
        entries = [e for e in _visible_entries(path) if excluded is None or e.resolve() != excluded]
        subdirs = [e for e in entries if e.is_dir()]
        # a link named as a submission counts as one whatever it points to (a FIFO, nothing): it is refused
        files = [e for e in entries if (e.is_file() or e.is_symlink()) and e.suffix in SUBMISSION_SUFFIXES]
        if not subdirs and len(files) == 1:  # one submission in its folder
            try:
                check_links(path)
                if files[0].is_symlink() and not files[0].exists():
                    shown = f"{Path(os.path.abspath(path)).name}/{files[0].name}"
                    raise ValueError(f"`{shown}` is a symbolic link to a file that does not exist")
            except ValueError as exc:
                found.append((files[0].stem, path, None, str(exc)))
            else:
                found.append((files[0].stem, path, files[0], ""))
            continue
        if not subdirs and not files:
            raise ValueError(f"{path}: holds no .py or .ipynb file and no sub-folder: nothing to grade")
        for e in entries:
            if e.is_symlink() and (e in subdirs or e in files):
                found.append((e.name if e in subdirs else e.stem, e, None, link_problem(e.name, os.path.realpath(e))))
            elif e.is_dir():
                try:
                    found.append((e.name, e, resolve_submission_path(e), ""))
                except ValueError as exc:
                    found.append((e.name, e, None, str(exc)))
            elif e in files:
                found.append((e.stem, e, e, ""))
            else:
                notes.append(f"skipped {e} (not a .py/.ipynb file or a folder)")
    subs: list[Submission] = []
    used: set[str] = set()
    for raw, p, file, problem in found:
        base = _safe_name(raw)
        name, k = base, 2
        while name.lower() in used or name == "summary":
            name, k = f"{base}-{k}", k + 1
        used.add(name.lower())
        # a refused link is shown as itself: its target's path is none of the report's business
        where = Path(os.path.abspath(p)) if file is None and p.is_symlink() else p.resolve()
        subs.append(Submission(name, where, file.resolve() if file else None, problem))
    return subs, notes


def single_submission(path: Path) -> Submission:
    """``path`` as one submission (a file, or a folder that should hold one): what Gradescope uploads.
    A folder holding none or several, or a symbolic link out of it, is a submission that cannot be graded,
    saying why (see :func:`expand_submissions` for links)."""
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    try:
        file = resolve_submission_path(path)
    except ValueError as exc:
        if path.is_file():
            raise
        return Submission(_safe_name(path.name), path.resolve(), None, str(exc))
    return Submission(_safe_name(file.stem), path.resolve(), file.resolve())


# --------------------------------------------------------------------------------------------- one run


def _sha256(path: Path) -> str:
    """The file's sha256. ``path`` (a resolved submission file) is opened without following a symbolic link
    and without blocking (a FIFO): ``OSError`` for anything but a regular file, so that a file swapped for a
    link after :func:`expand_submissions` checked it is not read through the link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        if not S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        h = hashlib.sha256()
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _outputs(out: Path, name: str) -> dict[str, Path]:
    return {
        "json": out / f"{name}.json",
        "junit": out / f"{name}.junit.xml",
        "gradescope": out / f"{name}.gradescope.json",
        "feedback": out / f"{name}.md",
        "log": out / f"{name}.log",
        "state": out / STATE_DIR / f"{name}.json",
    }


def _resume_key(sub: Submission, sha: str, s: _Settings) -> dict[str, str]:
    from vicheck import __version__

    return {
        "submission_sha256": sha,
        "rubric_sha256": s.rubric.sha256,
        "profile": s.profile,
        "visibility": s.visibility,
        "vicheck": __version__,
        "isolation": s.isolation,
        "resources": s.resources,
    }


def _load_report(path: Path) -> GradeReport | None:
    try:
        return GradeReport.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _finished_report(sub: Submission, sha: str, s: _Settings) -> GradeReport | None:
    """The report from an earlier run that can be reused, or ``None``."""
    files = _outputs(s.out, sub.name)
    report = _load_report(files["json"])
    if report is None or not report.complete:
        return None
    if report.submission_sha256 and report.submission_sha256 != sha:
        return None
    try:
        key = json.loads(files["state"].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if key == _resume_key(sub, sha, s) else None


def finalize_partial(report: GradeReport, reason: str, note: str = "") -> GradeReport:
    """Close a report whose run was stopped: pending properties become ``"not run"`` naming where it stopped.

    ``reason`` completes "not run: ..." (e.g. "the submission's time limit was reached"); ``note`` is
    added to the error recorded in ``report.errors``.
    """
    if report.running:
        where = f"while {report.running} was running"
    elif all(p.status == "pending" for p in report.properties):
        where = "before the first property started (while loading the submission)"
    else:
        where = "between two properties"
    for p in report.properties:
        if p.status in ("pending", "running"):
            p.status, p.passed = "not run", False
            p.message = f"not run: {reason} {where}"
    report.errors.append(f"{reason}{note} {where}; the grading process was stopped")
    report.complete = True
    return report


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            ppid = int(text[text.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class _Fresh:
    """A pytest run in a fresh process (the same face as :class:`~vicheck.grading.warm.WarmRun`)."""

    lost = False

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.pid = proc.pid

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


_Run = _Fresh | WarmRun


def _kill_tree(run: _Run) -> None:
    """Kill the run's process group (it leads its own session) and every process it started (even in
    another group)."""
    below = _descendants(run.pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(run.pid, signal.SIGKILL)
    for pid in below:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    run.wait(timeout=30)


def _properties_dir() -> Path | None:
    try:
        spec = importlib.util.find_spec("properties")
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.origin is not None and spec.origin not in ("namespace", "built-in"):
        return Path(spec.origin).parent
    locations = list(spec.submodule_search_locations or [])
    return Path(locations[0]) if locations else None


def _command(sub: Submission, s: _Settings, files: dict[str, Path], ini: Path, cwd: Path) -> list[str]:
    cmd = [*pytest_command(), "-p", "properties.plugin", "--pyargs", "properties", "-q"]
    cmd += ["-p", "no:cacheprovider", "-p", "no:randomly", "--rootdir", str(cwd), "-c", str(ini)]
    props = _properties_dir()
    if props is not None:
        cmd += ["--confcutdir", str(props)]
    gradescope = s.gradescope_results or files["gradescope"]
    cmd += ["--impl", str(sub.path), "--grade-report", str(files["json"]), "--junitxml", str(files["junit"])]
    cmd += ["--vicheck-gradescope", str(gradescope), "--vicheck-feedback", str(files["feedback"])]
    if s.rubric_path is not None:
        cmd += ["--vicheck-rubric", str(s.rubric_path)]
    cmd += ["--vicheck-profile", s.profile, "--vicheck-visibility", s.visibility]
    # the level decided once for the whole run: every student is graded under the same one, or none is
    cmd += ["--vicheck-isolation", s.isolation, "--vicheck-resources", s.resources]
    return cmd


@dataclass(frozen=True)
class _RunFolder:
    """A pytest run's own folder: its working folder, Hypothesis storage, temporary files and ini file.
    Removing it removes everything the run left, even when the run was killed before it could clean up
    (its submission's scratch folder among them: the run's TMPDIR points inside)."""

    root: Path

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def hypothesis(self) -> Path:
        return self.root / "hypothesis"

    @property
    def temp(self) -> Path:
        return self.root / "tmp"

    @property
    def ini(self) -> Path:
        return self.root / "pytest.ini"

    @property
    def jobs(self) -> Path:
        """Where the warm worker's runs make their folders: its zygote sees it as ``/jobs``."""
        return self.root / "jobs"

    @classmethod
    def make(cls, prefix: str, parent: Path | None = None) -> _RunFolder:
        folder = cls(Path(tempfile.mkdtemp(prefix=prefix, dir=parent)))
        for path in (folder.work, folder.hypothesis, folder.temp):
            path.mkdir()
        # other uids may pass through (never list) to a scratch folder of theirs below: the uid level
        for path in (folder.root, folder.temp):
            path.chmod(0o711)
        folder.ini.write_text(_INI, encoding="utf-8")
        return folder


def _environment(folder: _RunFolder) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    env.update(
        PYTHONHASHSEED="0",
        HYPOTHESIS_STORAGE_DIRECTORY=str(folder.hypothesis),
        TMPDIR=str(folder.temp),
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def _write_companions(report: GradeReport, files: dict[str, Path], s: _Settings, seconds: float) -> None:
    """Write the Gradescope, feedback and JUnit files the run did not write (or that the grader overrode)."""
    gradescope = s.gradescope_results or files["gradescope"]
    write_gradescope(report, gradescope, execution_time=seconds)
    write_feedback(report, files["feedback"])
    if not files["junit"].exists():
        write_junit(report, files["junit"], execution_time=seconds)


def _blank_report(sub: Submission, sha: str, s: _Settings, error: str) -> GradeReport:
    return GradeReport(
        submission=str(sub.file or sub.path),
        errors=[error],
        profile=s.profile,
        rubric=s.rubric.describe(),
        complete=True,
        submission_sha256=sha,
        isolation=s.isolation,
        resources=s.resources,
    )


def _launch(cmd: list[str], cwd: Path, env: dict[str, str], log_path: Path, s: _Settings) -> _Run:
    """Start the pytest run ``cmd``: forked from the warm worker when there is one, else a fresh process.
    The log already holds the command line."""
    if s.warm is not None:  # only there when pytest_command() is the default one
        try:
            return s.warm.start(cmd[len(_DEFAULT_PYTEST) :], cwd, env, log_path)
        except ForkServerUnavailable:
            pass  # on to a fresh process: slower, never wrong
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return _Fresh(proc)


def grade_one(sub: Submission, s: _Settings, running: dict[str, _Run]) -> Outcome:
    """Grade one submission (or reuse its finished report)."""
    start = time.monotonic()
    files = _outputs(s.out, sub.name)
    sha = ""
    if sub.file is not None:
        try:
            sha = _sha256(sub.file)
        except OSError as exc:  # gone, or swapped for a link or a FIFO since it was checked
            sub = dataclasses.replace(sub, file=None, problem=f"`{sub.file.name}` could not be read ({exc.strerror})")
    if sub.file is None:
        blank = _blank_report(sub, "", s, f"cannot grade this submission: {sub.problem}")
        blank.write(files["json"])
        _write_companions(blank, files, s, 0.0)
        return Outcome(sub.name, blank, "not gradable", 0.0, sub.problem)
    if not s.force:
        done = _finished_report(sub, sha, s)
        if done is not None:
            return Outcome(sub.name, done, "skipped")
    for key in ("json", "junit", "gradescope", "feedback", "log", "state"):
        files[key].unlink(missing_ok=True)
    if s.gradescope_results is not None:
        s.gradescope_results.unlink(missing_ok=True)
    # a warm worker's runs lie in its jobs folder, where its zygote can fork their children
    folder = _RunFolder.make(f"vicheck-grade-{sub.name}-", s.jobs)
    try:
        cmd = _command(sub, s, files, folder.ini, folder.work)
        timed_out = False
        files["log"].write_bytes(("$ " + shlex.join(cmd) + "\n").encode())
        proc = _launch(cmd, folder.work, _environment(folder), files["log"], s)

        running[sub.name] = proc
        try:
            deadline = start + s.time_limit
            while True:
                status = proc.wait(timeout=max(0.0, min(0.2, deadline - time.monotonic())))
                if status is not None:
                    rc = status
                    break
                if s.cancel.is_set():
                    _kill_tree(proc)
                    raise KeyboardInterrupt from None
                if time.monotonic() >= deadline:
                    timed_out = True
                    _kill_tree(proc)
                    rc = -9
                    break
        finally:
            running.pop(sub.name, None)
        if timed_out or rc not in (0, 1):  # a killed run could not remove its control groups: they go now
            sweep_leftovers(s.resources)
        if proc.lost and not timed_out:  # the warm worker died under this run: grade it again, afresh
            return grade_one(sub, _without_warm(s), running)
        seconds = time.monotonic() - start
        report: GradeReport | None = _load_report(files["json"])
        if timed_out:
            reason = f"the submission's time limit ({s.time_limit:g} s) was reached"
            if report is None:
                report = _blank_report(sub, sha, s, f"{reason} before the property suite had started")
            else:
                report = finalize_partial(report, "the submission's time limit was reached", f" ({s.time_limit:g} s)")
            report.submission_sha256 = report.submission_sha256 or sha
            report.write(files["json"])
            _write_companions(report, files, s, seconds)
            _write_state(sub, sha, s, files)
            return Outcome(sub.name, report, "time limit", seconds, f"stopped after {s.time_limit:g} s")
        why = ""
        if rc not in (0, 1):
            why = f"pytest exited with status {rc}" if rc >= 0 else f"pytest was killed by signal {-rc}"
        elif report is None:
            why = f"pytest exited with status {rc} but wrote no readable report"
        elif not report.complete:
            why = f"pytest exited with status {rc} but the report is incomplete"
        if why:
            detail = f"{why}; see {files['log']}"
            if report is None:
                report = _blank_report(sub, sha, s, f"the grader failed: {detail}")
                report.complete = False
            else:
                if not report.complete:
                    report = finalize_partial(report, "the grader failed")
                report.errors.append(f"the grader failed: {detail}")
                report.complete = False
            report.write(files["json"])
            # no Gradescope results or feedback: a grader failure is not a grade (run_autograder says so)
            (s.gradescope_results or files["gradescope"]).unlink(missing_ok=True)
            files["feedback"].unlink(missing_ok=True)
            return Outcome(sub.name, report, "grader failed", seconds, detail)
        assert report is not None
        if not report.submission_sha256:
            report.submission_sha256 = sha
            report.write(files["json"])
        gradescope = s.gradescope_results or files["gradescope"]
        if not gradescope.exists():
            write_gradescope(report, gradescope, execution_time=seconds)
        if not files["feedback"].exists():
            write_feedback(report, files["feedback"])
        if not files["junit"].exists():
            write_junit(report, files["junit"], execution_time=seconds)
        _write_state(sub, sha, s, files)
        return Outcome(sub.name, report, "graded", seconds)
    finally:
        shutil.rmtree(folder.root, ignore_errors=True)


def _without_warm(s: _Settings) -> _Settings:
    return dataclasses.replace(s, warm=None, jobs=None)


def _write_state(sub: Submission, sha: str, s: _Settings, files: dict[str, Path]) -> None:
    write_json_atomic(files["state"], _resume_key(sub, sha, s))


# --------------------------------------------------------------------------------------------- progress


class _Progress:
    """A one-line progress bar on a terminal; a plain line per finished submission otherwise."""

    def __init__(self, total: int, stream: TextIO, quiet: bool) -> None:
        self.total, self.stream, self.quiet = total, stream, quiet
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.done = 0
        self.start = time.monotonic()
        self.width = 0

    def _elapsed(self) -> str:
        s = int(time.monotonic() - self.start)
        return f"{s // 60}:{s % 60:02d}"

    def tick(self, running: list[str]) -> None:
        if self.quiet or not self.tty:
            return
        filled = int(20 * self.done / self.total) if self.total else 20
        now = ", ".join(running[:3]) + (f" +{len(running) - 3}" if len(running) > 3 else "")
        line = f"[{'#' * filled}{'-' * (20 - filled)}] {self.done}/{self.total} {self._elapsed()}  {now}"
        cols = shutil.get_terminal_size((100, 20)).columns - 1
        line = line[:cols]
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = len(line)

    def finished(self, o: Outcome) -> None:
        self.done += 1
        if self.quiet:
            return
        r = o.report
        text = f"[{self.done}/{self.total}] {o.name}: {r.score:g}/{r.max_score:g} ({o.state}"
        text += f", {o.seconds:.1f} s)" if o.state != "skipped" else ")"
        if o.detail:
            text += f" - {o.detail}"
        if self.tty:
            self.stream.write("\r" + " " * self.width + "\r" + text + "\n")
            self.width = 0
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and not self.quiet and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


def _print_table(outcomes: list[Outcome], out: TextIO) -> None:
    rows = [("submission", "score", "max", "%", "failed", "state")]
    for o in outcomes:
        r = o.report
        pct = f"{100 * r.score / r.max_score:.1f}" if r.max_score else "-"
        failed = sum(not p.passed for p in r.properties)
        rows.append((o.name, f"{r.score:g}", f"{r.max_score:g}", pct, str(failed), o.state))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write(
            "  ".join(
                c.ljust(w) if i in (0, 5) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        out.write("\n")


# --------------------------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="a submission (.py, .ipynb, folder holding one) or a folder of submissions",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for the reports")
    parser.add_argument("--rubric", type=Path, metavar="R", help="TOML rubric (default: built-in defaults)")
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="submissions graded at once (default: number of cores)",
    )
    parser.add_argument("--force", action="store_true", help="regrade submissions that have a finished report")
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="run only visible properties (what students may run before the deadline)",
    )
    parser.add_argument("--profile", choices=PROFILES, help="Hypothesis profile (default: the rubric's)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress and no table")
    parser.add_argument(
        "--time-limit",
        type=float,
        metavar="S",
        help="hard wall-clock limit per submission in seconds (default: rubric submission_seconds + load_seconds, "
        "times 2 under a cgroup level, whose time limits count CPU time, + 60)",
    )
    parser.add_argument(
        "--isolation",
        choices=["auto", "namespaces", "uid", "process"],
        default="auto",
        help="how each submission's code is isolated: auto (the strongest level available here), namespaces "
        "(a bubblewrap jail), uid (a uid of its own; needs root) or process; a level that cannot be had, or "
        "one weaker than the rubric's [limits] isolation, stops before anyone is graded",
    )
    parser.add_argument(
        "--resources",
        choices=["auto", *RESOURCE_LEVELS],
        default="auto",
        help="how each submission's memory, processes and CPU share are bounded as a whole: auto (the strongest "
        "level available here), cgroup2 or cgroup1 (a control group per submission; root, or a delegated "
        "cgroup2 subtree) or rlimits (each process's own limits); a level that cannot be had, or one weaker "
        "than the rubric's [limits] resources, stops before anyone is graded",
    )
    parser.add_argument(
        "--no-warm",
        action="store_true",
        help="start a fresh pytest process for each submission instead of forking a warm worker that has "
        "imported the suite once (slower; the reports are the same)",
    )
    parser.add_argument(
        "--gradescope-results",
        type=Path,
        metavar="PATH",
        help="write the Gradescope results here instead of DIR/<name>.gradescope.json (one submission only)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        rubric = load_rubric(args.rubric)
    except ValueError as exc:
        print(f"vicheck grade: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.time_limit is not None and not args.time_limit > 0:
        print("vicheck grade: --time-limit must be a positive number of seconds", file=sys.stderr)
        return EXIT_USAGE
    if args.jobs < 1:
        print("vicheck grade: --jobs must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out).resolve()
    if args.gradescope_results is not None and len(args.paths) != 1:
        print(
            f"vicheck grade: --gradescope-results needs exactly one submission, got {len(args.paths)}", file=sys.stderr
        )
        return EXIT_USAGE
    notes: list[str] = []
    try:
        if args.gradescope_results is not None:
            subs = [single_submission(Path(args.paths[0]))]
        else:
            subs, notes = expand_submissions(list(args.paths), exclude=out)
    except (ValueError, OSError) as exc:
        print(f"vicheck grade: {exc}", file=sys.stderr)
        return EXIT_USAGE
    limits = rubric.limits
    try:
        level = choose_level(args.isolation, limits.isolation)
        resources = choose_resources(args.resources, limits.resources)
    except (IsolationUnavailable, ResourcesUnavailable) as exc:
        print(f"vicheck grade: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # the hard wall-clock limit of a pytest run: on a CPU clock (a cgroup level) a submission's own limits may
    # take up to WALL_BACKSTOP x as long in wall-clock time
    stretch = WALL_BACKSTOP if resources != "rlimits" else 1.0
    time_limit = args.time_limit or (limits.submission_seconds + limits.load_seconds) * stretch + TIMEOUT_MARGIN_SECONDS
    settings = _Settings(
        out=out,
        rubric=rubric,
        rubric_path=Path(args.rubric).resolve() if args.rubric else None,
        profile=args.profile or rubric.profile,
        visibility="visible" if args.self_check else "all",
        force=args.force,
        time_limit=float(time_limit),
        isolation=level,
        resources=resources,
        gradescope_results=Path(args.gradescope_results).resolve() if args.gradescope_results else None,
    )
    out.mkdir(parents=True, exist_ok=True)
    jobs = min(args.jobs, max(1, len(subs)))
    if not args.quiet:
        count = f"{len(subs)} submission{'s' if len(subs) != 1 else ''}"
        print(
            f"vicheck grade: {count}, isolation {level} ({probe(level)[1]}), resources {resources} "
            f"({probe_resources(resources)[1]}), profile {settings.profile}, {jobs} at a time",
            file=sys.stderr,
        )
        for note in notes:
            print(f"vicheck grade: {note}", file=sys.stderr)
    warm_dir: _RunFolder | None = None
    if not args.no_warm and pytest_command() == _DEFAULT_PYTEST and _grades_at_least(WARM_FROM, subs, settings):
        warm_dir = _RunFolder.make("vicheck-warm-")
        settings.warm = _start_warm(settings, warm_dir, args.quiet)
    try:
        outcomes = _grade_all(subs, settings, jobs, args.quiet)
    finally:
        if settings.warm is not None:
            settings.warm.close()
        if warm_dir is not None:
            shutil.rmtree(warm_dir.root, ignore_errors=True)
    write_summary_csv({o.name: o.report for o in outcomes}, out / "summary.csv")
    page: Path | None = None
    try:  # the class page is a view of the reports: its failure never fails grading
        from vicheck.grading.class_report import write_class_report

        page, _ = write_class_report(out)
    except Exception as exc:
        print(f"vicheck grade: could not write index.html: {exc}", file=sys.stderr)
    failed = [o for o in outcomes if o.grader_failed]
    if not args.quiet:
        _print_table(outcomes, sys.stdout)
        print(f"reports in {out}; summary in {out / 'summary.csv'}" + (f"; class page in {page}" if page else ""))
    for o in failed:
        print(f"vicheck grade: grader failed for {o.name}: {o.detail}", file=sys.stderr)
    return EXIT_GRADER_FAILED if failed else EXIT_OK


def _grades_at_least(n: int, subs: list[Submission], s: _Settings) -> bool:
    """Whether this run will grade ``n`` or more of ``subs`` (not reusing a finished report); stops counting
    at ``n``, so that a large resumed class is not read twice."""
    found = 0
    for sub in subs:
        if sub.file is None:
            continue
        try:
            reuse = not s.force and _finished_report(sub, _sha256(sub.file), s) is not None
        except OSError:  # grade_one says why it cannot be read
            continue
        if not reuse:
            found += 1
            if found >= n:
                return True
    return False


def _start_warm(s: _Settings, folder: _RunFolder, quiet: bool) -> ForkServer | None:
    """The warm worker, ready (imports done, the run rehearsed on the reference); ``None``, saying why, when
    it cannot start: then each submission gets a fresh process, as before."""
    rehearsal = Submission("rehearsal", folder.root / "rehearsal.py", folder.root / "rehearsal.py")
    cmd = _command(rehearsal, s, _outputs(folder.root, "rehearsal"), folder.ini, folder.work)
    log = s.out / STATE_DIR / "warm-worker.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log.open("wb") as err:
            server = ForkServer(_DEFAULT_PYTEST[0], _environment(folder), folder.work, err)
        jobs = None
        if s.isolation == "namespaces":  # a zygote forks the jailed children
            jobs = folder.jobs
            jobs.mkdir(mode=0o700, exist_ok=True)
        seconds = server.warm(cmd[len(_DEFAULT_PYTEST) :], jobs=jobs)
    except (ForkServerUnavailable, OSError) as exc:
        if not quiet:
            print(f"vicheck grade: no warm worker ({exc}); a fresh process per submission", file=sys.stderr)
        return None
    s.jobs = jobs
    if not quiet:
        zygote = f"; zygote {server.zygote}" if server.zygote else ""
        print(f"vicheck grade: warm worker ready in {seconds:.1f} s (pid {server.pid}){zygote}", file=sys.stderr)
    return server


def _grade_all(subs: list[Submission], s: _Settings, jobs: int, quiet: bool) -> list[Outcome]:
    progress = _Progress(len(subs), sys.stderr, quiet)
    running: dict[str, _Run] = {}
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
                    detail = f"{type(exc).__name__}: {exc}"
                    report = GradeReport(submission=str(sub.path), errors=[f"the grader failed: {detail}"])
                    outcome = Outcome(sub.name, report, "grader failed", 0.0, detail)
                results[sub.name] = outcome
                progress.finished(outcome)
            progress.tick(sorted(running))
    except KeyboardInterrupt:
        s.cancel.set()
        for fut in pending:
            fut.cancel()
        for proc in list(running.values()):
            _kill_tree(proc)
        pool.shutdown(wait=True, cancel_futures=True)
        progress.close()
        raise
    pool.shutdown(wait=True)
    progress.close()
    return [results[sub.name] for sub in subs]
