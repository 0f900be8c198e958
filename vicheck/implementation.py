"""An implementation of the lecture's contract, as the property suite sees it.

Properties never touch a submission's objects directly: they ask an :class:`Implementation` for a name
(:meth:`Implementation.get`) and call through it (:meth:`Implementation.invoke`), which seeds the random
generators where the code runs and turns whatever goes wrong into a :class:`SubmissionProblem` that names
the function and the input. Two kinds exist:

* :class:`InProcessImplementation` - the reference, or a module the user trusts, called directly;
* ``vicheck.sandbox.IsolatedImplementation`` - a submission run in a child process; values come back
  as plain data (tensors, floats) and anything else as a remote handle.
"""

from __future__ import annotations

import importlib
import importlib.util
import random
import types
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Implementation",
    "InProcessImplementation",
    "SubmissionProblem",
    "MissingName",
    "CallFailed",
    "CallTimeout",
    "SubmissionCrashed",
    "TimeLimitExhausted",
    "LoadProblem",
    "Limits",
    "load_implementation",
    "resolve_submission_path",
    "classify_spec",
    "seed_everything",
]


class SubmissionProblem(Exception):
    """Something about the submission (not the grader) went wrong; ``str()`` is the one-line message."""


class MissingName(SubmissionProblem):
    """The submission defines no object of this contract name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"submission defines no `{name}`")


class CallFailed(SubmissionProblem):
    """The submission's code raised: ``exc_type``/``exc_message`` as text, ``traceback`` its tail."""

    def __init__(self, call: str, exc_type: str, exc_message: str, traceback: str = "") -> None:
        self.call, self.exc_type, self.exc_message, self.traceback = call, exc_type, exc_message, traceback
        super().__init__(f"{call} raised {exc_type}: {exc_message}")


class CallTimeout(SubmissionProblem):
    """A call ran past the per-call time limit and was stopped."""

    def __init__(self, call: str, seconds: float) -> None:
        self.call, self.seconds = call, seconds
        super().__init__(f"{call} did not return within {seconds:g} s (per-call time limit); it was stopped")


class SubmissionCrashed(SubmissionProblem):
    """The process running the submission died (exit, signal, memory limit) during a call or at load."""

    def __init__(self, call: str, detail: str) -> None:
        self.call, self.detail = call, detail
        super().__init__(f"the submission's process died during {call}: {detail}")


class TimeLimitExhausted(SubmissionProblem):
    """The per-submission time budget is spent; no more calls are made."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"the submission's time limit ({seconds:g} s in all) is exhausted; call not made")


@dataclass(frozen=True)
class LoadProblem:
    """An error while loading the submission: ``where`` is e.g. ``"line 12"`` or ``"cell 3"``."""

    where: str
    exc_type: str
    message: str
    source_line: str = ""

    def __str__(self) -> str:
        line = f" (`{self.source_line.strip()}`)" if self.source_line.strip() else ""
        return f"{self.where}{line}: {self.exc_type}: {self.message}"


@dataclass(frozen=True)
class Limits:
    """Resource limits for an isolated submission (ignored in process)."""

    call_seconds: float = 60.0
    submission_seconds: float = 900.0
    load_seconds: float = 300.0
    memory_mb: int = 2048
    aliases: dict[str, str] = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and :mod:`random` with ``seed`` (what a property asks for before each call)."""
    import numpy as np
    import torch

    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


