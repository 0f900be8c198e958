r"""Resource control: one control group per submission, holding its child and everything the child starts.

Levels, from the strongest (:data:`~vicheck.sandbox.limits.RESOURCE_LEVELS`):

``cgroup2``
    The unified hierarchy (``cgroup2``), as root (groups under ``<mount>/vicheck``, the ``memory``, ``pids``
    and ``cpu`` controllers enabled on the way down) or in a subtree delegated to the grader's user (run it
    as ``systemd-run --user --scope -p Delegate=yes vicheck grade ...``: the grader moves itself into a leaf
    ``grader`` of its scope, so that its groups can have controllers, and makes them under
    ``<scope>/vicheck``). ``memory.max`` with ``memory.swap.max = 0`` (so swap is included), ``pids.max``,
    ``cpu.weight``; out-of-memory kills are read from ``memory.events``, CPU time from ``cpu.stat``.
``cgroup1``
    The legacy hierarchies, one per controller (``memory``, ``pids``, ``cpu``, ``cpuacct``), writable as root:
    groups under ``<hierarchy>/vicheck``. ``memory.limit_in_bytes`` and, where swap is accounted,
    ``memory.memsw.limit_in_bytes`` (memory and swap together), ``pids.max``, ``cpu.shares``; kills from
    ``memory.oom_control``, CPU time from ``cpuacct.usage``.
``rlimits``
    No group: each process's own rlimits only (a submission's N processes may hold N times the memory limit).

A group is named ``<pid>-<start time>-<n>`` after the process that made it, so that any later run finds the
groups whose maker is gone (it crashed, or was killed) and removes them, killing what is left in them
(:func:`sweep_leftovers`). :func:`choose_resources` decides the level once, as
:func:`~vicheck.sandbox.jail.choose_level` does the isolation level.

The kernel's documentation of both versions: Documentation/admin-guide/cgroup-v2.rst and
Documentation/admin-guide/cgroup-v1/{memory,pids,cpuacct}.rst.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import os
import re
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vicheck.sandbox.budget import CPUS
from vicheck.sandbox.limits import RESOURCE_LEVELS, Limits, group_settings, pick_level

__all__ = [
    "Group",
    "ResourcesUnavailable",
    "choose_resources",
    "create_group",
    "probe_resources",
    "resource_rank",
    "sweep_leftovers",
]

#: the folder every grader's groups lie in, in each hierarchy
GROUP_FOLDER = "vicheck"
_V2_CONTROLLERS = ("memory", "pids", "cpu")
_V1_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct")
_NAME = re.compile(r"^(\d+)-(\d+)-\d+$")
#: where the kernel says what is mounted (tests point it at a fake tree)
MOUNTINFO = Path("/proc/self/mountinfo")
CGROUP_FILE = Path("/proc/self/cgroup")


class ResourcesUnavailable(Exception):
    """The resource level asked for cannot be provided here; ``str()`` is one line saying why."""


def resource_rank(level: str) -> int:
    """2 for ``cgroup2`` down to 0 for ``rlimits``; a requirement ``cgroup`` ranks as ``cgroup1``."""
    level = "cgroup1" if level == "cgroup" else level
    return len(RESOURCE_LEVELS) - 1 - RESOURCE_LEVELS.index(level)


# ------------------------------------------------------------------------------------------ the hierarchies


@dataclass(frozen=True)
class _Mount:
    fstype: str
    point: Path
    options: frozenset[str]


def _mounts() -> list[_Mount]:
    found = []
    try:
        text = MOUNTINFO.read_text()
    except OSError:
        return []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or len(rest) < 3 or rest[0] not in ("cgroup", "cgroup2"):
            continue
        point = fields[4].replace("\\040", " ")
        found.append(_Mount(rest[0], Path(point), frozenset(rest[2].split(","))))
    return found


def _write(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _keyed(text: str, key: str) -> int:
    """The number after ``key`` in a flat-keyed file (``oom_kill 3``), 0 when absent."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            with contextlib.suppress(ValueError):
                return int(parts[1])
    return 0


