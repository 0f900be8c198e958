"""A warm runner kept between checks in one process (a student's kernel): the first :func:`vicheck.check`
starts it, the next ones fork their runs from it.

A check from a cold process pays for starting pytest and importing torch, scipy, Hypothesis and the property
suite (with pytest's assertion rewriting) before the first property runs: most of its seconds, the same for
every call. A :class:`WarmSession` pays them once: it starts grading's fork server
(:class:`~vicheck.grading.run.warm.ForkServer`, ``python -m vicheck.grading.run.warm``: a process of its own,
never the kernel) with the settings of the checks to come, has it import and collect the suite (its
rehearsal is ``--collect-only``: collection imports every test module, and running the reference as well
would cost the first call seconds for little), and starts its zygote under the ``namespaces`` level, which
forks each run's jailed child from a jail that has imported torch. Each check is then a fork that runs
``pytest.main`` with the check's command line (:func:`vicheck.check.run.run_check`); the student's code runs
only in that run's jailed child.

The session ends with the process (``atexit``; the server also dies with its parent) or by
:func:`close_sessions`. A server that dies is replaced at the next call; a call that finds no server starts a
fresh pytest process, as ``vicheck check`` does.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from vicheck.check.run import CheckFailed, CheckSettings, check_argv, run_check
from vicheck.grading.report.records import GradeReport
from vicheck.grading.run.fresh import DEFAULT_PYTEST, RunFolder, environment, pytest_command
from vicheck.grading.run.warm import ForkServer, ForkServerUnavailable

__all__ = ["WarmSession", "close_sessions", "session_for"]

#: seconds the fork server may take to import and collect the suite and start its zygote
READY_SECONDS = 180.0


class WarmSession:
    """A fork server (and zygote) for checks with one set of settings."""

    def __init__(self, settings: CheckSettings) -> None:
        self.settings = settings
        self.folder = RunFolder.make("vicheck-session-")
        self.jobs: Path | None = None
        self.server: ForkServer | None = None
        self.why_cold = ""
        self._log: IO[bytes] | None = None
        try:
            self._start()
        except (ForkServerUnavailable, OSError) as exc:
            self.why_cold = str(exc)
            self.server = None

    def _start(self) -> None:
        if pytest_command() != DEFAULT_PYTEST:  # a test's substitute runner: nothing to fork from
            raise ForkServerUnavailable("pytest is replaced by VICHECK_GRADE_RUNNER")
        if self.settings.isolation == "namespaces":  # a zygote forks the jailed children
            self.jobs = self.folder.jobs
            self.jobs.mkdir(mode=0o700, exist_ok=True)
        placeholder = self.folder.root / "rehearsal.py"
        argv = check_argv(placeholder, self.settings, self.folder, self.folder.root / "rehearsal.json", ())
        self._log = (self.folder.root / "warm-worker.log").open("wb")
        server = ForkServer(DEFAULT_PYTEST[0], environment(self.folder), self.folder.work, self._log)
        server.warm([*argv[len(DEFAULT_PYTEST) :], "--collect-only"], READY_SECONDS, jobs=self.jobs)
        self.server = server

    @property
    def warm(self) -> bool:
        return self.server is not None

    def run(self, submission: Path, functions: Sequence[str] = ()) -> GradeReport:
        """One check, forked from the server (a fresh pytest process when there is none)."""
        try:
            return run_check(submission, self.settings, functions, server=self.server, jobs=self.jobs)
        except CheckFailed:
            self.close()  # a server that failed a run is not trusted with the next: the next call starts anew
            raise

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None
        shutil.rmtree(self.folder.root, ignore_errors=True)


_SESSIONS: dict[tuple[str, ...], WarmSession] = {}


def _key(s: CheckSettings) -> tuple[str, ...]:
    # the rubric's digest too: an edited rubric file gets a server with its new limits
    return (str(s.rubric_path), s.rubric.sha256, s.profile, s.isolation, s.resources)


def session_for(settings: CheckSettings) -> WarmSession:
    """The warm session for ``settings``, started if there is none (or its server has gone)."""
    key = _key(settings)
    session = _SESSIONS.get(key)
    if session is not None and session.server is None and not session.why_cold:
        session = None  # closed after a failure: start another
    if session is None:
        if not _SESSIONS:
            atexit.register(close_sessions)
        session = _SESSIONS[key] = WarmSession(settings)
    return session


def close_sessions() -> None:
    """Stop every warm session of this process."""
    while _SESSIONS:
        _, session = _SESSIONS.popitem()
        session.close()
