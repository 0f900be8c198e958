"""Every limit a submission runs under, declared once: its rubric key, default and the reason for it, its
validation, how each isolation and resource level applies it, and the words a report uses when it is hit.

A rubric's ``[limits]`` table fills :class:`Limits` through :func:`parse_limit` (one :class:`LimitSpec` per
key, registered by :func:`declare`); the parent enforces the time limits (:mod:`vicheck.sandbox.budget`,
:mod:`vicheck.sandbox.process`), the child applies :func:`child_rlimits` to itself before it loads the
submission, :mod:`vicheck.sandbox.resources` puts the submission and everything it starts in a control
group bounded by :func:`group_settings`, and :mod:`vicheck.sandbox.jail` gives it a size-capped scratch
folder and applies the isolation level. Adding a limit is a field of :class:`Limits`, one :func:`declare`
and its application; ``tests/sandbox/test_limits.py`` checks that every field is declared and documented.
"""

from __future__ import annotations

import math
import resource
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

__all__ = [
    "ISOLATION_LEVELS",
    "LIMIT_SPECS",
    "RESOURCE_LEVELS",
    "LimitSpec",
    "Limits",
    "child_rlimits",
    "declare",
    "group_settings",
    "parse_limit",
    "pick_level",
]

#: isolation levels from the strongest to the weakest (``none``: in the grader's own process)
ISOLATION_LEVELS: tuple[str, ...] = ("namespaces", "uid", "process", "none")
#: resource-control levels from the strongest to the weakest: a control group per submission (cgroup v2 or
#: v1), or each process's own rlimits only
RESOURCE_LEVELS: tuple[str, ...] = ("cgroup2", "cgroup1", "rlimits")
#: what a rubric's ``[limits] resources`` may require: ``cgroup`` is either cgroup level
RESOURCE_REQUIREMENTS: tuple[str, ...] = ("cgroup", "rlimits")


@dataclass(frozen=True)
class Limits:
    """Resource limits for an isolated submission (ignored in process). Each field is declared below by
    :func:`declare`, with its reason; ``isolation`` and ``resources`` are the weakest levels grading may
    run under."""

    call_seconds: float = 6.0
    submission_seconds: float = 400.0
    load_seconds: float = 200.0
    memory_mb: int = 2048
    disk_mb: int = 256
    file_mb: int = 64
    max_processes: int = 256
    output_kb: int = 64
    cpu_weight: int = 100
    isolation: str = "process"
    resources: str = "rlimits"

    def __post_init__(self) -> None:
        for spec in LIMIT_SPECS.values():
            spec.parse(getattr(self, spec.key))  # ValueError with the key's own words


#: a time limit measured in the submission's CPU time (a control group's) stops a wait after this many times
#: the limit in wall-clock seconds: the x2 for "loaded with a job per core" in the time limits' derivation
#: (below) moves from the limit, which CPU time does not inflate, to this backstop; with equal CPU weights a
#: submission gets at least half a core when two jobs per core run, and a call that sleeps forever still
#: stops (after 2 x its limit, a hang at import after 2 x load_seconds)
WALL_BACKSTOP = 2.0


