"""A pytest run of one submission as a process of its own: its folder, its environment, its start, its kill.

The run is forked from the warm worker (:mod:`vicheck.grading.run.warm`) when there is one, else started as a
fresh ``python -m pytest`` process; :class:`Fresh` gives a fresh process the face of a
:class:`~vicheck.grading.run.warm.WarmRun`. Tests substitute the pytest process: :func:`pytest_command`
gives the command prefix, and the environment variable ``VICHECK_GRADE_RUNNER`` (a shell-quoted command)
overrides it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vicheck.grading.run.options import INI
from vicheck.grading.run.warm import ForkServer, ForkServerUnavailable, WarmRun

__all__ = [
    "DEFAULT_PYTEST",
    "Fresh",
    "Run",
    "RunFolder",
    "environment",
    "kill_tree",
    "launch",
    "pytest_command",
    "suite_folder",
    "wait_or_kill",
]

DEFAULT_PYTEST = [sys.executable, "-m", "pytest"]


def pytest_command() -> list[str]:
    """The command that starts pytest (tests replace it, or set ``VICHECK_GRADE_RUNNER``)."""
    override = os.environ.get("VICHECK_GRADE_RUNNER", "").strip()
    if override:
        return shlex.split(override)
    return list(DEFAULT_PYTEST)


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


class Fresh:
    """A pytest run in a fresh process (the same face as :class:`~vicheck.grading.run.warm.WarmRun`)."""

    lost = False

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.pid = proc.pid

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


Run = Fresh | WarmRun


def kill_tree(run: Run) -> None:
    """Kill the run's process group (it leads its own session) and every process it started (even in
    another group)."""
    below = _descendants(run.pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(run.pid, signal.SIGKILL)
    for pid in below:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    run.wait(timeout=30)


def wait_or_kill(run: Run, deadline: float, cancel: threading.Event | None = None) -> tuple[int, bool]:
    """Wait for the run until ``deadline`` (``time.monotonic()``): its exit status, and whether it passed the
    deadline (then it is killed, with every process it started). ``cancel`` set, an interrupt or any other
    error while waiting kills it too, and is raised (``KeyboardInterrupt`` for ``cancel``)."""
    try:
        while True:
            status = run.wait(timeout=max(0.0, min(0.2, deadline - time.monotonic())))
            if status is not None:
                return status, False
            if cancel is not None and cancel.is_set():
                raise KeyboardInterrupt
            if time.monotonic() >= deadline:
                kill_tree(run)
                return -9, True
    except BaseException:
        kill_tree(run)
        raise


def suite_folder() -> Path | None:
    """The property suite's folder (where ``--confcutdir`` stops conftest discovery), or ``None``."""
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


@dataclass(frozen=True)
class RunFolder:
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
    def make(cls, prefix: str, parent: Path | None = None) -> RunFolder:
        folder = cls(Path(tempfile.mkdtemp(prefix=prefix, dir=parent)))
        for path in (folder.work, folder.hypothesis, folder.temp):
            path.mkdir()
        # other uids may pass through (never list) to a scratch folder of theirs below: the uid level
        for path in (folder.root, folder.temp):
            path.chmod(0o711)
        folder.ini.write_text(INI, encoding="utf-8")
        return folder


def environment(folder: RunFolder) -> dict[str, str]:
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


def launch(cmd: list[str], cwd: Path, env: dict[str, str], log_path: Path, warm: ForkServer | None) -> Run:
    """Start the pytest run ``cmd``: forked from the warm worker when there is one, else a fresh process.
    The log already holds the command line."""
    if warm is not None:  # only there when pytest_command() is the default one
        try:
            return warm.start(cmd[len(DEFAULT_PYTEST) :], cwd, env, log_path)
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
    return Fresh(proc)
