"""The grader's side of process isolation: :class:`IsolatedImplementation` and :class:`RemoteObject`.

A submission runs in a child process (``python -I _child.py``) in a scratch folder holding only a copy of
the submission, with a minimal environment and resource limits. Requests go down a pipe as pickles; replies
come back on another pipe in the data-only format of :mod:`vicheck.sandbox._codec`, never unpickled here.
Objects that are not plain data stay in the child and are represented here by :class:`RemoteObject`.
"""

from __future__ import annotations

import ast
import fcntl
import functools
import io
import json
import math
import os
import pickle
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributions.transforms as _transforms

from vicheck.implementation import (
    CallFailed,
    CallTimeout,
    Implementation,
    Limits,
    LoadProblem,
    MissingName,
    SubmissionCrashed,
    SubmissionProblem,
    TimeLimitExhausted,
)
from vicheck.sandbox import _codec
from vicheck.sandbox._child import BLOCKED, BLOCKED_MESSAGE, clean_cell
from vicheck.sandbox.describe import describe_call

__all__ = ["IsolatedImplementation", "RemoteAttributeError", "RemoteObject", "scan_blocked_imports"]

CHILD_SCRIPT = Path(__file__).with_name("_child.py")
CODEC_SCRIPT = Path(__file__).with_name("_codec.py")
FSIZE_MB = 64
_NUMPY_DTYPES = frozenset(
    {torch.float16, torch.float32, torch.float64, torch.complex64, torch.complex128, torch.bool}
    | {torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64}
)
_PLAIN_TYPES = frozenset(
    {str, int, float, bool, type(None), tuple, list, dict, bytes, bytearray, torch.Tensor, torch.dtype}
)
_PASS_BY_REFERENCE = ("torch", "numpy", "math", "scipy", "builtins", "operator")


class RemoteAttributeError(CallFailed, AttributeError):
    """Reading an attribute of a :class:`RemoteObject` raised ``AttributeError`` in the child."""


class _Expired(Exception):
    """The deadline of a wait passed."""