def _start_time(pid: int) -> int | None:
    """A process's start time in clock ticks since boot (``/proc/PID/stat`` field 22), or ``None``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        return int(text[text.rindex(")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


class _Backend:
    level = "rlimits"

    def __init__(self, bases: dict[str, Path]) -> None:
        #: controller (or "unified") -> the folder the groups are made in
        self.bases = bases

    def folders(self, name: str) -> list[Path]:
        return sorted({base / name for base in self.bases.values()})

    def configure(self, name: str, limits: Limits) -> None:
        raise NotImplementedError

    def procs(self, folder: Path) -> list[int]:
        return [int(p) for p in _read(folder / "cgroup.procs").split() if p.isdigit()]

    def kill(self, name: str) -> None:
        """Kill every process of the group; return once none is left (or after ~10 s)."""
        for attempt in range(1000):
            pids = {p for folder in self.folders(name) for p in self.procs(folder)}
            if not pids:
                return
            if attempt == 0:
                self._kill_at_once(name)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def _kill_at_once(self, name: str) -> None:
        return None

    def remove(self, name: str) -> None:
        self.kill(name)
        for folder in self.folders(name):
            for _ in range(500):  # a process that was just killed leaves its group a moment later
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        break
                    time.sleep(0.01)

    def oom_kills(self, name: str) -> int:
        raise NotImplementedError

    def cpu_seconds(self, name: str) -> float:
        raise NotImplementedError


class _V2(_Backend):
    level = "cgroup2"

    def configure(self, name: str, limits: Limits) -> None:
        folder = self.bases["unified"] / name
        settings = group_settings(limits)
        _write(folder / "memory.max", str(settings["memory"]))
        if (folder / "memory.swap.max").exists():  # swap included: none beyond the memory limit
            _write(folder / "memory.swap.max", "0")
        _write(folder / "pids.max", str(settings["pids"]))
        _write(folder / "cpu.weight", str(settings["cpu_weight"]))

    def _kill_at_once(self, name: str) -> None:
        kill = self.bases["unified"] / name / "cgroup.kill"  # Linux >= 5.14: every process, atomically
        if kill.exists():
            with contextlib.suppress(OSError):
                _write(kill, "1")

    def oom_kills(self, name: str) -> int:
        return _keyed(_read(self.bases["unified"] / name / "memory.events"), "oom_kill")

    def cpu_seconds(self, name: str) -> float:
        return _keyed(_read(self.bases["unified"] / name / "cpu.stat"), "usage_usec") / 1e6


class _V1(_Backend):
    level = "cgroup1"

    def configure(self, name: str, limits: Limits) -> None:
        settings = group_settings(limits)
        memory = self.bases["memory"] / name
        _write(memory / "memory.limit_in_bytes", str(settings["memory"]))
        if (memory / "memory.memsw.limit_in_bytes").exists():  # memory and swap together: swap included
            _write(memory / "memory.memsw.limit_in_bytes", str(settings["memory"]))
        _write(self.bases["pids"] / name / "pids.max", str(settings["pids"]))
        _write(self.bases["cpu"] / name / "cpu.shares", str(max(2, settings["cpu_weight"] * 1024 // 100)))

    def oom_kills(self, name: str) -> int:
        return _keyed(_read(self.bases["memory"] / name / "memory.oom_control"), "oom_kill")

    def cpu_seconds(self, name: str) -> float:
        text = _read(self.bases["cpuacct"] / name / "cpuacct.usage").strip()
        return int(text) / 1e9 if text.isdigit() else 0.0


def _v2_backend() -> tuple[_Backend | None, str]:
    mount = next((m for m in _mounts() if m.fstype == "cgroup2"), None)
    if mount is None:
        return None, "no cgroup2 hierarchy is mounted"
    available = set(_read(mount.point / "cgroup.controllers").split())
    if os.geteuid() == 0 and os.access(mount.point / "cgroup.subtree_control", os.W_OK):
        missing = [c for c in _V2_CONTROLLERS if c not in available]
        if missing:
            return None, f"the cgroup2 hierarchy at {mount.point} lacks the {', '.join(missing)} controller(s)"
        return _V2({"unified": mount.point / GROUP_FOLDER}), f"groups under {mount.point / GROUP_FOLDER}"
    own = next((line[3:] for line in _read(CGROUP_FILE).splitlines() if line.startswith("0::")), None)
    if own is None:
        return None, "this process is in no cgroup2 group"
    scope = mount.point / own.lstrip("/")
    if scope.name == "grader":  # already moved into its leaf by an earlier start in this scope
        scope = scope.parent
    delegated = all(os.access(scope / f, os.W_OK) for f in ("cgroup.procs", "cgroup.subtree_control"))
    if not delegated:
        return None, (
            f"the grader's cgroup {scope} is not delegated to it (run it as root, or under "
            "`systemd-run --user --scope -p Delegate=yes`)"
        )
    missing = [c for c in _V2_CONTROLLERS if c not in set(_read(scope / "cgroup.controllers").split())]
    if missing:
        return None, f"the delegated cgroup {scope} lacks the {', '.join(missing)} controller(s)"
    return _V2({"unified": scope / GROUP_FOLDER}), f"groups under {scope / GROUP_FOLDER} (delegated)"


def _v1_backend() -> tuple[_Backend | None, str]:
    points: dict[str, Path] = {}
    for m in _mounts():
        if m.fstype == "cgroup":
            for controller in _V1_CONTROLLERS:
                if controller in m.options:
                    points.setdefault(controller, m.point)
    missing = [c for c in _V1_CONTROLLERS if c not in points]
    if missing:
        return None, f"no cgroup v1 hierarchy for {', '.join(missing)}"
    if os.geteuid() != 0 or not all(os.access(p, os.W_OK) for p in points.values()):
        return None, "the cgroup v1 hierarchies are writable by root only, and the grader does not run as root"
    return _V1({c: p / GROUP_FOLDER for c, p in points.items()}), "groups under " + ", ".join(
        sorted({str(p / GROUP_FOLDER) for p in points.values()})
    )


@functools.cache
def _backend(level: str) -> tuple[_Backend | None, str]:
    if level == "cgroup2":
        return _v2_backend()
    if level == "cgroup1":
        return _v1_backend()
    if level == "rlimits":
        return _Backend({}), "each process's rlimits only"
    raise ValueError(f"unknown resource level {level!r}")


def probe_resources(level: str) -> tuple[bool, str]:
    """Whether ``level`` can be had here, and its detail (where the groups go) or why not. Read-only."""
    backend, detail = _backend(level)
    return backend is not None, detail


def choose_resources(requested: str = "auto", minimum: str = "rlimits") -> str:
    """The resource level to grade under: the strongest available for ``auto``, else ``requested`` if it is
    available; :class:`ResourcesUnavailable` (one line) when it is not, or is weaker than ``minimum`` (the
    rubric's ``[limits] resources``: ``cgroup`` or ``rlimits``). The chosen level is prepared (its folders
    made, controllers enabled) and its leftover groups removed."""

    def usable(level: str) -> tuple[bool, str]:
        ok, detail = probe_resources(level)
        return ok and _prepared(level), detail

    return pick_level(
        RESOURCE_LEVELS,
        requested,
        minimum,
        probe=usable,
        rank=resource_rank,
        what="resource level",
        required="resource control by {minimum}",
        error=ResourcesUnavailable,
    )


@functools.cache
def _prepared(level: str) -> bool:
    """Make the level's folders and enable its controllers (once per process); sweep old groups."""
    backend, _ = _backend(level)
    if backend is None:
        return False
    if not backend.bases:
        return True
    try:
        if isinstance(backend, _V2):
            base = backend.bases["unified"]
            parent = base.parent
            enable = " ".join(f"+{c}" for c in _V2_CONTROLLERS)
            if os.geteuid() != 0 and parent.name != "grader":
                # delegated: a group with controllers for its children may hold no process (cgroup v2's "no
                # internal processes" rule): move this scope's processes into a leaf of their own first
                leaf = parent / "grader"
                leaf.mkdir(exist_ok=True)
                for pid in _read(parent / "cgroup.procs").split():
                    with contextlib.suppress(OSError):
                        _write(leaf / "cgroup.procs", pid)
            _write(parent / "cgroup.subtree_control", enable)
            base.mkdir(exist_ok=True)
            _write(base / "cgroup.subtree_control", enable)
            # the folder of all groups weighs as one ordinary process per core against the machine's other
            # work, so that a job per core graded at once is not squeezed into one process's share
            _write(base / "cpu.weight", str(min(10000, 100 * CPUS)))
        else:
            for base in backend.bases.values():
                base.mkdir(exist_ok=True)
            _write(backend.bases["cpu"] / "cpu.shares", str(1024 * CPUS))
    except OSError:
        return False
    sweep_leftovers(level)
    return True


