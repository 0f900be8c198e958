"""Warm grading workers: a fork server that has imported pytest, torch, scipy and the property suite once,
and forks one fresh pytest run per submission.

Starting pytest and importing torch, scipy, Hypothesis and the suite (with pytest's assertion rewriting)
costs seconds of CPU per submission, the same seconds for every student. :class:`ForkServer` pays them
once per ``vicheck grade`` run: its process (``python -m vicheck.grading.run.warm``, started with the
environment of a grading run) imports everything, then *rehearses* the grading run in process against the
reference (same options, same profile; output discarded), which imports and rewrites the test modules and
fills every lazily built cache, and restores torch's random state. Then, for each submission, it forks;
the fork starts a new session, takes the submission's working folder, environment and log file, and runs
``pytest.main`` with the same arguments a fresh ``python -m pytest`` process would get.

Every fork starts from the same state, so a submission's report does not depend on the order of the class,
on ``--jobs`` or on which submissions came before (tests/grading/run/test_warm_workers.py grades a class both ways and
compares the reports). The submission's own code still runs only in the jailed child that the fork's
property suite starts (:mod:`vicheck.sandbox`), never in the fork server.

Protocol: JSON lines. The client writes ``{"warm": ARGS}`` once, then ``{"run": ID, "args": ARGS, "cwd":
DIR, "env": {...}, "log": PATH}``; the server answers ``{"ready": SECONDS}`` (or ``{"failed": TEXT}``),
``{"started": ID, "pid": PID}`` and, when the fork ends, ``{"exit": ID, "rc": RC}`` (``-N``: killed by
signal N, as :attr:`subprocess.Popen.returncode`). When the client's pipe closes (the grader ended or
died), the server kills every fork's process group and exits; the forks also die with it
(``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vicheck.sandbox.zygote import Zygote

__all__ = ["ForkServer", "ForkServerUnavailable", "WarmRun"]

#: seconds the server may take to import and rehearse before the grader gives up on it
READY_SECONDS = 300.0


class ForkServerUnavailable(RuntimeError):
    """The fork server could not start, or died: the grader falls back to a fresh process per submission."""


# --------------------------------------------------------------------------------------------- client


class WarmRun:
    """One forked pytest run, as the grader sees it: a pid (the leader of its own session) and its end."""

    def __init__(self, server: ForkServer, run_id: int) -> None:
        self._server = server
        self.id = run_id
        self.pid = 0
        self.returncode: int | None = None
        self.lost = False  # the server died before this run ended
        self._started = threading.Event()
        self._ended = threading.Event()

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit status once the run has ended, or ``None`` after ``timeout`` seconds."""
        if not self._ended.wait(timeout):
            return None
        return self.returncode