class _Died(Exception):
    """The child closed its pipe or broke the protocol."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


class RemoteObject:
    """An object that lives in the child (a function, distribution, transform, ...).

    Calling it calls the object in the child (``remote(x, seed=0)``, same as ``impl.invoke(remote, x)``);
    reading an attribute (``remote.inv``, ``remote.log_prob``) returns the attribute as data or as another
    handle; passing it as an argument hands the child its own object. After the child is restarted, the
    handle is re-created by replaying how it was obtained (a name, an attribute, a call).
    """

    __slots__ = ("__weakref__", "_gen", "_id", "_impl", "_info", "_origin")

    def __init__(self, impl: IsolatedImplementation, info: dict[str, Any], gen: int, origin: tuple[Any, ...]) -> None:
        object.__setattr__(self, "_impl", impl)
        object.__setattr__(self, "_info", info)
        object.__setattr__(self, "_id", info["id"])
        object.__setattr__(self, "_gen", gen)
        object.__setattr__(self, "_origin", origin)

    @property
    def type_name(self) -> str:
        """Qualified name of the object's type in the child (as the child reports it)."""
        return str(self._info["type"])

    @property
    def is_callable(self) -> bool:
        """Whether the child reported the object as callable."""
        return bool(self._info["callable"])

    def _describe_label(self) -> str:
        kind = self._origin[0]
        if kind == "path":
            return str(self._origin[1]) + "".join(f"[{k!r}]" for k in self._origin[2])
        if kind == "attr":
            return f"{self._origin[1]._describe_label()}.{self._origin[2]}"
        return str(self._info["name"] or self._info["repr"][:60] or self._info["type"])

    def __call__(self, *args: Any, seed: int | None = None, **kwargs: Any) -> Any:
        return self._impl.invoke(self, *args, seed=seed, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._impl._attribute(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a RemoteObject is read-only")

    def __repr__(self) -> str:
        return f"<RemoteObject {self._describe_label()}: {self._info['repr'][:80] or self.type_name}>"

    def __del__(self) -> None:
        try:
            self._impl._released.append((self._gen, self._id))
        except Exception:  # interpreter shutdown
            pass


def _is_callback(obj: Any) -> bool:
    """Whether a parent-side object passed to the child travels as a callback (not pickled)."""
    if isinstance(obj, (types.FunctionType, types.MethodType, functools.partial)):
        module = getattr(obj, "__module__", None) or ""
        return module.partition(".")[0] not in _PASS_BY_REFERENCE
    if callable(obj) and not isinstance(obj, type):
        return type(obj).__module__.partition(".")[0] in BLOCKED
    return False


class _TensorBytes:
    """Stand-in while pickling a plain tensor (its data as a numpy array)."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


class _ArrayBytes(_TensorBytes):
    """Stand-in while pickling the flat array under a :class:`_TensorBytes`."""

    __slots__ = ()


class _Pickler(pickle.Pickler):
    """Pickles requests: handles by id, grader functions as callbacks, ``_InverseTransform`` rebuilt."""

    def __init__(self, file: io.BytesIO, impl: IsolatedImplementation) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.impl = impl

    def persistent_id(self, obj: Any) -> Any:
        tp = type(obj)
        if tp in _PLAIN_TYPES:
            return None
        if tp is RemoteObject:
            return ("h", self.impl._bind(obj))
        if _is_callback(obj):
            return ("cb", self.impl._register_callback(obj), str(getattr(obj, "__name__", "callback"))[:100])
        return None

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is torch.Tensor and obj.dtype in _NUMPY_DTYPES and obj.layout == torch.strided:
            if obj.requires_grad:
                return (torch.Tensor.requires_grad_, (obj.detach(),))
            if obj.device.type == "cpu" and not obj.is_conj() and not obj.is_neg():
                # reshape(from_numpy(frombuffer(bytes))): far faster than torch's own reduction (torch.load)
                return (torch.reshape, (_TensorBytes(obj.numpy()), tuple(obj.shape)))
        if type(obj) is _TensorBytes:
            return (torch.from_numpy, (_ArrayBytes(obj.array),))
        if type(obj) is _ArrayBytes:
            return (np.frombuffer, (bytearray(obj.array.tobytes()), obj.array.dtype.str))
        if type(obj) is _transforms._InverseTransform:
            return (getattr, (obj.inv, "inv"))
        if not isinstance(obj, type) and type(obj).__module__.partition(".")[0] in BLOCKED:
            raise TypeError(f"a {type(obj).__qualname__} (a grader object) cannot be passed to a submission")
        return NotImplemented


def scan_blocked_imports(source: str) -> list[tuple[int, str]]:
    """``(line, source line)`` of each import of a grader package (also ``__import__``/``import_module``)."""
    try:
        with warnings.catch_warnings():  # e.g. invalid escape sequences in the submission's strings
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    lines = source.splitlines()
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            fname = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if fname in ("__import__", "import_module") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        if any(n.partition(".")[0] in BLOCKED for n in names):
            line = getattr(node, "lineno", 0)
            found.append((line, lines[line - 1].strip() if 0 < line <= len(lines) else ""))
    return sorted(set(found))


def _exit_detail(returncode: int | None) -> str:
    if returncode is None:
        return "it stopped answering"
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        return f"killed by signal {-returncode}"
    why = {
        "SIGKILL": " (killed; memory exhausted?)",
        "SIGSEGV": " (segmentation fault)",
        "SIGXCPU": " (CPU time limit)",
        "SIGXFSZ": " (file size limit: too much output)",
        "SIGABRT": " (aborted)",
    }.get(name, "")
    return f"killed by {name}{why}"


class _Child:
    """One running child process with its pipe ends."""

    def __init__(self, proc: subprocess.Popen[bytes], fd_write: int, fd_read: int, log: Path, gen: int) -> None:
        self.proc, self.fd_write, self.fd_read, self.log, self.gen = proc, fd_write, fd_read, log, gen
        self.rbuf = bytearray()
        self.poller = select.poll()
        self.poller.register(fd_read, select.POLLIN | select.POLLHUP | select.POLLERR)
        self.wpoller = select.poll()
        self.wpoller.register(fd_write, select.POLLOUT | select.POLLERR)
        self.pending = b""
        self.started = time.monotonic()

    def send(self, data: bytes, deadline: float) -> None:
        view = memoryview(self.pending + data if self.pending else data)
        self.pending = b""
        while view:
            try:
                n = os.write(self.fd_write, view)
                view = view[n:]
                continue
            except BlockingIOError:
                pass
            except (BrokenPipeError, OSError):
                raise _Died() from None
            left = deadline - time.monotonic()
            if left <= 0 or not self.wpoller.poll(left * 1000):
                raise _Expired()

    def send_some(self, data: bytes) -> None:
        """Write what fits in the pipe now, keep the rest for the next :meth:`send`."""
        try:
            n = os.write(self.fd_write, data)
        except (BlockingIOError, OSError):
            n = 0
        self.pending = data[n:]

    def receive(self, deadline: float) -> tuple[bytes, bytearray]:
        header = _codec.HEADER.size
        need = header
        while True:
            if len(self.rbuf) >= header:
                kind, length = _codec.HEADER.unpack_from(self.rbuf, 0)
                if length > _codec.MAX_MESSAGE_BYTES:
                    raise _Died(f"protocol violation: a {length}-byte reply is over the limit")
                need = header + length
                if len(self.rbuf) >= need:
                    payload = self.rbuf[header:need]
                    del self.rbuf[:need]
                    return kind, payload
            left = deadline - time.monotonic()
            if left <= 0 or not self.poller.poll(left * 1000):
                raise _Expired()
            try:
                chunk = os.read(self.fd_read, max(need - len(self.rbuf), 1 << 16))
            except OSError:
                chunk = b""
            if not chunk:
                raise _Died()
            self.rbuf += chunk

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - unkillable
            pass
        for fd in (self.fd_write, self.fd_read):
            try:
                os.close(fd)
            except OSError:
                pass

    def log_tail(self, lines: int = 3) -> str:
        try:
            with open(self.log, "rb") as f:
                f.seek(max(0, f.seek(0, 2) - 4096))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        tail = [ln.strip()[:160] for ln in text.splitlines() if ln.strip()][-lines:]
        return " | ".join(tail)


class IsolatedImplementation(Implementation):
    """A submission (``.py`` or ``.ipynb``) run in a child process, under ``limits``.

    The constructor starts the child and sends the submission; loading goes on in the background until the
    first question (:meth:`names`, :meth:`invoke`, ...), so several submissions can load side by side.
    """

    def __init__(self, path: Path, *, limits: Limits) -> None:
        self.path = Path(path)
        self.label = str(path)
        self.limits = limits
        self._problems: list[LoadProblem] = []
        self._events: list[str] = []
        self._names: frozenset[str] = frozenset()
        self._released: list[tuple[int, int]] = []
        self._callbacks: dict[int, Callable[..., Any]] = {}
        self._depth = 0
        self._gen = 0
        self._spent = 0.0
        self._exhausted = False
        self._broken: str | None = None
        self._loaded_once = False
        self._child: _Child | None = None
        self._loading = False
        self._closed = False
        self._scratch = Path(tempfile.mkdtemp(prefix="vicheck-scratch-"))
        self._logdir = Path(tempfile.mkdtemp(prefix="vicheck-log-"))
        self._copy = self._scratch / self.path.name
        shutil.copyfile(self.path, self._copy)
        (self._scratch / "tmp").mkdir()
        self._load_message = self._prepare_load()
        if self._broken is None:
            self._spawn()

    # ------------------------------------------------------------------------------------------- loading
    def _prepare_load(self) -> dict[str, Any]:
        from reference.contract import NAMES

        cells: list[tuple[int, str]] | None = None
        source = ""
        sources: list[tuple[str, str]] = []
        if self.path.suffix == ".ipynb":
            try:
                import nbformat

                nb = nbformat.read(str(self.path), as_version=4)
                cells = [(i, str(c.source)) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
            except Exception as exc:
                self._broken = f"the notebook could not be read ({type(exc).__name__})"
                self._problems.append(LoadProblem("notebook", type(exc).__name__, str(exc).splitlines()[0][:300]))
                cells = []
            for index, text in cells:
                sources.append((f"cell {index}", clean_cell(text) or ""))
        else:
            source = self.path.read_text(encoding="utf-8", errors="replace")
            sources.append(("", source))
        for where, text in sources:
            for line, src in scan_blocked_imports(text):
                self._problems.append(LoadProblem(where or f"line {line}", "ImportError", BLOCKED_MESSAGE, src))
        return {
            "op": "load",
            "filename": str(self._copy),
            "source": source,
            "cells": cells,
            "names": list(NAMES),
            "aliases": dict(self.limits.aliases),
        }

    def _spawn(self) -> None:
        import vicheck

        self._gen += 1
        log = self._logdir / f"child-{self._gen}.log"
        remaining = self.limits.submission_seconds - self._spent
        config = {
            "memory_mb": self.limits.memory_mb,
            "fsize_mb": FSIZE_MB,
            "cpu_seconds": math.ceil(max(remaining, 1.0)) + 10,
            "codec": str(CODEC_SCRIPT),
            "strip_paths": [str(Path(vicheck.__file__).resolve().parent.parent)],
        }
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self._scratch),
            "TMPDIR": str(self._scratch / "tmp"),
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": str(self._scratch / ".matplotlib"),
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "LANG": "C.UTF-8",
        }
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        for fd in (down_w, up_w):  # larger pipes: fewer context switches for big tensors
            try:
                fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
            except OSError:
                pass
        try:
            with open(log, "wb") as logf:
                proc = subprocess.Popen(
                    [sys.executable, "-I", str(CHILD_SCRIPT), str(down_r), str(up_w), json.dumps(config)],
                    cwd=self._scratch,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=logf,
                    stderr=subprocess.STDOUT,
                    pass_fds=(down_r, up_w),
                    start_new_session=True,
                )
        finally:
            os.close(down_r)
            os.close(up_w)
        os.set_blocking(down_w, False)
        self._child = _Child(proc, down_w, up_r, log, self._gen)
        self._child.send_some(self._frame(self._load_message))
        self._loading = True

    def _wait_loaded(self, call: str) -> _Child:
        """The child, loaded; starts one first when there is none (after a crash or a time-out)."""
        if self._closed:
            raise SubmissionCrashed(call, "the implementation was closed")
        if self._exhausted:
            raise TimeLimitExhausted(self.limits.submission_seconds)
        if self._broken is not None:
            raise SubmissionCrashed(call, self._broken)
        restart = self._child is None
        if restart:
            self._spawn()
        child = self._child
        assert child is not None
        if not self._loading:
            return child
        budget_left = self.limits.submission_seconds - self._spent
        limit = min(self.limits.load_seconds, budget_left)
        deadline = child.started + limit
        try:
            child.send(b"", deadline)
            kind, payload = child.receive(deadline)
            body = self._decode(kind, payload, ())
            if body["op"] != "loaded":
                raise _Died("protocol violation: no load report")
            names, problems = body.get("names"), body.get("problems")
            if not isinstance(names, list) or not isinstance(problems, list):
                raise _Died("protocol violation: bad load report")
        except (_Expired, _Died) as exc:
            elapsed = time.monotonic() - child.started
            self._spent += elapsed
            self._stop()
            if isinstance(exc, _Expired) and limit < self.limits.load_seconds:
                self._exhausted = True
                self._events.append(f"time limit of {self.limits.submission_seconds:g} s exhausted while loading")
                raise TimeLimitExhausted(self.limits.submission_seconds) from None
            if isinstance(exc, _Expired):
                detail = f"loading did not finish within {self.limits.load_seconds:g} s (load time limit)"
                kind_name = "LoadTimeout"
            else:
                detail = exc.detail or _exit_detail(child.proc.returncode)
                tail = child.log_tail()
                detail += f"; last output: {tail}" if tail else ""
                kind_name = "SubmissionCrashed"
            self._broken = f"loading failed: {detail}"
            if not self._loaded_once:
                self._problems.append(LoadProblem("load", kind_name, detail))
            self._events.append(f"loading {self.path.name} failed: {detail}")
            raise SubmissionCrashed(call, self._broken) from None
        elapsed = time.monotonic() - child.started
        self._spent += elapsed
        self._loading = False
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
            self._events.append(f"child restarted: {self.path.name} reloaded in {elapsed:.1f} s")
        return child

    def _stop(self) -> None:
        if self._child is not None:
            self._child.kill()
            self._child = None
        self._loading = False
        self._rbind_cache_clear()

    def _rbind_cache_clear(self) -> None:
        self._released.clear()
        self._callbacks.clear()

    # ------------------------------------------------------------------------------------------- protocol
    def _frame(self, message: dict[str, Any]) -> bytes:
        buf = io.BytesIO()
        _Pickler(buf, self).dump(message)
        return _codec.frame(b"P", buf.getvalue())

    def _decode(self, kind: bytes, payload: bytearray, origin: tuple[Any, ...]) -> dict[str, Any]:
        if kind != b"J":
            raise _Died("protocol violation: the child sent a frame that is not data")
        gen = self._gen

        def make_handle(info: dict[str, Any], path: tuple[Any, ...]) -> RemoteObject:
            if not origin or path[0] != "value":  # e.g. the arguments of a callback: not re-creatable
                return RemoteObject(self, info, gen, ("lost",))
            return RemoteObject(self, info, gen, (*origin, path[1:]))

        try:
            return _codec.decode_message(payload, make_handle)
        except _codec.ProtocolError as exc:
            raise _Died(f"protocol violation: {exc}") from None

    def _register_callback(self, func: Callable[..., Any]) -> int:
        cbid = len(self._callbacks) + 1
        self._callbacks[cbid] = func
        return cbid

    def _bind(self, remote: RemoteObject) -> int:
        """The id of ``remote`` in the current child, re-creating the object after a restart."""
        if remote._impl is not self:
            raise ValueError("a RemoteObject of another implementation cannot be passed here")
        if remote._gen == self._gen and self._child is not None:
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
        object.__setattr__(remote, "_id", value._id)
        object.__setattr__(remote, "_gen", value._gen)
        object.__setattr__(value, "_gen", -1)  # its id now belongs to ``remote``
        return int(remote._id)

    def _request(self, message: dict[str, Any], call: str, origin: tuple[Any, ...]) -> Any:
        """Send a request, serve callbacks until the reply, and turn the reply into a value or an error."""
        child = self._wait_loaded(call)
        gen = self._gen
        if self._released:
            message["release"] = [hid for g, hid in self._released if g == gen]
            self._released.clear()
        data = self._frame(message)
        if self._gen != gen or self._child is not child:  # a handle was re-created by a restart meanwhile
            return self._request(message, call, origin)
        budget_left = self.limits.submission_seconds - self._spent
        limit = min(self.limits.call_seconds, budget_left)
        start = time.monotonic()
        deadline = start + limit
        excluded = 0.0
        self._depth += 1
        try:
            child.send(data, deadline)
            while True:
                kind, payload = child.receive(deadline)
                body = self._decode(kind, payload, origin)
                if body["op"] != "cb":
                    break
                t0 = time.monotonic()
                reply = self._run_callback(body, gen)
                took = time.monotonic() - t0
                deadline += took
                excluded += took
                child.send(reply, deadline)
        except _Expired:
            self._spent += time.monotonic() - start - excluded
            self._stop()
            if limit < self.limits.call_seconds:
                self._exhausted = True
                self._events.append(
                    f"time limit of {self.limits.submission_seconds:g} s exhausted during {call}; child stopped"
                )
                raise TimeLimitExhausted(self.limits.submission_seconds) from None
            self._events.append(f"{call} timed out after {self.limits.call_seconds:g} s; child restarted")
            raise CallTimeout(call, self.limits.call_seconds) from None
        except _Died as exc:
            self._spent += time.monotonic() - start - excluded
            self._stop()
            detail = exc.detail or _exit_detail(child.proc.returncode)
            tail = child.log_tail()
            detail += f"; last output: {tail}" if tail else ""
            self._events.append(f"{call} crashed the child ({detail}); child restarted")
            raise SubmissionCrashed(call, detail) from None
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._callbacks.clear()
        self._spent += time.monotonic() - start - excluded
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

    def _run_callback(self, body: dict[str, Any], gen: int) -> bytes:
        """Run the grader function the child called back; its result (pickled) or its error, as a frame."""
        func = self._callbacks.get(body.get("id"))  # type: ignore[arg-type]
        args, kwargs = body.get("args"), body.get("kwargs")
        try:
            if func is None:
                raise LookupError("the function passed to an earlier call is no longer available")
            if not isinstance(args, tuple) or not isinstance(kwargs, dict):
                raise TypeError("bad callback arguments")
            value = func(*args, **kwargs)
            return self._frame({"op": "cbret", "value": value})
        except Exception as exc:
            if self._gen != gen:  # a nested call killed the child: the outer call cannot go on
                raise
            text = str(exc).splitlines()[0][:300] if str(exc) else ""
            return self._frame({"op": "cberr", "message": f"{type(exc).__name__}: {text}"})

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

    def events(self) -> list[str]:
        return list(self._events)

    @property
    def seconds_spent(self) -> float:
        """Wall-clock seconds the submission has used of its budget (load and calls, not callbacks)."""
        return self._spent

    @property
    def scratch(self) -> Path:
        """The child's working folder (deleted by :meth:`close`)."""
        return self._scratch

    def log_text(self) -> str:
        """What the current (or last) child printed, at most the last 64 KiB."""
        logs = sorted(self._logdir.glob("child-*.log"), key=lambda p: int(p.stem.split("-")[1]))
        if not logs:
            return ""
        with open(logs[-1], "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 65536))
            return f.read().decode("utf-8", "replace")

    def close(self) -> None:
        """Stop the child (its whole process group) and delete the scratch folder and logs."""
        if self._closed:
            return
        self._closed = True
        self._stop()
        shutil.rmtree(self._scratch, ignore_errors=True)
        shutil.rmtree(self._logdir, ignore_errors=True)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
