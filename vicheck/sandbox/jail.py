"""Isolation levels, and how a submission's child process is started and stopped under each.

``namespaces``
    The child runs under bubblewrap (``bwrap``, the sandbox of Flatpak) in new user, PID, network, IPC and
    UTS namespaces, as uid/gid 65534 with no capabilities, ``--die-with-parent``. Its mount view holds,
    read-only, the system's libraries, the interpreter and the site-packages it may import (the grader's
    own packages hidden), and the child's own files; its one writable folder is its scratch folder, seen
    as ``/submission``. ``/proc`` is its own PID namespace's: no other process is visible or reachable,
    and killing the namespace's first process kills every process the submission started.
``uid``
    Where namespaces cannot be made but the grader runs as root: the child drops to a uid of its own (a
    slot in ``61000..61999``, held by a lock file for the child's life), owns only its scratch folder, runs
    under a process limit, and every process of that uid is killed when the child is stopped. Files that
    are readable by everyone and the network stay reachable.
``process``
    A child process in a session of its own (``python -I``, rlimits, a scratch folder): what is possible
    without root and without namespaces.

:func:`choose_level` picks the strongest level this machine provides (``auto``) or checks that a named one
is available and at least the required minimum, raising :class:`IsolationUnavailable` with one line
otherwise. :func:`probe` says what each level needs and whether it is here; results are cached per process.

This module starts and stops children (:class:`Jail`, :class:`Jailed`, the ``uid`` level's slots); the
probing and choosing are :mod:`vicheck.sandbox._levels`, bubblewrap's command line is
:mod:`vicheck.sandbox._bwrap`, the children's scratch tmpfs :mod:`vicheck.sandbox._scratch`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import resource
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vicheck.sandbox._bwrap import JAIL_UID, bwrap_command
from vicheck.sandbox._levels import (
    SLOT_COUNT,
    SLOT_FIRST,
    IsolationUnavailable,
    choose_level,
    level_rank,
    probe,
)
from vicheck.sandbox._scratch import private_scratch, scratch_seeds
from vicheck.sandbox.limits import ISOLATION_LEVELS, Limits
from vicheck.sandbox.resources import Group, join

__all__ = [
    "JAIL_UID",
    "IsolationUnavailable",
    "Jail",
    "Jailed",
    "choose_level",
    "level_rank",
    "probe",
]

# one folder for every grader on the machine (not $TMPDIR, which differs between runs), writable by root only
_SLOT_DIR = Path("/run/vicheck-uid-slots" if os.access("/run", os.W_OK) else "/tmp/vicheck-uid-slots")


# ------------------------------------------------------------------------------------------------ slots


class _Slot:
    """A uid of ``61000..61999`` held (by an exclusive lock on a file) for one child's life."""

    def __init__(self) -> None:
        _SLOT_DIR.mkdir(mode=0o700, exist_ok=True)
        st = _SLOT_DIR.lstat()
        if st.st_uid != 0 or st.st_mode & 0o022 or not _SLOT_DIR.is_dir():  # made by someone else: not ours
            raise IsolationUnavailable(f"{_SLOT_DIR} is not a folder of root's only: uid slots cannot be held")
        start = os.getpid() % SLOT_COUNT  # spreads concurrent graders over the range
        for k in range(SLOT_COUNT):
            uid = SLOT_FIRST + (start + k) % SLOT_COUNT
            try:
                pwd.getpwuid(uid)
                continue  # a real account: never borrow it
            except KeyError:
                pass
            fd = os.open(_SLOT_DIR / f"{uid}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            _sweep_uid(uid)  # a previous holder's leftovers, if it died before sweeping
            return
        raise IsolationUnavailable("every uid slot (61000-61999) is in use")

    def release(self) -> None:
        _sweep_uid(self.uid)
        with contextlib.suppress(OSError):
            os.close(self._fd)


def _uid_processes(uid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.startswith("Uid:"):
                    if int(line.split()[1]) == uid:
                        found.append(int(status.parent.name))
                    break
        except (OSError, ValueError):
            continue
    return found


def _sweep_uid(uid: int) -> None:
    """Kill every process of ``uid``: a forked helper with that uid sends SIGKILL to all it may signal."""
    for _ in range(50):
        if not _uid_processes(uid):
            return
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the forked helper only
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)  # every process of this uid but the helper itself
            except BaseException:
                pass
            os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.01)