class ForkServer:
    """Client side: start the server, ask it for runs, learn when they end. Thread-safe."""

    def __init__(self, python: str, env: dict[str, str], cwd: Path, stderr: IO[bytes]) -> None:
        self._proc = subprocess.Popen(
            [python, "-m", "vicheck.grading.run.warm"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._in, self._out = self._proc.stdin, self._proc.stdout
        self._lock = threading.Lock()
        self._runs: dict[int, WarmRun] = {}
        self._next = 0
        self._dead = False
        self.ready_seconds = 0.0
        #: "" when no zygote was asked for; else "ready in N s" or why there is none
        self.zygote = ""
        self._ready = threading.Event()
        self._failure = ""
        self._reader = threading.Thread(target=self._read, name="vicheck-warm-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def warm(
        self, args: list[str], timeout: float = READY_SECONDS, *, rehearse: bool = True, jobs: Path | None = None
    ) -> float:
        """Import and rehearse ``args`` in the server; seconds it took. :class:`ForkServerUnavailable` when
        it fails or takes longer than ``timeout``. ``rehearse=False`` (tests) only imports pytest.

        With ``jobs`` (a folder the runs' scratch folders will lie in), the server also starts a zygote
        (:mod:`vicheck.sandbox.zygote`) that forks the runs' jailed children; :attr:`zygote` then says how
        that went (without one, children start afresh, as they would anyway)."""
        self._send({"warm": args, "rehearse": rehearse, "jobs": str(jobs) if jobs is not None else None})
        if not self._ready.wait(timeout) or self._failure:
            self.close()
            raise ForkServerUnavailable(self._failure or f"not ready within {timeout:g} s")
        return self.ready_seconds

    def start(self, args: list[str], cwd: Path, env: dict[str, str], log: Path) -> WarmRun:
        """Fork one pytest run; :class:`ForkServerUnavailable` when the server is gone."""
        with self._lock:
            if self._dead:
                raise ForkServerUnavailable(self._failure or "the fork server has stopped")
            self._next += 1
            run = WarmRun(self, self._next)
            self._runs[run.id] = run
        self._send({"run": run.id, "args": args, "cwd": str(cwd), "env": env, "log": str(log)})
        if not run._started.wait(60.0) or run.lost:
            raise ForkServerUnavailable(self._failure or "the fork server did not start the run")
        return run

    def _send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        with self._lock:
            try:
                self._in.write(data)
                self._in.flush()
            except (BrokenPipeError, ValueError, OSError) as exc:
                self._dead = True
                raise ForkServerUnavailable(f"the fork server has stopped ({exc})") from None

    def _read(self) -> None:
        for raw in self._out:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if "ready" in message:
                self.ready_seconds = float(message["ready"])
                self.zygote = str(message.get("zygote") or "")
                self._ready.set()
            elif "failed" in message:
                self._failure = str(message["failed"])[:2000]
                self._ready.set()
            elif "started" in message:
                run = self._runs.get(int(message["started"]))
                if run is not None:
                    run.pid = int(message["pid"])
                    run._started.set()
            elif "exit" in message:
                with self._lock:
                    ended = self._runs.pop(int(message["exit"]), None)
                if ended is not None:
                    ended.returncode = int(message["rc"])
                    ended._ended.set()
        # the server is gone: every run still waiting is lost (its fork died with the server)
        with self._lock:
            self._dead = True
            lost, self._runs = list(self._runs.values()), {}
        self._failure = self._failure or f"the fork server ended (status {self._proc.wait()})"
        self._ready.set()
        for run in lost:
            run.lost = True
            run.returncode = -signal.SIGKILL
            run._started.set()
            run._ended.set()

    def close(self) -> None:
        """Stop the server (it kills its forks); idempotent."""
        with self._lock:
            self._dead = True
        with contextlib.suppress(OSError, ValueError):
            self._in.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        self._reader.join(timeout=10)


# --------------------------------------------------------------------------------------------- server


def _set_parent_death_signal() -> None:
    """Die (SIGKILL) when the parent dies (Linux; nothing elsewhere)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _rehearse(args: list[str]) -> None:
    """One grading run against the reference, in this process, output discarded: imports and rewrites the
    test modules and builds every lazily built cache the forks will then find ready."""
    import pytest
    import torch

    state = torch.random.get_rng_state()
    outputs = {"--impl", "--grade-report", "--junitxml", "--vicheck-gradescope", "--vicheck-feedback"}
    rehearsal = [*_strip(args, {*outputs, "--vicheck-isolation"}), "--impl", "reference", "--vicheck-isolation", "none"]
    # descriptors 1 and 2 to /dev/null (pytest captures at that level too), restored once flushed
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    try:
        code = pytest.main(rehearsal)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)
    if int(code) not in (0, 1):
        raise RuntimeError(f"the rehearsal against the reference exited with status {int(code)}")
    # a fresh process starts from torch's default seed: so does every fork
    torch.random.set_rng_state(state)


def _start_zygote(jobs: str | None, args: list[str]) -> Zygote | None:
    """The zygote whose children the runs will fork, started now (its imports overlap the rehearsal), or
    ``None`` (said on stderr, the warm worker's log) when none was asked for or it cannot start. Its jail
    has the limits of the rubric the runs' arguments ``args`` name (``--vicheck-rubric``), as the runs'
    own jails do."""
    if not jobs:
        return None
    from vicheck.grading.rubric import load_rubric
    from vicheck.sandbox.isolated import child_environment
    from vicheck.sandbox.jail import IsolationUnavailable, Jail
    from vicheck.sandbox.zygote import Zygote, ZygoteUnavailable

    rubric: str | None = None
    for i, arg in enumerate(args):
        if arg == "--vicheck-rubric" and i + 1 < len(args):
            rubric = args[i + 1]
        elif arg.startswith("--vicheck-rubric="):
            rubric = arg.split("=", 1)[1]
    try:
        limits = load_rubric(rubric).limits
        return Zygote(Jail("namespaces", limits), Path(jobs), child_environment("/submission", "namespaces"))
    except (IsolationUnavailable, ZygoteUnavailable, OSError, ValueError) as exc:
        print(f"vicheck warm worker: no zygote ({exc})", file=sys.stderr)
        return None


def _zygote_ready(zygote: Zygote | None) -> str:
    """Wait for the zygote and install it for the forks; what to tell the grader."""
    if zygote is None:
        return ""
    from vicheck.sandbox import zygote as zygotes

    try:
        seconds = zygote.wait_ready(READY_SECONDS)
    except zygotes.ZygoteUnavailable as exc:
        print(f"vicheck warm worker: no zygote ({exc})", file=sys.stderr)
        return f"none: {exc}"
    zygotes.install(zygote.address)
    return f"ready after {seconds:.1f} s more"


def _strip(args: list[str], options: set[str]) -> list[str]:
    """``args`` without ``options`` and their values."""
    out: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
        elif a in options:
            skip = True
        elif a.split("=", 1)[0] not in options:
            out.append(a)
    return out


def _child(request: dict[str, Any], private: tuple[int, int], main: Callable[[list[str]], Any]) -> None:
    """In the fork: become the run a fresh ``python -m pytest`` would be, then exit with its status."""
    code = 3
    try:
        os.setsid()
        _set_parent_death_signal()
        for fd in private:
            os.close(fd)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        os.write(1, f"# forked from the warm worker (pid {os.getppid()}) as pid {os.getpid()}\n".encode())
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # read once, lazily, like the next: TMPDIR is this run's own folder
        if "hypothesis.configuration" in sys.modules:  # read once, lazily: the rehearsal may have read it
            from hypothesis.configuration import set_hypothesis_home_dir

            set_hypothesis_home_dir(os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"))
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        code = int(main(list(request["args"])))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve(main: Callable[[list[str]], Any] | None = None) -> int:
    """The server's loop (``python -m vicheck.grading.run.warm``)."""
    # the protocol moves to private descriptors; fd 0/1 become /dev/null and stderr, so that nothing the
    # imports or the rehearsal print can corrupt it
    requests, replies = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    os.close(null)
    _set_parent_death_signal()
    out = os.fdopen(replies, "w", buffering=1)

    def reply(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    running: dict[int, int] = {}  # pid -> run id
    zygote: Zygote | None = None
    buffer = b""
    warmed = False
    while True:
        ready, _, _ = select.select([requests], [], [], 0.05)
        if ready:
            chunk = os.read(requests, 1 << 16)
            if not chunk:
                break
            buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            request = json.loads(line)
            if "warm" in request:
                start = time.monotonic()
                try:
                    import pytest

                    if main is None:
                        main = pytest.main
                    zygote = _start_zygote(request.get("jobs"), list(request["warm"]))
                    if request.get("rehearse", True):
                        _rehearse(list(request["warm"]))
                    zygote_state = _zygote_ready(zygote)
                    import gc

                    gc.collect()
                    gc.freeze()  # the forks share these pages instead of copying them on the first collection
                except BaseException as exc:
                    reply({"failed": f"{type(exc).__name__}: {exc}"})
                    return 1
                warmed = True
                reply({"ready": round(time.monotonic() - start, 3), "zygote": zygote_state})
            elif "run" in request and warmed and main is not None:
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _child(request, (requests, replies), main)
                running[pid] = int(request["run"])
                reply({"started": request["run"], "pid": pid})
        while running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            run_id = running.pop(pid, None)
            if run_id is not None:
                reply({"exit": run_id, "rc": os.waitstatus_to_exitcode(status)})
    for pid in running:  # the grader has gone: nothing of ours outlives it
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    if zygote is not None:
        zygote.close()
    return 0


if __name__ == "__main__":
    sys.exit(serve())
