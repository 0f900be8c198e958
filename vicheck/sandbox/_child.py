"""The child program that runs an untrusted submission (``python -I _child.py FD_IN FD_OUT CONFIG``).

It imports only the standard library, torch and numpy, and two files of the grader's by path (the wire
format ``_codec.py`` and the notebook executor ``_cells.py``), never the grader's packages. It sets its
resource limits, loads the submission sent by the parent (a ``.py`` source or a notebook's code cells),
answers with the contract names found and the load problems, then serves requests until the parent closes
the pipe: ``get`` a dotted name, ``attr`` of a handle, ``call`` a name or a handle. Requests are pickles
(trusted); replies are data-only ``J`` frames (see ``_codec.py``). The parent starts it in a jail
(``vicheck.sandbox.jail``); it needs nothing outside its scratch folder but the interpreter.
"""

from __future__ import annotations

import os
import sys
import traceback
import types
from collections.abc import Callable
from typing import Any

BLOCKED = ("reference", "properties", "vicheck", "benchmarks", "conftest", "tests")
BLOCKED_MESSAGE = "the grader's packages cannot be imported by a submission"

Problem = tuple[str, str, str, str]  # where, exc type, message, source line


# ------------------------------------------------------------------------------------------ the executor


def _error_line(exc: BaseException, filename: str) -> int:
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        return exc.lineno or 0
    line, tb = 0, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def run_module(
    source: str, filename: str, namespace: dict[str, Any], exc_message: Callable[[BaseException], str]
) -> list[Problem]:
    """Execute a ``.py`` source in ``namespace``; an error stops it and is returned as ``("line N", ...)``,
    its message read by ``exc_message`` (``_cells.exc_message``, which no hostile ``__str__`` can break)."""
    try:
        exec(compile(source, filename, "exec"), namespace)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt at import are problems too
        line = _error_line(exc, filename)
        lines = source.splitlines()
        src = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        return [(f"line {line}", type(exc).__name__, exc_message(exc), src)]
    return []


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
    """Apply the rlimits the parent computed (``vicheck.sandbox.limits.child_rlimits``)."""
    import resource
    import signal

    for name, (soft, hard) in config["rlimits"].items():
        try:
            resource.setrlimit(getattr(resource, name), (soft, hard))
        except (ValueError, OSError, AttributeError):
            pass
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it: a write past the limit now kills


class Child:
    """The request loop: a namespace holding the submission, a table of handles, two pipe ends."""

    def __init__(self, fd_in: int, fd_out: int, codec: types.ModuleType, cells: types.ModuleType) -> None:
        import pickle
        import random

        import numpy as np
        import torch

        self.fd_in, self.fd_out, self.codec, self.cells = fd_in, fd_out, codec, cells
        import io

        self.pickle, self.io = pickle, io
        self.unpickler = self._make_unpickler()
        # the real seeding functions, kept before the submission can replace them
        # torch.manual_seed also queues a lazy CUDA seeding, capturing a Python stack each time (a tenth of
        # the child's time on the lecture's code): seed the CPU generator, and CUDA only once it is in use
        cpu_seed, cuda = torch.default_generator.manual_seed, torch.cuda

        def seed_torch(seed: int) -> None:
            cpu_seed(seed)
            if cuda.is_initialized():
                cuda.manual_seed_all(seed)

        self.seeders = (seed_torch, random.seed, np.random.seed)
        # an interpreter seeds these from the OS as it starts (torch too, since 2.x): every child, fresh or
        # forked from a zygote, starts from seed 0 instead, so that a call made without a seed is as
        # reproducible as the rest of the report
        for seeder in self.seeders:
            seeder(0)
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

        class Unpickler(self.pickle.Unpickler):  # type: ignore[name-defined]
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
            message = self.cells.exc_message(exc)
            self.write({"op": "err", "type": type(exc).__name__, "message": message, "tb": "".join(tb)[-1500:]})
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
            problems = self.cells.run_cells(msg["cells"], self.namespace, keep_shell=True)
        else:
            problems = run_module(msg["source"], msg["filename"], self.namespace, self.cells.exc_message)
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


def prepare(config: dict[str, Any]) -> tuple[types.ModuleType, types.ModuleType]:
    """Everything before the submission: numpy and torch imported, the grader's two files loaded by path
    (the wire format and the notebook executor), the grader's packages made unimportable. A zygote
    (``_zygote.py``) runs this once and forks a child per submission; a fresh child runs it itself."""
    import importlib.util

    import numpy  # noqa: F401 - imported before the submission can shadow it
    import torch

    torch.set_num_threads(1)
    # the vector instruction set torch's kernels use is decided once, reading /proc/cpuinfo: decide it now,
    # as a fresh child would at its first operation (a zygote's children, forked later, share the decision:
    # the same kernels, the same float32 rounding, whatever their own /proc shows)
    torch.backends.cpu.get_cpu_capability()

    def by_path(name: str, path: str) -> types.ModuleType:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    codec = by_path("_vicheck_codec", config["codec"])
    # the notebook executor, also the reader of exception messages: the standard library only at module
    # level (IPython is imported when a notebook runs)
    cells = by_path("_vicheck_cells", config["cells"])
    _isolate_imports(config)
    return codec, cells


def serve_submission(fd_in: int, fd_out: int, codec: types.ModuleType, cells: types.ModuleType) -> None:
    """Load the submission the parent sends, answer its requests until the pipe closes, exit."""
    child = Child(fd_in, fd_out, codec, cells)
    try:
        child.load(child.read())
        child.serve()
    except EOFError:
        pass
    os._exit(0)


def main(argv: list[str]) -> None:
    """Entry point: ``argv = [FD_IN, FD_OUT, CONFIG_JSON]``."""
    import json

    fd_in, fd_out, config = int(argv[0]), int(argv[1]), json.loads(argv[2])
    _set_limits(config)
    codec, cells = prepare(config)
    serve_submission(fd_in, fd_out, codec, cells)


if __name__ == "__main__":
    main(sys.argv[1:])
