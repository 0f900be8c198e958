"""The child program that runs an untrusted submission (``python -I _child.py FD_IN FD_OUT CONFIG``).

It imports only the standard library, torch and numpy (and ``_codec.py`` beside it, by path), never the
grader's packages. It sets its resource limits, loads the submission sent by the parent (a ``.py`` source
or a notebook's code cells), answers with the contract names found and the load problems, then serves
requests until the parent closes the pipe: ``get`` a dotted name, ``attr`` of a handle, ``call`` a name or
a handle. Requests are pickles (trusted); replies are data-only ``J`` frames (see ``_codec.py``).

The notebook executor (:func:`run_cells`, :func:`clean_cell`) and :func:`run_module` are shared with the
in-process loader (``vicheck.sandbox.notebook``), which imports this file as a module.
"""

from __future__ import annotations

import os
import sys
import traceback
import types
from typing import Any

BLOCKED = ("reference", "properties", "vicheck", "benchmarks", "conftest", "tests")
BLOCKED_MESSAGE = "the grader's packages cannot be imported by a submission"

Problem = tuple[str, str, str, str]  # where, exc type, message, source line


# ------------------------------------------------------------------------------------------ the executor


def first_line(text: str) -> str:
    """The first non-empty line of ``text`` (at most 300 characters)."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""


def exc_message(exc: BaseException) -> str:
    """First line of ``str(exc)``, never raising (a hostile ``__str__`` gives a placeholder)."""
    try:
        return first_line(str(exc))
    except BaseException:
        return "<message could not be read>"


def clean_cell(source: str) -> str | None:
    """A notebook cell's source without IPython syntax: ``None`` for a ``%%`` cell magic, otherwise line
    magics (``%...``) and shell lines (``!...``) replaced by ``pass`` at the same indentation."""
    lines = source.splitlines()
    stripped = [ln.lstrip() for ln in lines]
    if any(s for s in stripped) and next(s for s in stripped if s).startswith("%%"):
        return None
    out = []
    for line, s in zip(lines, stripped, strict=True):
        if s.startswith(("%", "!")):
            out.append(line[: len(line) - len(s)] + "pass")
        else:
            out.append(line)
    return "\n".join(out)


def _error_line(exc: BaseException, filename: str) -> int:
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        return exc.lineno or 0
    line, tb = 0, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def run_module(source: str, filename: str, namespace: dict[str, Any]) -> list[Problem]:
    """Execute a ``.py`` source in ``namespace``; an error stops it and is returned as ``("line N", ...)``."""
    try:
        exec(compile(source, filename, "exec"), namespace)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt at import are problems too
        line = _error_line(exc, filename)
        lines = source.splitlines()
        src = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        return [(f"line {line}", type(exc).__name__, exc_message(exc), src)]
    return []


def run_cells(cells: list[tuple[int, str]], namespace: dict[str, Any]) -> list[Problem]:
    """Execute notebook code cells ``(index, source)`` one by one in ``namespace``, as a kernel would
    (without IPython): a cell that raises is returned as ``("cell N", ...)`` and the next one runs."""
    problems: list[Problem] = []
    for index, source in cells:
        code = clean_cell(source)
        if code is None or not code.strip():
            continue
        try:
            exec(compile(code, f"<cell {index}>", "exec"), namespace)
        except BaseException as exc:
            problems.append((f"cell {index}", type(exc).__name__, exc_message(exc), first_line(source)))
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            try:
                plt.close("all")
            except Exception:
                pass
    return problems


def contract_names(namespace: dict[str, Any], names: list[str], aliases: dict[str, str]) -> list[str]:
    """The contract names whose (aliased) name is bound in ``namespace``."""
    return [n for n in names if aliases.get(n, n) in namespace]


class BlockGraderPackages:
    """A ``sys.meta_path`` finder refusing the grader's own packages."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] in BLOCKED:
            raise ImportError(BLOCKED_MESSAGE, name=name)
        return None


# --------------------------------------------------------------------------------------- the child process


def _set_limits(config: dict[str, Any]) -> None:
    import resource
    import signal

    def cap(which: int, value: int, hard: int | None = None) -> None:
        try:
            resource.setrlimit(which, (value, value if hard is None else hard))
        except (ValueError, OSError):
            pass

    cap(resource.RLIMIT_AS, int(config["memory_mb"]) * 2**20)
    cap(resource.RLIMIT_FSIZE, int(config["fsize_mb"]) * 2**20)
    cap(resource.RLIMIT_CPU, int(config["cpu_seconds"]), int(config["cpu_seconds"]) + 5)
    cap(resource.RLIMIT_CORE, 0)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it: a write past the limit now kills


