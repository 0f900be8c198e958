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

Starting the child, awaiting its load, explaining its death and stopping it are
:mod:`vicheck.sandbox._lifecycle` (:class:`~vicheck.sandbox._lifecycle.ChildLifecycle`, a base of
:class:`IsolatedImplementation`); here are the requests, the callbacks they serve, and the API.
"""

from __future__ import annotations

import shutil
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
from vicheck.sandbox._lifecycle import CHILD_FILES, ChildLifecycle, child_environment
from vicheck.sandbox.budget import TimeBudget
from vicheck.sandbox.describe import describe_call
from vicheck.sandbox.handles import HandleTable, RemoteAttributeError, RemoteObject
from vicheck.sandbox.jail import Jail
from vicheck.sandbox.limits import Limits
from vicheck.sandbox.loading import load_message
from vicheck.sandbox.output import OutputCapture
from vicheck.sandbox.process import ChildProcess, Died, Expired
from vicheck.sandbox.resources import Group, create_group
from vicheck.sandbox.wire import decode_reply, encode_request

__all__ = ["CHILD_FILES", "IsolatedImplementation", "child_environment"]


class IsolatedImplementation(ChildLifecycle, Implementation):
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
        return int(self._handles.rebind(remote, value))

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
        if "reached" in body:
            self._note_reached(_reached(body["reached"], self._names))
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


def _time_out(call: str, seconds: float, *, name: str | None = None, earlier: str | None = None) -> NoReturn:
    """Raise the :class:`CallTimeout` of ``call``: every one is raised here, outside any ``except`` block.

    Hypothesis tells failures apart by the exception's type, the line that raised it and its ``__context__``
    (``hypothesis.internal.escalation.InterestingOrigin``); a call refused because its function timed out
    earlier must look like that time-out, or the property that met the time-out is reported as flaky
    ("Inconsistent results from replaying a test case") instead of with this message.
    """
    raise CallTimeout(call, seconds, name=name, earlier=earlier)


def _reached(value: Any, names: frozenset[str]) -> dict[str, int]:
    """A reply's ``reached`` field (from the child: not trusted) as ``{contract name: count}``: only names the
    submission defines, counts that are non-negative integers; anything else is left out."""
    if type(value) is not dict:
        return {}
    return {k: v for k, v in value.items() if k in names and type(v) is int and v >= 0}


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
