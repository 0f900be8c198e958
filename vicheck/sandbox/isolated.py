"""The grader's facade over a submission that runs in a jailed child: :class:`IsolatedImplementation`.

The child is started by :mod:`vicheck.sandbox.jail` under the level chosen for the run, in a scratch folder
holding only a copy of the submission, with a minimal environment and the rlimits of
:mod:`vicheck.sandbox.limits`. Requests go down a pipe as pickles (:mod:`vicheck.sandbox.wire`); replies
come back in the data-only format of :mod:`vicheck.sandbox._codec`, never unpickled here. Objects that are
not plain data stay in the child (:mod:`vicheck.sandbox.handles`); time is accounted by
:mod:`vicheck.sandbox.budget`.

A call that runs past the per-call limit is stopped with the child, which is restarted for the next call.
Its function (the contract name the request goes back to, also through the handles it was made on) is not
called again in that run: every later request to it fails at once with a :class:`CallTimeout` that says so
(``earlier`` set), without a child call or a restart, so a function that hangs costs one time limit, not one
per property (and one per example Hypothesis tries while shrinking).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn

from vicheck.implementation import (
    CallFailed,
    CallTimeout,
    Event,
    Implementation,
    LoadProblem,
    MissingName,
    SubmissionCrashed,
    SubmissionProblem,
    TimeLimitExhausted,
)
from vicheck.sandbox import zygote
from vicheck.sandbox.budget import TimeBudget
from vicheck.sandbox.describe import describe_call
from vicheck.sandbox.handles import HandleTable, RemoteAttributeError, RemoteObject
from vicheck.sandbox.jail import Jail, Jailed
from vicheck.sandbox.limits import LIMIT_SPECS, Limits, child_rlimits
from vicheck.sandbox.loading import load_message
from vicheck.sandbox.output import OutputCapture
from vicheck.sandbox.process import ChildProcess, Died, Expired, exit_detail
from vicheck.sandbox.resources import Group, create_group
from vicheck.sandbox.wire import decode_reply, encode_request

__all__ = ["IsolatedImplementation"]

_HERE = Path(__file__).parent
#: the grader's files the child runs: the request loop, the wire format and the notebook executor
CHILD_FILES: dict[str, Path] = {name: _HERE / name for name in ("_child.py", "_codec.py", "_cells.py")}


class IsolatedImplementation(Implementation):
    """A submission (``.py`` or ``.ipynb``) run in a jailed child process, under ``limits``.

    The constructor starts the child and sends the submission; loading goes on in the background until the
    first question (:meth:`names`, :meth:`invoke`, ...), so several submissions can load side by side.
    ``isolation`` is a level of :mod:`vicheck.sandbox.jail` (``namespaces``, ``uid``, ``process``).

    A function that did not return within ``limits.call_seconds`` is not called again: later requests whose
    root contract name is that function (``invoke``/``get`` of it or of a dotted path under it, or of a
    :class:`RemoteObject` obtained through it) raise :class:`CallTimeout` (with ``earlier``) at once.
    """

    def __init__(
        self,
        path: Path,
        *,
        limits: Limits,
        aliases: dict[str, str] | None = None,
        isolation: str = "process",
        resources: str = "rlimits",
    ) -> None:
        self.path = Path(path)
        self.label = str(path)
        self.limits = limits
        self.isolation = isolation
        self.resources = resources
        self._jail = Jail(isolation, limits)
        #: the submission's control group (every child it has, and all they start), or None (rlimits)
        self._group: Group | None = None
        self._budget = TimeBudget(limits)
        self._handles = HandleTable()
        self._problems: list[LoadProblem] = []
        self._events: list[Event] = []
        self._names: frozenset[str] = frozenset()
        self._depth = 0
        #: contract name -> the call that ran past the per-call limit: such a name is not called again
        self._timed_out: dict[str, str] = {}
        self._broken: str | None = None
        self._loaded_once = False
        self._child: ChildProcess | None = None
        #: what the current (or last) child printed
        self._output: OutputCapture | None = None
        self._loading = False
        self._closed = False
        self._scratch = Path(tempfile.mkdtemp(prefix="vicheck-scratch-"))
        # the grader's files, copied where a child of another uid can read them (and nothing else)
        self._staged = Path(tempfile.mkdtemp(prefix="vicheck-grader-"))
        self._layout = self._jail.layout(self._scratch, CHILD_FILES, self._staged)
        try:
            self._group = create_group(resources, limits)
            if self._group is not None:  # time is counted on the submission's CPU clock
                self._budget.clock = self._group.cpu_seconds
            self._jail.prepare(self._scratch, CHILD_FILES, self._staged)
            shutil.copyfile(self.path, self._scratch / self.path.name)
            (self._scratch / "tmp").mkdir()
            self._load_message, problems, self._broken = load_message(
                self.path, f"{self._layout.scratch}/{self.path.name}", aliases or {}
            )
            self._problems.extend(problems)
            if self._broken is None:
                self._spawn()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------------------------------- the child
    def _spawn(self) -> None:
        self._handles.new_generation()
        gen = self._handles.gen
        inside = self._layout
        config = {
            "rlimits": child_rlimits(self.limits, self._budget.left, processes=self._jail.own_uid),
            "codec": inside.files["_codec.py"],
            "cells": inside.files["_cells.py"],
            "strip_paths": [str(_HERE.parent.parent.resolve())],
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
        self._child.send_some(encode_request(self._load_message, self))
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
            body = decode_reply(kind, payload, self, ())
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

    # ------------------------------------------------------------------------------------------- protocol
    def _bind(self, remote: RemoteObject) -> int:
        """The id of ``remote`` in the current child, re-creating the object after a restart."""
        if remote._impl is not self:
            raise ValueError("a RemoteObject of another implementation cannot be passed here")
        if self._handles.is_current(remote) and self._child is not None:
            return int(remote._id)
        origin = remote._origin
        if origin[0] == "path":
            value = self._request({"op": "get", "target": origin[1]}, origin[1], ("path", origin[1]))
        elif origin[0] == "attr":
            value = self._attribute(origin[1], origin[2])
        elif origin[0] == "call":
            target, args, kwargs, seed = origin[1:5]
            value = self.invoke(target, *args, seed=seed, **kwargs)
        else:
            raise SubmissionCrashed(remote._describe_label(), "the object was lost when the child was restarted")
        for key in origin[-1]:
            value = value[key]
        if type(value) is not RemoteObject:
            raise SubmissionCrashed(remote._describe_label(), "the object changed when the child was restarted")
        return self._handles.rebind(remote, value)

    def _request(self, message: dict[str, Any], call: str, origin: tuple[Any, ...]) -> Any:
        """Send a request, serve callbacks until the reply, and turn the reply into a value or an error.

        A request whose root contract name timed out earlier fails at once, before the child is (re)started.
        """
        root = _root_name(origin)
        if root is not None and root in self._timed_out:
            _time_out(call, self.limits.call_seconds, name=root, earlier=self._timed_out[root])
        child = self._wait_loaded(call)
        gen = self._handles.gen
        released = self._handles.take_released()
        if released:
            message["release"] = released
        data = encode_request(message, self)
        if self._handles.gen != gen or self._child is not child:  # a handle was re-created by a restart
            return self._request(message, call, origin)
        limit = self._budget.for_call()
        deadline = self._budget.deadline(limit)
        used_before_callback = 0.0
        expired = False
        outermost = self._depth == 0
        self._depth += 1
        try:
            child.send(data, deadline)
            while True:
                kind, payload = child.receive(deadline)
                body = decode_reply(kind, payload, self, origin)
                if body["op"] != "cb":
                    break
                t0, used_before_callback = time.monotonic(), deadline.used()
                reply = self._run_callback(body, gen)
                # the grader's time, and the child's in calls the callback made (charged by those calls)
                deadline.exclude(time.monotonic() - t0, deadline.used() - used_before_callback)
                child.send(reply, deadline)
        except Expired:
            expired = True  # the CallTimeout is raised below, out of this handler (see _time_out)
            self._budget.charge_wait(deadline)
            self._stop()
            if self._budget.cut_short(limit, self.limits.call_seconds):
                self._events.append(
                    Event(
                        f"time limit of {self.limits.submission_seconds:g} s exhausted during {call}; child stopped",
                        "time_limit",
                    )
                )
                raise TimeLimitExhausted(self.limits.submission_seconds) from None
            self._events.append(
                Event(f"{call} timed out after {self.limits.call_seconds:g} s; child restarted", "call_timeout")
            )
        except CallTimeout as exc:  # a nested call (made by a callback) timed out: this call cannot go on either
            self._budget.charge(used_before_callback)  # this call's own time, up to the callback
            if outermost and exc.earlier is None:
                self._mark_timed_out(root, call)
            raise
        except Died as exc:
            self._budget.charge_wait(deadline)
            self._stop()
            detail = self._death(exc, child)
            self._events.append(Event(f"{call} crashed the child ({detail}); child restarted", "crash"))
            raise SubmissionCrashed(call, detail) from None
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._handles.callbacks.clear()
        if expired:
            if outermost:
                self._mark_timed_out(root, call)
            _time_out(call, self.limits.call_seconds)
        self._budget.charge_wait(deadline)
        self._after_run()
        op = body["op"]
        if op == "ret":
            return body.get("value")
        if op == "missing":
            raise MissingName(str(body.get("name", ""))[:100])
        if op == "err":
            exc_type, message_text, tb = (
                str(body.get(k, ""))[:n] for k, n in (("type", 100), ("message", 300), ("tb", 1500))
            )
            if message.get("op") == "attr" and exc_type == "AttributeError":
                raise RemoteAttributeError(call, exc_type, message_text, tb)
            raise CallFailed(call, exc_type, message_text, tb)
        self._stop()
        raise SubmissionCrashed(call, f"protocol violation: unexpected reply {op[:20]!r}")

    def _mark_timed_out(self, root: str | None, call: str) -> None:
        """Never call ``root`` again in this run (called by the outermost request only: a time-out in a call
        nested in one of its callbacks marks the outermost request's root)."""
        if root is None or root in self._timed_out:
            return
        self._timed_out[root] = call
        self._events.append(
            Event(
                f"{root} timed out after {self.limits.call_seconds:g} s; it is not called again in this run",
                "call_timeout",
            )
        )

    def _run_callback(self, body: dict[str, Any], gen: int) -> bytes:
        """Run the grader function the child called back; its result (pickled) or its error, as a frame."""
        func = self._handles.callbacks.get(body.get("id"))  # type: ignore[arg-type]
        args, kwargs = body.get("args"), body.get("kwargs")
        try:
            if func is None:
                raise LookupError("the function passed to an earlier call is no longer available")
            if not isinstance(args, tuple) or not isinstance(kwargs, dict):
                raise TypeError("bad callback arguments")
            value = func(*args, **kwargs)
            return encode_request({"op": "cbret", "value": value}, self)
        except Exception as exc:
            # a nested call stopped the child (and maybe started another): the outer call cannot go on
            if self._handles.gen != gen or self._child is None:
                raise
            text = str(exc).splitlines()[0][:300] if str(exc) else ""
            return encode_request({"op": "cberr", "message": f"{type(exc).__name__}: {text}"}, self)

    # ------------------------------------------------------------------------------------------- the API
    def names(self) -> frozenset[str]:
        """The contract names the submission defines (aliases applied); empty when it could not load."""
        try:
            self._wait_loaded("loading")
        except SubmissionProblem:
            pass
        return self._names

    def get(self, name: str) -> Any:
        """The value of a contract name or dotted path (data, or a :class:`RemoteObject`)."""
        return self._request({"op": "get", "target": name}, name, ("path", name))

    def _attribute(self, remote: RemoteObject, name: str) -> Any:
        label = f"{remote._describe_label()}.{name}"
        return self._request({"op": "attr", "target": remote, "name": name}, label, ("attr", remote, name))

    def invoke(self, target: Any, /, *args: Any, seed: int | None = None, **kwargs: Any) -> Any:
        """Call ``target`` (a contract name, dotted path or :class:`RemoteObject`) in the child."""
        if isinstance(target, str):
            label = target
        elif type(target) is RemoteObject:
            label = target._describe_label()
        else:
            raise TypeError(f"invoke() needs a name or a RemoteObject, got {type(target).__name__}")
        call = describe_call(label, args, kwargs)
        message = {"op": "call", "target": target, "args": args, "kwargs": kwargs, "seed": seed}
        return self._request(message, call, ("call", target, args, kwargs, seed))

    def load_problems(self) -> list[LoadProblem]:
        self.names()
        return list(self._problems)

    def events(self) -> list[Event]:
        return list(self._events)

    @property
    def seconds_spent(self) -> float:
        """Wall-clock seconds the submission has used of its budget (load and calls, not callbacks)."""
        return self._budget.spent

    @property
    def scratch(self) -> Path:
        """The child's working folder (deleted by :meth:`close`)."""
        return self._scratch

    @property
    def child_scratch(self) -> str:
        """The child's working folder as the child sees it (``/submission`` in the namespaces jail)."""
        return self._layout.scratch

    def log_text(self) -> str:
        """What the current (or last) child printed, as far as it was kept: its first and last 64 KiB, with a
        line saying how many bytes between them were not (:meth:`OutputCapture.text`)."""
        return "" if self._output is None else self._output.text()

    def close(self) -> None:
        """Stop the child and everything it started (and the thread reading its output), and delete the
        scratch folder; what the last child printed stays readable (:meth:`log_text`)."""
        if self._closed:
            return
        self._closed = True
        self._stop()
        if self._output is not None:
            self._output.stop()
        if self._group is not None:
            self._group.close()
        shutil.rmtree(self._scratch, ignore_errors=True)
        shutil.rmtree(self._staged, ignore_errors=True)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


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


def _time_out(call: str, seconds: float, *, name: str | None = None, earlier: str | None = None) -> NoReturn:
    """Raise the :class:`CallTimeout` of ``call``: every one is raised here, outside any ``except`` block.

    Hypothesis tells failures apart by the exception's type, the line that raised it and its ``__context__``
    (``hypothesis.internal.escalation.InterestingOrigin``); a call refused because its function timed out
    earlier must look like that time-out, or the property that met the time-out is reported as flaky
    ("Inconsistent results from replaying a test case") instead of with this message.
    """
    raise CallTimeout(call, seconds, name=name, earlier=earlier)


def _root_name(origin: tuple[Any, ...]) -> str | None:
    """The contract name a request's (or a handle's) ``origin`` goes back to: the first dotted component of
    the name at its root, following handles through the attributes and calls they were obtained from;
    ``None`` when there is none (a handle the child gave to a callback, not re-creatable)."""
    for _ in range(10_000):  # origins form a chain back to a name; the bound only guards against a cycle
        if len(origin) < 2 or origin[0] not in ("path", "attr", "call"):
            return None
        target = origin[1]
        if isinstance(target, str):
            return target.split(".", 1)[0] or None
        if type(target) is not RemoteObject:
            return None
        origin = target._origin
    return None
