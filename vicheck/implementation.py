"""An implementation of the lecture's contract, as the property suite sees it: the interface and its errors.

Properties never touch a submission's objects directly: they ask an :class:`Implementation` for a name
(:meth:`Implementation.get`) and call through it (:meth:`Implementation.invoke`), which seeds the random
generators where the code runs and turns whatever goes wrong into a :class:`SubmissionProblem` that names
the function and the input.

This module is a leaf: it imports nothing of the grader. How an implementation is loaded, limited, jailed
and run is the business of :mod:`vicheck.sandbox` (``vicheck.sandbox.load_implementation``).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Implementation",
    "SubmissionProblem",
    "MissingName",
    "CallFailed",
    "CallTimeout",
    "SubmissionCrashed",
    "TimeLimitExhausted",
    "LoadProblem",
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
    """A call ran past the per-call time limit and was stopped.

    With ``earlier``, the call was not made at all: its function (the contract name ``name``) already ran past
    the limit earlier in this run, in the call ``earlier``, and a function that hung once is not called again.
    ``str()`` then names the function, the limit and that earlier call (cut to about 200 characters). It is
    the same class on purpose: to the property suite (and Hypothesis) both are the same failure.
    """

    def __init__(self, call: str, seconds: float, *, name: str | None = None, earlier: str | None = None) -> None:
        self.call, self.seconds, self.name, self.earlier = call, seconds, name, earlier
        if earlier is None:
            super().__init__(f"{call} did not return within {seconds:g} s (per-call time limit); it was stopped")
        else:
            shown = earlier if len(earlier) <= 200 else earlier[:197] + "..."
            super().__init__(
                f"`{name or call}` did not return within {seconds:g} s earlier in this run ({shown}); not called again"
            )


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


#: what an :class:`Event` may be about
EVENT_KINDS: tuple[str, ...] = (
    "time_limit",  # the submission's whole time budget ran out
    "load_failed",  # its process died, or passed the load time limit, while loading
    "restart",  # its process was started again and the submission reloaded
    "call_timeout",  # a call passed the per-call time limit
    "crash",  # a call killed its process
    "memory",  # it or one of its processes passed the memory limit
    "disk",  # its folder passed the disk limit
    "output",  # it printed more than the output limit
)


class Event(str):
    """One thing that happened while grading, in one line (the ``str`` itself), and its ``kind`` (one of
    :data:`EVENT_KINDS`): a reader decides what an event means by its kind, never by its wording."""

    kind: str

    def __new__(cls, text: str, kind: str) -> Event:
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        event = super().__new__(cls, text)
        event.kind = kind
        return event

    def __reduce__(self) -> tuple[type[Event], tuple[str, str]]:
        return (Event, (str(self), self.kind))


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
    #: how the implementation's code is isolated from the grader: ``namespaces``, ``uid``, ``process``
    #: (a child process of each) or ``none`` (called in this process)
    isolation: str = "none"

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

    #: the contract functions the calls made since :meth:`reset_reached` reached, with how often each ran
    #: (the implementation's own call graph, traced where its code runs; empty where it is not traced)
    _reached: dict[str, int] | None = None

    def reset_reached(self) -> None:
        """Start a new trace (the plugin does so before each example of a property)."""
        self._reached = {}

    def reached(self) -> dict[str, int]:
        """The contract functions the calls since :meth:`reset_reached` reached, each with its call count."""
        return dict(self._reached or {})

    def _note_reached(self, counts: dict[str, int]) -> None:
        if self._reached is None:
            self._reached = {}
        for name, n in counts.items():
            self._reached[name] = self._reached.get(name, 0) + n

    def events(self) -> list[Event]:
        """Things that happened while grading: crashes, time-outs, restarts (one line each, with its kind)."""
        return []

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release processes and temporary files."""

    def __enter__(self) -> Implementation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
