"""Every limit a submission runs under, in one place: time, memory, file size, processes, isolation.

A rubric's ``[limits]`` table fills :class:`Limits`; the parent enforces the time limits
(:mod:`vicheck.sandbox.process`), the child applies :func:`child_rlimits` to itself before it loads the
submission, and :mod:`vicheck.sandbox.jail` applies the process limit and the isolation level.
"""

from __future__ import annotations

import math
import resource
from dataclasses import dataclass

__all__ = ["ISOLATION_LEVELS", "Limits", "child_rlimits"]

#: isolation levels from the strongest to the weakest (``none``: in the grader's own process)
ISOLATION_LEVELS: tuple[str, ...] = ("namespaces", "uid", "process", "none")


@dataclass(frozen=True)
class Limits:
    """Resource limits for an isolated submission (ignored in process).

    ``isolation`` is the weakest isolation level the grading may run under (``process`` accepts any
    child process; ``namespaces`` refuses to grade where the jail cannot be built).
    """

    call_seconds: float = 60.0
    submission_seconds: float = 900.0
    load_seconds: float = 300.0
    memory_mb: int = 2048
    #: largest file the child may write (RLIMIT_FSIZE): a write past it kills the child with SIGXFSZ
    file_mb: int = 64
    #: processes and threads of the child's uid (RLIMIT_NPROC) under the ``uid`` and ``namespaces`` levels;
    #: torch's own threads count, so it stays well above the dozen a child needs
    max_processes: int = 64
    isolation: str = "process"

    def __post_init__(self) -> None:
        if self.isolation not in ISOLATION_LEVELS[:-1]:
            raise ValueError(f"isolation must be one of namespaces, uid, process; got {self.isolation!r}")


def child_rlimits(limits: Limits, seconds_left: float, *, processes: bool) -> dict[str, tuple[int, int]]:
    """The rlimits the child sets on itself, by ``resource`` constant name: ``(soft, hard)``.

    CPU time is the submission's remaining wall-clock budget plus a margin (a busy child dies of SIGXCPU
    even if the parent's timer failed); no core files; the process limit only where the child has a uid
    of its own (``processes``), since RLIMIT_NPROC counts every process of the uid.
    """
    cpu = math.ceil(max(seconds_left, 1.0)) + 10
    found = {
        "RLIMIT_AS": (limits.memory_mb * 2**20,) * 2,
        "RLIMIT_FSIZE": (limits.file_mb * 2**20,) * 2,
        "RLIMIT_CPU": (cpu, cpu + 5),
        "RLIMIT_CORE": (0, 0),
    }
    if processes:
        found["RLIMIT_NPROC"] = (limits.max_processes,) * 2
    return {k: v for k, v in found.items() if hasattr(resource, k)}
