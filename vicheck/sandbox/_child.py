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


class Tracer:
    """Which contract names a call into the submission reached: each contract name bound to a plain function
    is replaced, in the submission's own namespace, by a wrapper (``functools.wraps``: name, docstring,
    signature and ``__wrapped__`` as the original's) that counts the call and calls the original. The
    submission's functions call each other through that namespace, so a call records its actual call graph.
    One wrapper per function object (an alias stays the same object as what it aliases), named by its first
    contract name; a name the student rebinds later is simply not traced. The wrapper does nothing that can
    raise but counting in a dict of ``str`` keys it owns, and it adds one frame to a traceback.

    Data names (``flips``, ``posterior``, ``T``: no call to wrap) are counted statically: a function's run
    counts the data names its code refers to as globals and the contract names the globals it refers to were
    computed from by top-level assignments (``posterior = Beta(1 + flips.sum(), ...)``: ``posterior`` reaches
    ``flips``), transitively; so does the grader's request for a data name."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        #: contract data name -> the contract names its value was computed from (transitively)
        self.data: dict[str, tuple[str, ...]] = {}
        #: the contract names bound to something other than a plain function
        self.data_names: frozenset[str] = frozenset()

    def wrap(self, fn: Callable[..., Any], name: str, refs: tuple[str, ...]) -> Callable[..., Any]:
        import functools

        tracer = self

        def traced(*args: Any, **kwargs: Any) -> Any:
            counts = tracer.counts
            counts[name] = counts.get(name, 0) + 1
            for ref in refs:
                counts[ref] = counts.get(ref, 0) + 1
            return fn(*args, **kwargs)

        return functools.wraps(fn)(traced)

    def install(
        self, namespace: dict[str, Any], names: list[str], aliases: dict[str, str], sources: list[str]
    ) -> list[str]:
        """Wrap the plain functions bound to contract ``names`` (aliases applied) in ``namespace``, after
        reading which data names depend on which in ``sources`` (the module's or the cells' code); the
        names wrapped."""
        contract = {aliases.get(n, n): n for n in reversed(names)}  # the name in the code -> contract name
        functions = {k for k in contract if type(namespace.get(k)) is types.FunctionType}
        depends = _data_dependencies(sources, contract)
        self.data = {contract[k]: v for k, v in depends.items() if k in contract and k not in functions}
        self.data_names = frozenset(contract[k] for k in contract if k in namespace and k not in functions)
        wrapped: dict[int, Callable[..., Any]] = {}
        done = []
        for name in names:
            key = aliases.get(name, name)
            fn = namespace.get(key)
            if type(fn) is not types.FunctionType:
                continue
            try:
                if id(fn) not in wrapped:
                    names_read = _global_names(fn.__code__) - functions
                    refs = {contract[g] for g in names_read if g in contract}
                    for g in names_read:
                        refs.update(depends.get(g, ()))
                    wrapped[id(fn)] = self.wrap(fn, name, tuple(sorted(refs - {name})))
                namespace[key] = wrapped[id(fn)]
                done.append(name)
            except Exception:  # a function whose attributes cannot be copied stays as it is, untraced
                continue
        return done

    def reach_data(self, name: str, counts: dict[str, int]) -> None:
        """Count a data name the grader asked for (a function counts itself when called), with what it was
        computed from."""
        if name in self.data_names:
            for ref in (name, *self.data.get(name, ())):
                counts[ref] = counts.get(ref, 0) + 1

    def start(self) -> dict[str, int]:
        """Start counting a call: the counts of the call this one is nested in (a callback's), to restore."""
        outer, self.counts = self.counts, {}
        return outer

    def stop(self, outer: dict[str, int]) -> dict[str, int]:
        """The counts of the call that ends, the outer call's restored."""
        counts, self.counts = self.counts, outer
        return counts


def _global_names(code: types.CodeType) -> set[str]:
    """The global (and attribute) names ``code`` and the code nested in it refer to."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _data_dependencies(sources: list[str], contract: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """Top-level name (as the code spells it) -> the contract names its top-level assignments in ``sources``
    read, directly or through other top-level names (``heads = flips.sum()``: ``heads`` reaches ``flips``)."""
    import ast

    direct: dict[str, set[str]] = {}
    for source in sources:
        try:
            tree = ast.parse(source)
        except Exception:  # a cell with IPython syntax, code nested too deep: its assignments are not read
            continue
        for node in tree.body:
            if not isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) or node.value is None:
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            read = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
            for target in targets:
                for n in ast.walk(target):
                    if isinstance(n, ast.Name):
                        direct.setdefault(n.id, set()).update(read - {n.id})
    closed: dict[str, tuple[str, ...]] = {}
    for key in direct:
        seen: set[str] = set()
        stack = list(direct[key])
        while stack:
            other = stack.pop()
            if other not in seen:
                seen.add(other)
                stack.extend(direct.get(other, ()))
        reached = {contract[k] for k in seen if k in contract} - {contract.get(key)}
        if reached:
            closed[key] = tuple(sorted(reached))
    return closed


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
        self.tracer: Tracer | None = None

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
        traced: dict[str, int] = {}
        try:
            if op == "get" or (op == "call" and isinstance(msg["target"], str)):
                try:
                    target = self.resolve(msg["target"])
                except LookupError as exc:
                    self.write({"op": "missing", "name": str(exc.args[0])})
                    return
                if self.tracer is not None:
                    self.tracer.reach_data(msg["target"].partition(".")[0], traced)
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
                result = self.call(target, msg["args"], msg["kwargs"], traced)
        except BaseException as exc:  # the submission's error (SystemExit included), reported as data
            tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
            message = self.cells.exc_message(exc)
            reply = {"op": "err", "type": type(exc).__name__, "message": message, "tb": "".join(tb)[-1500:]}
            if traced:
                reply["reached"] = traced
            self.write(reply)
            return
        reply = {"op": "ret", "reached": traced} if traced else {"op": "ret"}
        self.write(reply, {"value": result})

    def call(self, target: Any, args: Any, kwargs: Any, traced: dict[str, int]) -> Any:
        """``target(*args, **kwargs)``, the contract functions it reached counted into ``traced``."""
        if self.tracer is None:
            return target(*args, **kwargs)
        outer = self.tracer.start()
        try:
            return target(*args, **kwargs)
        finally:
            for name, n in self.tracer.stop(outer).items():
                traced[name] = traced.get(name, 0) + n

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
        if msg.get("trace", True):
            try:
                clean = self.cells.clean_source_for_scan  # IPython syntax (magics, !commands) left out
                cells = msg["cells"]
                sources = [clean(text) for _, text in cells] if cells is not None else [msg["source"]]
                self.tracer = Tracer()
                self.tracer.install(self.namespace, names, self.aliases, sources)
            except Exception:  # whatever the code, grading goes on, untraced
                self.tracer = None
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