# ------------------------------------------------------------------------------------------------ the jail


@dataclass
class Jailed:
    """A started child: its process (``bwrap`` under namespaces), and what is needed to stop all of it."""

    proc: subprocess.Popen[bytes]
    level: str
    slot: _Slot | None = None
    info_fd: int = -1
    _info: bytes = b""
    _stopped: bool = field(default=False, repr=False)

    def _namespace_pid(self) -> int:
        """The host pid of the PID namespace's first process (from ``bwrap --info-fd``), or 0."""
        if self.info_fd < 0:
            return 0
        deadline = time.monotonic() + 2.0
        while b"}" not in self._info and time.monotonic() < deadline:
            ready, _, _ = select.select([self.info_fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(self.info_fd, 4096)
            if not chunk:
                break
            self._info += chunk
        try:
            return int(json.loads(self._info.decode())["child-pid"])
        except (ValueError, KeyError, TypeError):
            return 0

    def kill(self) -> None:
        """Kill the child and everything it started; return when none of it is left (under ``namespaces``:
        once the namespace's first process has ended, which it does only after every process of the
        namespace, and of the namespaces below it, has)."""
        if self._stopped:
            return
        self._stopped = True
        pidfd = -1
        if self.level == "namespaces" and self.proc.poll() is None:
            inner = self._namespace_pid()
            if inner > 0:  # the namespace's first process: its death kills every process in the namespace
                with contextlib.suppress(OSError):
                    pidfd = os.pidfd_open(inner)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(inner, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        if pidfd >= 0:
            select.select([pidfd], [], [], 10.0)
            os.close(pidfd)
        if self.slot is not None:
            self.slot.release()
        if self.info_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.info_fd)


@dataclass(frozen=True)
class Layout:
    """Where the child sees its scratch folder and the grader's files it runs (paths inside the jail)."""

    scratch: str
    files: dict[str, str]


class Jail:
    """Starts children under one isolation level (see the module's docstring)."""

    def __init__(self, level: str, limits: Limits) -> None:
        if level not in ISOLATION_LEVELS[:-1]:
            raise ValueError(f"a jail's level is namespaces, uid or process, got {level!r}")
        ok, detail = probe(level)
        if not ok:
            raise IsolationUnavailable(f"isolation level {level} is not available here: {detail}")
        self.level, self.detail, self.limits = level, detail, limits

    @property
    def own_uid(self) -> bool:
        """Whether the child has a uid (and so a process count) of its own."""
        return self.level in ("uid", "namespaces")

    def layout(self, scratch: Path, files: Mapping[str, Path], staged: Path) -> Layout:
        """Paths as the child sees them. ``staged`` is a folder of the grader's where files are copied for
        a child that cannot read the grader's tree (``uid``)."""
        if self.level == "namespaces":
            return Layout("/submission", {name: f"/grader/{name}" for name in files})
        if self.level == "uid":
            return Layout(str(scratch), {name: str(staged / name) for name in files})
        return Layout(str(scratch), {name: str(path) for name, path in files.items()})

    def prepare(self, scratch: Path, files: Mapping[str, Path], staged: Path) -> None:
        """Stage the grader's files where a ``uid``-level child can read them (the other levels need nothing)."""
        if self.level != "uid":
            return
        staged.mkdir(mode=0o755, exist_ok=True)
        staged.chmod(0o755)
        for name, path in files.items():
            shutil.copyfile(path, staged / name)
            (staged / name).chmod(0o644)

    def start(
        self,
        argv: list[str],
        *,
        scratch: Path,
        files: Mapping[str, Path],
        env: dict[str, str],
        output: int,
        pass_fds: tuple[int, ...],
        group: Group | None = None,
    ) -> Jailed:
        """Start ``argv`` (the interpreter and its arguments, as the child sees paths) in the jail, with
        ``output`` (a descriptor: :class:`vicheck.sandbox.output.OutputCapture`'s pipe) as its stdout and
        stderr, in control group ``group`` from its first instruction (:mod:`vicheck.sandbox.resources`).

        Under ``namespaces`` and ``uid`` the child's scratch folder is a tmpfs of ``limits.disk_mb`` holding
        a copy of what ``scratch`` holds (files and empty folders): what the child writes never reaches the
        host's disk, and a write past the size fails with ENOSPC."""
        return self._start(argv, scratch, files, env, output, pass_fds, zygote=False, group=group)

    def start_zygote(
        self,
        argv: list[str],
        *,
        jobs: Path,
        files: Mapping[str, Path],
        env: dict[str, str],
        log: Path,
        pass_fds: tuple[int, ...],
    ) -> Jailed:
        """Start a zygote (:mod:`vicheck.sandbox.zygote`) in this jail: the view a child has, with ``jobs``
        at ``/jobs`` instead of one scratch folder at ``/submission`` (an empty mount point), and ``/dev``
        read-only (each forked child gets a ``/dev/shm`` and a ``/dev/pts`` of its own).

        Unlike a child, the zygote keeps ``CAP_SYS_ADMIN`` in its own user namespace (it runs only the
        grader's code): its forks make mount, PID and other namespaces owned by that user namespace, mount
        their own ``/proc``, and only then make a user namespace of their own and drop every capability
        (``_zygote.py``)."""
        if self.level != "namespaces":
            raise IsolationUnavailable(f"a zygote runs under the namespaces level only, not {self.level}")
        with open(log, "wb") as logf:  # the zygote's own output; its children get their own descriptors
            return self._start(argv, jobs, files, env, logf.fileno(), pass_fds, zygote=True)

    def _start(
        self,
        argv: list[str],
        scratch: Path,
        files: Mapping[str, Path],
        env: dict[str, str],
        output: int,
        pass_fds: tuple[int, ...],
        *,
        zygote: bool,
        group: Group | None = None,
    ) -> Jailed:
        slot = _Slot() if self.level == "uid" else None
        info_r = info_w = -1
        cmd = argv
        steps: list[Callable[[], None]] = []
        cwd: Path | None = scratch
        opened: list[int] = []
        try:
            if group is not None:
                opened += (fds := group.open_procs())
                steps.append(lambda: join(fds))
            if self.level == "namespaces":  # bwrap sets the child's folder itself (--chdir)
                info_r, info_w = os.pipe()
                seeds = [] if zygote else scratch_seeds(scratch)
                opened += [fd for fd, _ in seeds if fd >= 0]
                cmd = bwrap_command(argv, scratch, files, info_w, limits=self.limits, zygote=zygote, seeds=seeds)
                cwd = None
                pass_fds = (*pass_fds, info_w, *(fd for fd, _ in seeds if fd >= 0))
            elif slot is not None:
                for path in (scratch, *scratch.iterdir()):
                    if path.is_dir():
                        os.chown(path, slot.uid, slot.uid)
                steps.append(private_scratch(scratch, self.limits.disk_mb * 2**20, slot.uid))
                steps.append(_drop_to(slot.uid, self.limits.max_processes))
            preexec = _chain(steps) if steps else None
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                pass_fds=pass_fds,
                start_new_session=True,
                preexec_fn=preexec,  # only setrlimit/setuid between fork and exec
            )
        except BaseException:
            if slot is not None:
                slot.release()
            if info_r >= 0:
                os.close(info_r)
            raise
        finally:
            if info_w >= 0:
                os.close(info_w)
            for fd in opened:
                os.close(fd)
        return Jailed(proc, self.level, slot, info_r)


def _chain(steps: list[Callable[[], None]]) -> Callable[[], None]:
    def run() -> None:  # pragma: no cover - runs between fork and exec
        for step in steps:
            step()

    return run


def _drop_to(uid: int, max_processes: int) -> Callable[[], None]:
    """The ``preexec_fn`` of a ``uid``-level child: a process limit, no groups, then the slot's uid."""

    def drop() -> None:  # pragma: no cover - runs between fork and exec
        resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))
        os.umask(0o077)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    return drop