@dataclass(frozen=True)
class LimitSpec:
    """One limit: ``key`` is both the :class:`Limits` field and the rubric's ``[limits]`` key."""

    key: str
    kind: type
    unit: str
    #: why the default is what it is (a measured figure times a margin, or a convention and its source)
    reason: str
    #: how each isolation (``namespaces``, ``uid``, ``process``) and resource level (``cgroup``, ``rlimits``)
    #: applies it, in words (the README's table)
    applies: Mapping[str, str]
    #: the words a report uses when the submission hits it (``{value}`` and ``{unit}`` filled in)
    hit: str = ""
    choices: tuple[str, ...] = ()

    @property
    def default(self) -> Any:
        return next(f.default for f in fields(Limits) if f.name == self.key)

    def parse(self, value: Any) -> Any:
        """``value`` checked (an int for a float limit is fine); ``ValueError`` naming what is wrong."""
        if self.kind is str:
            if not isinstance(value, str) or value not in self.choices:
                raise ValueError(f"{self.key} must be one of {', '.join(self.choices)}, got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float) if self.kind is float else int):
            kind = "a number" if self.kind is float else "an integer"
            raise ValueError(f"{self.key} must be {kind}, got {_kind(value)}")
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{self.key} must be > 0, got {value}")
        return self.kind(value)

    def message(self, limits: Limits) -> str:
        """The report's words for this limit being hit, with its value."""
        return self.hit.format(value=f"{getattr(limits, self.key):g}", unit=self.unit)


LIMIT_SPECS: dict[str, LimitSpec] = {}


def declare(spec: LimitSpec) -> LimitSpec:
    """Register ``spec`` (one per :class:`Limits` field)."""
    if spec.key in LIMIT_SPECS:
        raise ValueError(f"limit {spec.key} is declared twice")
    LIMIT_SPECS[spec.key] = spec
    return spec


def parse_limit(key: str, value: Any) -> Any:
    """A rubric's ``[limits] key = value``, checked: ``KeyError`` for an unknown key, ``ValueError`` for a bad
    value (both one line)."""
    return LIMIT_SPECS[key].parse(value)


def _kind(value: Any) -> str:
    return {bool: "a boolean", str: "a string", list: "an array", dict: "a table"}.get(
        type(value), type(value).__name__
    )


# ------------------------------------------------------------------------------------------ the limits
# The time limits are derived from the lecture's own code: a measured figure times a margin, rounded up to a
# nice number (1, 1.5, 2, 3, 4, 5, 6, 8 x 10^k). Measured on 2 CPU cores, OMP_NUM_THREADS=1, the larger of two
# runs; re-derive with `python scripts/derive_limits.py` (its docstring gives the reasons). Margins: x6 for a
# grading machine 3x slower than that one and loaded with a job per core (x2); x30 = x6 x 5 for a student's
# correct but slower code, on the lecture's own calls. Under a cgroup level they count the submission's CPU
# time (all its processes'), with WALL_BACKSTOP x the limit in wall-clock time as a backstop.
_TIME = {
    "namespaces": "the grader's timer; the child is killed with its whole PID namespace",
    "uid": "the grader's timer; every process of the child's uid is killed",
    "process": "the grader's timer; the child's session is killed; RLIMIT_CPU as a backstop",
    "cgroup": f"counted in the CPU time of the submission's control group (every process it started), "
    f"stopped after {WALL_BACKSTOP:g} x the limit in wall-clock time at the latest",
    "rlimits": "counted in wall-clock time",
}
declare(
    LimitSpec(
        "call_seconds",
        float,
        "s",
        "nice(max(30 x 0.158 s, the lecture's slowest call under the property suite (a kl_divergence_2); "
        "6 x 0.248 s, the slowest correct alternative's (tests/submissions/correct/adaptive_quad.py, scipy quad "
        "per point: kl_divergence_1 on a mixture); 6 x 0.87 s, a first call that imports scipy and matplotlib "
        "itself))",
        _TIME,
        hit="did not return within {value} {unit}",
    )
)
declare(
    LimitSpec(
        "submission_seconds",
        float,
        "s",
        "nice(load_seconds + 6 x 25.8 s, the property suite's call time in all for adaptive_quad.py, the slowest "
        "correct submission (the lecture's: 4.9 s))",
        _TIME,
        hit="time limit of {value} {unit} exhausted",
    )
)
declare(
    LimitSpec(
        "load_seconds",
        float,
        "s",
        "nice(6 x 25.8 s, the lecture notebook's own run tests/data/lecture_4.ipynb in a jailed child, its "
        "brute-force fits included; no margin beyond the machine's, since a submission that hangs at import "
        "costs all of it)",
        _TIME,
        hit="loading did not finish within {value} {unit} (load time limit)",
    )
)
declare(
    LimitSpec(
        "memory_mb",
        int,
        "MB",
        "the lecture's code peaks near 700 MB with torch imported (a zygote fork starts at 800 MB of address "
        "space); 2048 leaves room for a student's larger grids on a machine grading a job per core",
        {
            "namespaces": "RLIMIT_AS of each process (a MemoryError in the process that asks for more)",
            "uid": "RLIMIT_AS of each process",
            "process": "RLIMIT_AS of each process",
            "cgroup": "the control group's memory limit, swap included, for the submission and every process it "
            "started (its scratch folder's tmpfs included); the kernel kills within the group when it is hit",
            "rlimits": "per process only: N processes may hold N x the limit",
        },
        hit="out of memory: the submission and its processes used more than {value} {unit}",
    )
)
declare(
    LimitSpec(
        "disk_mb",
        int,
        "MB",
        "256 MB holds the lecture's figures and any data a student writes many times over; PrairieLearn gives "
        "a whole job 1 GiB",
        {
            "namespaces": "the scratch folder is a tmpfs of this size inside the jail: a write past it fails "
            "with ENOSPC in the submission, and the host's disk is untouched",
            "uid": "the scratch folder is a tmpfs of this size in a mount namespace of the child's own",
            "process": "measured after each load and call: a folder over it stops the child (a single call may "
            "write past it until it returns or times out)",
            "cgroup": "the tmpfs's pages count against the memory limit too",
            "rlimits": "as the isolation level says",
        },
        hit="wrote more than {value} {unit} into its folder",
    )
)
declare(
    LimitSpec(
        "file_mb",
        int,
        "MB",
        "no file the lecture asks for is larger than a figure (< 1 MB); 64 bounds what /dev/shm may hold",
        {
            "namespaces": "RLIMIT_FSIZE of each process; /dev/shm is a tmpfs of this size",
            "uid": "RLIMIT_FSIZE of each process",
            "process": "RLIMIT_FSIZE of each process",
            "cgroup": "as rlimits",
            "rlimits": "RLIMIT_FSIZE: a write past it kills the writer with SIGXFSZ",
        },
        hit="wrote a file larger than {value} {unit} (file size limit)",
    )
)
declare(
    LimitSpec(
        "max_processes",
        int,
        "processes",
        "a child needs about a dozen threads and processes (torch's own included); 256 lets a student's "
        "multiprocessing pool run and stops a fork bomb",
        {
            "namespaces": "RLIMIT_NPROC of the child's uid",
            "uid": "RLIMIT_NPROC of the child's uid; every process of the uid is killed when the child stops",
            "process": "not bounded by the isolation",
            "cgroup": "the control group's pids.max: the submission's processes and threads in all",
            "rlimits": "as the isolation level says",
        },
        hit="started more than {value} {unit}",
    )
)
declare(
    LimitSpec(
        "output_kb",
        int,
        "KiB",
        "the first and the last 64 KiB of what a child prints hold every traceback and summary a reader needs",
        {
            "namespaces": "the child's stdout and stderr are a pipe the grader drains: the first and last "
            "output_kb are kept, the rest counted; printing never stops the submission",
            "uid": "as namespaces",
            "process": "as namespaces",
            "cgroup": "as namespaces",
            "rlimits": "as namespaces",
        },
        hit="printed {value} {unit}",
    )
)
declare(
    LimitSpec(
        "cpu_weight",
        int,
        "",
        "equal weights (cgroup v2's default, 100; cgroup v1's cpu.shares 1024) share the cores fairly among "
        "the submissions graded at once, whatever each one spawns",
        {
            "namespaces": "",
            "uid": "",
            "process": "",
            "cgroup": "the control group's cpu.weight (v2) or cpu.shares = weight x 1024 / 100 (v1)",
            "rlimits": "not applied: a submission that spawns N busy processes takes N shares of the machine",
        },
    )
)
declare(
    LimitSpec(
        "isolation",
        str,
        "",
        "the weakest isolation level grading may run under: any child process, unless the rubric asks for more",
        {},
        choices=ISOLATION_LEVELS[:-1],
    )
)
declare(
    LimitSpec(
        "resources",
        str,
        "",
        "the weakest resource-control level grading may run under: rlimits asks for nothing, cgroup for a "
        "control group per submission (cgroup2 or cgroup1)",
        {},
        choices=RESOURCE_REQUIREMENTS,
    )
)
if set(LIMIT_SPECS) != {f.name for f in fields(Limits)}:  # pragma: no cover - a programming error
    raise RuntimeError("every Limits field needs exactly one declare()")


# ------------------------------------------------------------------------------------------ application


def child_rlimits(limits: Limits, seconds_left: float, *, processes: bool) -> dict[str, tuple[int, int]]:
    """The rlimits the child sets on itself, by ``resource`` constant name: ``(soft, hard)``.

    CPU time is the submission's remaining budget plus a margin (a busy child dies of SIGXCPU even if the
    parent's timer failed: a process's CPU time never exceeds what its submission's budget counts); no core
    files; the process limit only where the child has a uid of its own (``processes``), since RLIMIT_NPROC
    counts every process of the uid.
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


def group_settings(limits: Limits) -> dict[str, int]:
    """What a submission's control group is bounded by, in bytes and counts: ``memory`` (swap included),
    ``pids`` and ``cpu_weight`` (1..10000, cgroup v2's scale)."""
    return {
        "memory": limits.memory_mb * 2**20,
        "pids": limits.max_processes,
        "cpu_weight": max(1, min(10000, limits.cpu_weight)),
    }


def pick_level(
    levels: Sequence[str],
    requested: str,
    minimum: str,
    *,
    probe: Callable[[str], tuple[bool, str]],
    rank: Callable[[str], int],
    what: str,
    required: str,
    error: type[Exception],
) -> str:
    """The level to run under, of ``levels`` (strongest first): the strongest that ``probe`` finds available
    for ``requested == "auto"``, else ``requested`` if available; ``error`` (one line) when it is unknown or
    not available, or when it ranks below ``minimum`` (a rubric's requirement). ``what`` names a level in
    messages ("isolation level"), ``required`` the requirement ("isolation level {minimum}")."""
    if requested == "auto":
        level = next(lv for lv in levels if probe(lv)[0])
        why_not = "; ".join(f"{lv}: {probe(lv)[1]}" for lv in levels[: levels.index(level)])
    else:
        if requested not in levels:
            raise error(f"unknown {what} {requested!r}")
        ok, detail = probe(requested)
        if not ok:
            raise error(f"{what} {requested} is not available here: {detail}")
        level, why_not = requested, ""
    if rank(level) < rank(minimum):
        reason = f" ({why_not})" if why_not else ""
        raise error(
            f"the rubric requires {required.format(minimum=minimum)} or stronger, and this grader has {level}{reason}"
        )
    return level
