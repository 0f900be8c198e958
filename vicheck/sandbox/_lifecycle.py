"""The child's life for :class:`~vicheck.sandbox.isolated.IsolatedImplementation`: started (afresh in the
jail, or forked by a zygote), its load awaited and reported, its death explained, what it met after a load
or call accounted (out-of-memory kills elsewhere in its group, a scratch folder over the disk limit), and
stopped. :class:`ChildLifecycle` holds these methods; ``IsolatedImplementation`` inherits them, and its
constructor sets the state they share.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from vicheck.implementation import Event, LoadProblem, SubmissionCrashed, TimeLimitExhausted
from vicheck.sandbox import zygote
from vicheck.sandbox._levels import grader_path_entries
from vicheck.sandbox.budget import Deadline, TimeBudget
from vicheck.sandbox.handles import HandleTable
from vicheck.sandbox.jail import Jail, Jailed, Layout
from vicheck.sandbox.limits import LIMIT_SPECS, Limits, child_rlimits
from vicheck.sandbox.output import OutputCapture
from vicheck.sandbox.process import ChildProcess, Died, Expired, exit_detail
from vicheck.sandbox.resources import Group
from vicheck.sandbox.wire import decode_reply, encode_request

if TYPE_CHECKING:
    from vicheck.sandbox.isolated import IsolatedImplementation

__all__ = ["CHILD_FILES", "ChildLifecycle", "child_environment"]

_HERE = Path(__file__).parent
#: the grader's files the child runs: the request loop, the wire format and the notebook executor
CHILD_FILES: dict[str, Path] = {name: _HERE / name for name in ("_child.py", "_codec.py", "_cells.py")}


class ChildLifecycle:
    """The methods of :class:`~vicheck.sandbox.isolated.IsolatedImplementation` that start, await and stop
    its child; the attributes below are set by its constructor."""

    path: Path
    limits: Limits
    isolation: str
    _jail: Jail
    _group: Group | None
    _budget: TimeBudget
    _handles: HandleTable
    _problems: list[LoadProblem]
    _events: list[Event]
    _names: frozenset[str]
    _broken: str | None
    _loaded_once: bool
    _child: ChildProcess | None
    _output: OutputCapture | None
    _loading: bool
    _closed: bool
    _scratch: Path
    _layout: Layout
    _load_message: dict[str, Any]
    _load_deadline: Deadline

    # ------------------------------------------------------------------------------------------- the child
    def _spawn(self) -> None:
        self._handles.new_generation()
        gen = self._handles.gen
        inside = self._layout
        config = {
            "rlimits": child_rlimits(self.limits, self._budget.left, processes=self._jail.own_uid),
            "codec": inside.files["_codec.py"],
            "cells": inside.files["_cells.py"],
            "strip_paths": grader_path_entries(),
            # a zygote's fork makes its /submission a tmpfs of this size (a fresh child's jail does too)
            "disk_bytes": self.limits.disk_mb * 2**20,
        }
        env = child_environment(inside.scratch, self.isolation)
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        for fd in (down_w, up_w):  # larger pipes: fewer context switches for big tensors
            try:
                fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
            except OSError:
                pass
        argv = [sys.executable, "-I", inside.files["_child.py"], str(down_r), str(up_w), json.dumps(config)]
        try:
            # the child's stdout and stderr, drained by a thread of this process
            output = OutputCapture(self.limits.output_kb * 1024)
        except BaseException:
            for fd in (down_r, down_w, up_r, up_w):
                os.close(fd)
            raise
        self._output = output
        # loading is timed from before the child's first instruction
        self._load_deadline = self._budget.deadline(self._budget.for_load())
        try:
            jailed = self._start(argv, config, env, output.writer, (down_r, up_w))
        except BaseException:
            for fd in (down_w, up_r):
                os.close(fd)
            output.stop()
            raise
        finally:
            os.close(down_r)
            os.close(up_w)
            output.close_writer()  # the child has its own copy: the pipe ends when the child's last writer does
        if jailed is None:  # a zygote's keeper may still hold those pipes: start afresh with new ones
            for fd in (down_w, up_r):
                os.close(fd)
            output.stop()
            self._spawn()
            return
        os.set_blocking(down_w, False)
        self._child = ChildProcess(jailed, down_w, up_r, output, gen)
        self._child.send_some(encode_request(self._load_message, cast("IsolatedImplementation", self)))
        self._loading = True

    def _start(
        self, argv: list[str], config: dict[str, Any], env: dict[str, str], output: int, fds: tuple[int, int]
    ) -> Jailed | zygote.ForkedChild | None:
        """The child, forked by this process's zygote when there is one for its scratch folder, else started
        afresh in the jail; ``None`` when the zygote failed after it was handed ``fds``."""
        address = zygote.installed() if self.isolation == "namespaces" else None
        if address is not None and address.relative(self._scratch) is not None:
            try:
                return zygote.spawn(
                    address,
                    scratch=self._scratch,
                    config=config,
                    env=env,
                    argv=argv[2:],
                    output=output,
                    fds=fds,
                    place=self._group.add if self._group is not None else None,
                )
            except zygote.ZygoteUnavailable as exc:
                # the same child, started afresh: the grader's trouble, not the submission's, so only logged
                zygote.uninstall()
                print(f"vicheck: the zygote could not start a child ({exc}); starting it afresh", file=sys.stderr)
                if exc.sent:
                    return None
        return self._jail.start(
            argv, scratch=self._scratch, files=CHILD_FILES, env=env, output=output, pass_fds=fds, group=self._group
        )

    def _wait_loaded(self, call: str) -> ChildProcess:
        """The child, loaded; starts one first when there is none (after a crash or a time-out)."""
        if self._closed:
            raise SubmissionCrashed(call, "the implementation was closed")
        if self._budget.exhausted:
            raise TimeLimitExhausted(self.limits.submission_seconds)
        if self._broken is not None:
            raise SubmissionCrashed(call, self._broken)
        if self._child is None:
            self._spawn()
        child = self._child
        assert child is not None
        if not self._loading:
            return child
        deadline = self._load_deadline
        limit = deadline.limit
        try:
            child.send(b"", deadline)
            kind, payload = child.receive(deadline)
            body = decode_reply(kind, payload, cast("IsolatedImplementation", self), ())
            if body["op"] != "loaded":
                raise Died("protocol violation: no load report")
            names, problems = body.get("names"), body.get("problems")
            if not isinstance(names, list) or not isinstance(problems, list):
                raise Died("protocol violation: bad load report")
        except (Expired, Died) as exc:
            self._budget.charge_wait(deadline)
            self._stop()
            if isinstance(exc, Expired) and self._budget.cut_short(limit, self.limits.load_seconds):
                self._events.append(
                    Event(f"time limit of {self.limits.submission_seconds:g} s exhausted while loading", "time_limit")
                )
                raise TimeLimitExhausted(self.limits.submission_seconds) from None
            if isinstance(exc, Expired):
                detail = f"loading did not finish within {self.limits.load_seconds:g} s (load time limit)"
                kind_name = "LoadTimeout"
            else:
                detail = self._death(exc, child)
                kind_name = "SubmissionCrashed"
            self._broken = f"loading failed: {detail}"
            if not self._loaded_once:
                self._problems.append(LoadProblem("load", kind_name, detail))
            self._events.append(Event(f"loading {self.path.name} failed: {detail}", "load_failed"))
            raise SubmissionCrashed(call, self._broken) from None
        elapsed = deadline.used()
        self._budget.charge_wait(deadline)
        self._loading = False
        self._after_run(loading=True)
        from reference.contract import NAMES

        self._names = frozenset(n for n in names if isinstance(n, str) and n in NAMES)
        if not self._loaded_once:
            for p in problems:
                if isinstance(p, list) and len(p) == 4 and all(isinstance(s, str) for s in p):
                    problem = LoadProblem(p[0][:40], p[1][:100], p[2][:300], p[3][:300])
                    if not any(
                        (q.where, q.exc_type, q.message) == (problem.where, problem.exc_type, problem.message)
                        for q in self._problems
                    ):
                        self._problems.append(problem)
            self._loaded_once = True
        else:
            self._events.append(Event(f"child restarted: {self.path.name} reloaded in {elapsed:.1f} s", "restart"))
        return child

    def _death(self, exc: Died, child: ChildProcess) -> str:
        """Why the child died, in words: out of memory when its group says so, else its exit and output."""
        if self._group is not None and self._group.new_oom_kills():
            return LIMIT_SPECS["memory_mb"].message(self.limits)
        detail = exc.detail or exit_detail(child.returncode)
        tail = child.log_tail()
        return detail + (f"; last output: {tail}" if tail else "")

    def _after_run(self, *, loading: bool = False) -> None:
        """After a load or call that returned: what the submission's other processes met meanwhile (out of
        memory), and, where no tmpfs bounds it (``process``), how much its folder holds. A folder over the
        disk limit is emptied of what the submission wrote; after a call the child is stopped too (it may hold
        a deleted file open), after a load it runs on (stopping it would only load and write again)."""
        if self._group is not None and self._group.new_oom_kills():
            self._events.append(
                Event(
                    LIMIT_SPECS["memory_mb"].message(self.limits) + ": the kernel killed one of its processes", "memory"
                )
            )
        if self.isolation != "process":
            return
        cap = self.limits.disk_mb * 2**20
        if _folder_bytes(self._scratch, cap) <= cap:
            return
        if not loading:
            self._stop()
        for entry in self._scratch.iterdir():
            if entry.name != self.path.name:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        (self._scratch / "tmp").mkdir(exist_ok=True)
        done = " while loading; its folder emptied" if loading else "; child stopped and its folder emptied"
        self._events.append(Event(LIMIT_SPECS["disk_mb"].message(self.limits) + done, "disk"))

    def _stop(self) -> None:
        if self._child is not None:
            self._child.kill()
            printed = self._child.output.summary()
            if printed is not None:  # once per child: it is stopped once
                self._events.append(Event(f"{self.path.name} {printed} of its output", "output"))
            self._child = None
        self._loading = False
        self._handles.clear()


def _folder_bytes(folder: Path, cap: int) -> int:
    """Bytes the files below ``folder`` take (links not followed), counted up to a little past ``cap``."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
            if total > cap:
                return total
    return total


def child_environment(scratch: str, isolation: str) -> dict[str, str]:
    """A child's whole environment; ``scratch`` is its folder as it sees it. The thread counts must be
    there when torch is imported (OpenMP reads them as it loads): a zygote is started with them too."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin") if isolation == "process" else "/usr/bin:/bin",
        "HOME": scratch,
        "TMPDIR": f"{scratch}/tmp",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{scratch}/.matplotlib",
        "IPYTHONDIR": f"{scratch}/.ipython",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "LANG": "C.UTF-8",
    }