class Child:
    """The request loop: a namespace holding the submission, a table of handles, two pipe ends."""

    def __init__(self, fd_in: int, fd_out: int, codec: types.ModuleType) -> None:
        import pickle
        import random

        import numpy as np
        import torch

        self.fd_in, self.fd_out, self.codec = fd_in, fd_out, codec
        import io

        self.pickle, self.io = pickle, io
        self.unpickler = self._make_unpickler()
        # the real seeding functions, kept before the submission can replace them
        self.seeders = (torch.manual_seed, random.seed, np.random.seed)
        self.namespace: dict[str, Any] = {}
        self.aliases: dict[str, str] = {}
        self.handles: dict[int, Any] = {}
        self.next_id = 1

    # -- framing
    def read_exact(self, n: int) -> bytes:
        chunks, got = [], 0
        while got < n:
            chunk = os.read(self.fd_in, min(n - got, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def read(self) -> dict[str, Any]:
        kind, length = self.codec.HEADER.unpack(self.read_exact(self.codec.HEADER.size))
        if kind != b"P":
            raise EOFError  # not from the grader: stop
        return self.unpickler(self.io.BytesIO(self.read_exact(length))).load()  # type: ignore[no-any-return]

    def _make_unpickler(self) -> type:
        child = self

        class Unpickler(self.pickle.Unpickler):  # type: ignore[name-defined,misc]
            def persistent_load(self, pid: Any) -> Any:
                if pid[0] == "h":
                    try:
                        return child.handles[pid[1]]
                    except KeyError:
                        raise ValueError(f"unknown handle {pid[1]} (it was released)") from None
                if pid[0] == "cb":
                    return child.callback(pid[1], pid[2])
                raise ValueError(f"unknown persistent id {pid!r}")

        return Unpickler

    def write(self, message: dict[str, Any], values: dict[str, Any] | None = None) -> None:
        data = self.codec.encode_message(message, values or {}, self.handle)
        view = memoryview(data)
        while view:
            n = os.write(self.fd_out, view)
            view = view[n:]

    # -- handles and callbacks
    def handle(self, obj: Any) -> dict[str, Any]:
        hid, self.next_id = self.next_id, self.next_id + 1
        self.handles[hid] = obj
        try:
            text = repr(obj)[:200]
        except BaseException:
            text = "<unrepresentable>"
        name = getattr(obj, "__qualname__", None) if callable(obj) else None
        tp = type(obj)
        return {
            "$": "h",
            "id": hid,
            "type": f"{tp.__module__}.{tp.__qualname__}"[:200],
            "name": name[:200] if isinstance(name, str) else "",
            "repr": text,
            "callable": callable(obj),
        }

    def callback(self, cbid: int, name: str) -> Any:
        child = self

        class CallbackError(Exception):
            """The grader's function passed as an argument raised."""

        def call_parent(*args: Any, **kwargs: Any) -> Any:
            child.write({"op": "cb", "id": cbid}, {"args": args, "kwargs": kwargs})
            reply = child.serve(until_reply=True)
            if reply["op"] == "cberr":
                raise CallbackError(reply["message"])
            return reply["value"]

        call_parent.__name__ = call_parent.__qualname__ = name
        return call_parent

    # -- requests
    def resolve(self, path: str) -> Any:
        head, _, rest = path.partition(".")
        key = self.aliases.get(head, head)
        if key not in self.namespace:
            raise LookupError(head)
        obj = self.namespace[key]
        for part in rest.split(".") if rest else []:
            obj = getattr(obj, part)
        return obj

    def run(self, msg: dict[str, Any]) -> None:
        for hid in msg.get("release", ()):
            self.handles.pop(hid, None)
        op = msg["op"]
        try:
            if op == "get" or (op == "call" and isinstance(msg["target"], str)):
                try:
                    target = self.resolve(msg["target"])
                except LookupError as exc:
                    self.write({"op": "missing", "name": str(exc.args[0])})
                    return
            else:
                target = msg["target"]
            if op == "get":
                result = target
            elif op == "attr":
                result = getattr(target, msg["name"])
            else:
                if msg.get("seed") is not None:
                    seed = msg["seed"]
                    self.seeders[0](seed)
                    self.seeders[1](seed)
                    self.seeders[2](seed % 2**32)
                result = target(*msg["args"], **msg["kwargs"])
        except BaseException as exc:  # the submission's error (SystemExit included), reported as data
            tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
            self.write(
                {"op": "err", "type": type(exc).__name__, "message": exc_message(exc), "tb": "".join(tb)[-1500:]}
            )
            return
        self.write({"op": "ret"}, {"value": result})

    def serve(self, until_reply: bool = False) -> dict[str, Any]:
        while True:
            msg = self.read()
            if msg["op"] in ("cbret", "cberr"):
                if until_reply:
                    return msg
                raise RuntimeError("callback reply outside a callback")
            if msg["op"] == "exit":
                os._exit(0)
            self.run(msg)

    def load(self, msg: dict[str, Any]) -> None:
        self.aliases = dict(msg["aliases"])
        module = types.ModuleType("__submission__")
        module.__file__ = msg["filename"]
        sys.modules["__submission__"] = module
        self.namespace = module.__dict__
        if msg["cells"] is not None:
            problems = run_cells(msg["cells"], self.namespace)
        else:
            problems = run_module(msg["source"], msg["filename"], self.namespace)
        names = contract_names(self.namespace, msg["names"], self.aliases)
        self.write({"op": "loaded", "names": names, "problems": [list(p) for p in problems]})


def _isolate_imports(config: dict[str, Any]) -> None:
    """Refuse the grader's packages: a blocking finder first, editable-install finders and project paths out."""
    roots = set(config.get("strip_paths", ()))
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) not in roots]
    sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith("__editable__")]
    sys.meta_path.insert(0, BlockGraderPackages())
    for name in list(sys.modules):
        if name.partition(".")[0] in BLOCKED:
            del sys.modules[name]


def main(argv: list[str]) -> None:
    """Entry point: ``argv = [FD_IN, FD_OUT, CONFIG_JSON]``."""
    import importlib.util
    import json

    fd_in, fd_out, config = int(argv[0]), int(argv[1]), json.loads(argv[2])
    _set_limits(config)
    import numpy  # noqa: F401 - imported before the submission can shadow it
    import torch

    torch.set_num_threads(1)
    spec = importlib.util.spec_from_file_location("_vicheck_codec", config["codec"])
    assert spec is not None and spec.loader is not None
    codec = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(codec)
    _isolate_imports(config)
    child = Child(fd_in, fd_out, codec)
    try:
        child.load(child.read())
        child.serve()
    except EOFError:
        pass
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
