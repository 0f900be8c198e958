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

    # The time limits are derived from the lecture's own code: a measured figure times a margin, rounded up
    # to a nice number (1, 1.5, 2, 3, 4, 5, 6, 8 x 10^k). Measured on 2 CPU cores, OMP_NUM_THREADS=1, the
    # larger of two runs; re-derive with `python scripts/derive_limits.py` (its docstring gives the reasons).
    # Margins: x6 for a grading machine 3x slower than that one and loaded with a job per core (x2);
    # x30 = x6 x 5 for a student's correct but slower code, on the lecture's own calls.
    #: one call: 6 s = nice(max(30 x 0.158 s, the lecture's slowest call under the property suite (a
    #: kl_divergence_2); 6 x 0.248 s, the slowest correct alternative's (tests/submissions/correct/
    #: adaptive_quad.py, scipy quad per point: kl_divergence_1 on a mixture); 6 x 0.87 s, a first call
    #: that imports scipy and matplotlib itself))
    call_seconds: float = 6.0
    #: all calls of one submission, and its loads: 400 s = nice(load_seconds + 6 x 25.8 s, the property
    #: suite's call time in all for adaptive_quad.py, the slowest correct submission (the lecture's: 4.9 s))
    submission_seconds: float = 400.0
    #: loading (the submission's top-level code, a notebook's cells): 200 s = nice(6 x 25.8 s, the lecture
    #: notebook's own run tests/data/lecture_4.ipynb in a jailed child, its brute-force fits included;
    #: no margin beyond the machine's, since a submission that hangs at import costs all of it)
    load_seconds: float = 200.0
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