class Implementation(ABC):
    """What a property may ask of an implementation."""

    label: str

    @abstractmethod
    def names(self) -> frozenset[str]:
        """Every contract name the implementation defines (aliases applied)."""

    def has(self, name: str) -> bool:
        return name in self.names()

    @abstractmethod
    def get(self, name: str) -> Any:
        """The object bound to a contract name; :class:`MissingName` when there is none."""

    @abstractmethod
    def invoke(self, target: Any, /, *args: Any, seed: int | None = None, **kwargs: Any) -> Any:
        """Call ``target`` (a contract name, a dotted path such as ``"T.inv"``, or an object obtained from
        :meth:`get`/:meth:`invoke`) with the arguments, after seeding the generators with ``seed``.

        Raises :class:`SubmissionProblem` subclasses for every failure of the submission's code.
        """

    def load_problems(self) -> list[LoadProblem]:
        """Errors met while loading (a cell that raised, a module that stopped half-way)."""
        return []

    def events(self) -> list[str]:
        """Things that happened while grading: crashes, time-outs, restarts (one line each)."""
        return []

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release processes and temporary files."""

    def __enter__(self) -> Implementation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcessImplementation(Implementation):
    """A module called directly in this process (the reference, or code the user trusts)."""

    def __init__(
        self,
        module: types.ModuleType,
        label: str | None = None,
        aliases: dict[str, str] | None = None,
        problems: list[LoadProblem] | None = None,
    ) -> None:
        self.module = module
        self.label = label or module.__name__
        self.aliases = dict(aliases or {})
        self._problems = list(problems or [])

    def _resolve(self, name: str) -> str:
        return self.aliases.get(name, name)

    def names(self) -> frozenset[str]:
        from reference.contract import NAMES

        return frozenset(n for n in NAMES if hasattr(self.module, self._resolve(n)))

    def get(self, name: str) -> Any:
        head, _, rest = name.partition(".")
        try:
            obj = getattr(self.module, self._resolve(head))
        except AttributeError:
            raise MissingName(head) from None
        for part in rest.split(".") if rest else []:
            obj = getattr(obj, part)
        return obj

    def invoke(self, target: Any, /, *args: Any, seed: int | None = None, **kwargs: Any) -> Any:
        func = self.get(target) if isinstance(target, str) else target
        label = target if isinstance(target, str) else getattr(func, "__qualname__", type(func).__name__)
        if seed is not None:
            seed_everything(seed)
        try:
            return func(*args, **kwargs)
        except SubmissionProblem:
            raise
        except Exception as exc:  # the implementation's own error, reported as data
            raise CallFailed(f"{label}(...)", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "") from exc

    def load_problems(self) -> list[LoadProblem]:
        return list(self._problems)


def resolve_submission_path(path: Path) -> Path:
    """A ``.py``/``.ipynb`` file, or the single one inside a folder; ``ValueError`` saying why not."""
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix in (".py", ".ipynb") and not p.name.startswith("."))
        if len(found) != 1:
            names = ", ".join(p.name for p in found) or "none"
            raise ValueError(f"{path}: a submission folder must hold exactly one .py or .ipynb file (found {names})")
        return found[0]
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    if path.suffix not in (".py", ".ipynb"):
        raise ValueError(f"{path}: a submission is a .py file, a .ipynb notebook, or a folder holding one")
    return path


def _load_module_in_process(path: Path) -> tuple[types.ModuleType, list[LoadProblem]]:
    """Execute a trusted .py file as a module, keeping what it defined before any error."""
    module = types.ModuleType(f"vicheck_submission_{abs(hash(str(path)))}")
    module.__file__ = str(path)
    problems: list[LoadProblem] = []
    source = path.read_text(encoding="utf-8")
    try:
        code = compile(source, str(path), "exec")
        exec(code, module.__dict__)
    except Exception as exc:
        tb = exc.__traceback__
        line = 0
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == str(path):
                line = tb.tb_lineno
            tb = tb.tb_next
        if isinstance(exc, SyntaxError):
            line = exc.lineno or 0
        lines = source.splitlines()
        src = lines[line - 1] if 0 < line <= len(lines) else ""
        problems.append(LoadProblem(f"line {line}", type(exc).__name__, str(exc), src))
    return module, problems


def classify_spec(spec: str) -> tuple[str, Path | None]:
    """``("module", None)`` for an importable module name, ``("file", path)`` for a submission file (a
    folder holding one resolved to it); ``ValueError`` with a one-line reason otherwise."""
    path = Path(spec)
    if path.suffix in (".py", ".ipynb") or "/" in spec or "\\" in spec:
        return "file", resolve_submission_path(path)
    if all(part.isidentifier() for part in spec.split(".")):
        try:
            if importlib.util.find_spec(spec) is not None:
                return "module", None
        except (ImportError, ValueError):
            pass
    if path.exists():
        return "file", resolve_submission_path(path)
    raise ValueError("not a file, folder or importable module")


def load_implementation(spec: str, *, isolation: str = "auto", limits: Limits | None = None) -> Implementation:
    """An implementation from ``--impl``: ``"reference"``, an importable module name, or a path.

    ``isolation`` is ``"process"`` (child process), ``"none"`` (this process) or ``"auto"``: a path runs
    in a child process, a module name in this process. ``ValueError`` with a one-line reason when the
    spec names nothing loadable.
    """
    limits = limits or Limits()
    if isolation not in ("auto", "process", "none"):
        raise ValueError(f"isolation must be auto, process or none, got {isolation!r}")
    kind, file = classify_spec(spec)
    if kind == "module":
        if isolation == "process":
            raise ValueError(f"--impl {spec}: process isolation needs a file or folder, not a module name")
        try:
            module = importlib.import_module(spec)
        except ImportError as exc:
            raise ValueError(f"--impl {spec}: cannot import it ({exc})") from None
        return InProcessImplementation(module, label=spec, aliases=limits.aliases)
    assert file is not None
    if isolation == "none":
        if file.suffix == ".ipynb":
            from vicheck.sandbox.notebook import load_notebook_in_process

            return load_notebook_in_process(file, aliases=limits.aliases)
        module, problems = _load_module_in_process(file)
        return InProcessImplementation(module, label=str(file), aliases=limits.aliases, problems=problems)
    from vicheck.sandbox import IsolatedImplementation

    return IsolatedImplementation(file, limits=limits)