def sweep_leftovers(level: str) -> list[str]:
    """Remove the groups whose maker is gone (killing what is still in them); their names."""
    backend, _ = _backend(level)
    if backend is None or not backend.bases:
        return []
    names: set[str] = set()
    for base in backend.bases.values():
        with contextlib.suppress(OSError):
            names.update(p.name for p in base.iterdir() if p.is_dir() and _NAME.match(p.name))
    removed = []
    for name in sorted(names):
        match = _NAME.match(name)
        assert match is not None
        pid, started = int(match.group(1)), int(match.group(2))
        if _start_time(pid) != started:
            backend.remove(name)
            removed.append(name)
    return removed


# ------------------------------------------------------------------------------------------ a group

_serial = itertools.count(1)


class Group:
    """One submission's control group (in every hierarchy of its level). Made by :func:`create_group`."""

    def __init__(self, backend: _Backend, name: str) -> None:
        self._backend, self.name = backend, name
        self.level = backend.level
        self._oom_seen = 0
        self._closed = False

    @property
    def folders(self) -> list[Path]:
        return self._backend.folders(self.name)

    def add(self, pid: int) -> None:
        """Move process ``pid`` (as this process sees it) into the group; its later children follow."""
        for folder in self.folders:
            _write(folder / "cgroup.procs", str(pid))

    def open_procs(self) -> list[int]:
        """Descriptors of the group's ``cgroup.procs`` files (close-on-exec): a child started with
        :func:`join` between fork and exec enters the group before its first instruction."""
        return [os.open(folder / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC) for folder in self.folders]

    def oom_kills(self) -> int:
        """Processes the kernel killed in this group for want of memory, in all."""
        return self._backend.oom_kills(self.name)

    def new_oom_kills(self) -> int:
        """Out-of-memory kills since the last time this was asked."""
        seen = self.oom_kills()
        new, self._oom_seen = seen - self._oom_seen, seen
        return max(0, new)

    def cpu_seconds(self) -> float:
        """CPU time used by the group's processes, in all (the living and the dead)."""
        return self._backend.cpu_seconds(self.name)

    def kill(self) -> None:
        """Kill every process in the group; return when none is left."""
        self._backend.kill(self.name)

    def close(self) -> None:
        """Kill what is left and remove the group; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._backend.remove(self.name)


def join(fds: Iterable[int]) -> None:
    """Enter the groups whose ``cgroup.procs`` are open as ``fds``: writing 0 moves the writer (both
    versions). Safe between fork and exec (only ``write``)."""
    for fd in fds:
        os.write(fd, b"0")


def create_group(level: str, limits: Limits) -> Group | None:
    """A new group for one submission under ``level`` bounded by ``limits``; ``None`` under ``rlimits``.
    ``OSError`` when the kernel refuses (the caller reports it)."""
    if level == "rlimits":
        return None
    if not _prepared(level):
        raise ResourcesUnavailable(f"resource level {level} is not available here: {probe_resources(level)[1]}")
    backend, _ = _backend(level)
    assert backend is not None
    name = f"{os.getpid()}-{_start_time(os.getpid()) or 0}-{next(_serial)}"
    made: list[Path] = []
    try:
        for folder in backend.folders(name):
            folder.mkdir()
            made.append(folder)
        backend.configure(name, limits)
    except BaseException:
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return Group(backend, name)
