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
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import pwd
import resource
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vicheck.sandbox.limits import ISOLATION_LEVELS, Limits, pick_level
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

#: the uid and gid the child has inside the namespaces jail (``nobody``)
JAIL_UID = 65534
_SLOT_FIRST, _SLOT_COUNT = 61000, 1000
# one folder for every grader on the machine (not $TMPDIR, which differs between runs), writable by root only
_SLOT_DIR = Path("/run/vicheck-uid-slots" if os.access("/run", os.W_OK) else "/tmp/vicheck-uid-slots")
#: the grader's packages, hidden in every site-packages folder the jail shows
_GRADER_PACKAGES = ("reference", "properties", "vicheck", "benchmarks", "tests")
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/nsswitch.conf")
_NAMESPACE_FLAGS = (
    "--unshare-user",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
)


class IsolationUnavailable(Exception):
    """The isolation level asked for cannot be provided here; ``str()`` is one line saying why."""


def level_rank(level: str) -> int:
    """3 for ``namespaces`` down to 0 for ``none``."""
    return len(ISOLATION_LEVELS) - 1 - ISOLATION_LEVELS.index(level)


# ------------------------------------------------------------------------------------------------ probing


def _interpreter_dirs() -> list[Path]:
    """Folders the child's interpreter needs: its installation, the venv, and site-packages folders."""
    found: list[Path] = []
    for raw in (sys.base_prefix, sys.prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))):
        found.append(Path(raw).resolve())
    for entry in sys.path:
        if entry and os.path.isdir(entry) and os.path.basename(entry) in ("site-packages", "dist-packages"):
            found.append(Path(entry).resolve())
    kept: list[Path] = []
    for path in sorted(set(found), key=lambda p: len(p.parts)):
        if path != Path("/") and not any(path.is_relative_to(k) for k in kept):
            kept.append(path)
    return kept


@functools.cache
def _bwrap() -> tuple[str, str]:
    """``(path, version)`` of a working bubblewrap, or ``("", why not)``."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "", "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        trial = subprocess.run(
            [exe, *_NAMESPACE_FLAGS, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"],
            capture_output=True,
            text=True,
            timeout=20,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return "", f"bwrap could not run ({type(exc).__name__}: {exc})"
    if trial.returncode != 0:
        why = (trial.stderr.strip().splitlines() or [f"exit status {trial.returncode}"])[-1]
        return "", f"bwrap cannot create namespaces here ({why}); user namespaces may be disabled"
    return exe, version or "bubblewrap"


def _readable_by(uid: int, paths: list[Path]) -> str:
    """ "" when ``uid`` can read and traverse every path; else the first path it cannot reach."""
    modes = [os.R_OK | (os.X_OK if p.is_dir() else 0) for p in paths]  # decided as the grader, who can look
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked probe only
        code = 0
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            for i, (p, mode) in enumerate(zip(paths, modes, strict=True)):
                if not os.access(p, mode):
                    code = 10 + i
                    break
        except BaseException:
            code = 1
        os._exit(min(code, 255))
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return ""
    if code == 1:
        return "changing to an unprivileged uid failed"
    return str(paths[code - 10]) if code - 10 < len(paths) else "a path"


@functools.cache
def _uid_level() -> tuple[bool, str]:
    if os.geteuid() != 0:
        return False, "the grader does not run as root, so it cannot give the child a uid of its own"
    needed = [Path(os.path.realpath(sys.executable)), *_interpreter_dirs()]
    blocked = _readable_by(_SLOT_FIRST + _SLOT_COUNT - 1, needed)
    if blocked:
        return False, f"an unprivileged uid cannot read the interpreter or its packages ({blocked} is not reachable)"
    return True, f"uids {_SLOT_FIRST}-{_SLOT_FIRST + _SLOT_COUNT - 1}, at most {Limits().max_processes} processes"


def probe(level: str) -> tuple[bool, str]:
    """Whether ``level`` is available here, and its detail (version, uid range) or why it is not."""
    if level == "namespaces":
        exe, detail = _bwrap()
        return bool(exe), detail
    if level == "uid":
        return _uid_level()
    if level in ("process", "none"):
        return True, "a child process per submission" if level == "process" else "in the grader's process"
    raise ValueError(f"unknown isolation level {level!r}")


def choose_level(requested: str = "auto", minimum: str = "process") -> str:
    """The level to grade under: the strongest available for ``auto``, else ``requested`` if available
    (``none``, in the grader's own process, only where no stronger minimum is required).

    :class:`IsolationUnavailable` (one line) when ``requested`` is not available here, or when the level is
    weaker than ``minimum`` (the rubric's ``[limits] isolation``).
    """
    if requested == "none":
        # "process", the default minimum, asks for nothing; a rubric that names uid or namespaces does
        if minimum != "process":
            raise IsolationUnavailable(
                f"the rubric requires isolation level {minimum} or stronger; isolation none runs the submission "
                "in the grader's own process"
            )
        return "none"
    return pick_level(
        ISOLATION_LEVELS,
        requested,
        minimum,
        probe=probe,
        rank=level_rank,
        what="isolation level",
        required="isolation level {minimum}",
        error=IsolationUnavailable,
    )


# ------------------------------------------------------------------------------------------------ slots


class _Slot:
    """A uid of ``61000..61999`` held (by an exclusive lock on a file) for one child's life."""

    def __init__(self) -> None:
        _SLOT_DIR.mkdir(mode=0o700, exist_ok=True)
        st = _SLOT_DIR.lstat()
        if st.st_uid != 0 or st.st_mode & 0o022 or not _SLOT_DIR.is_dir():  # made by someone else: not ours
            raise IsolationUnavailable(f"{_SLOT_DIR} is not a folder of root's only: uid slots cannot be held")
        start = os.getpid() % _SLOT_COUNT  # spreads concurrent graders over the range
        for k in range(_SLOT_COUNT):
            uid = _SLOT_FIRST + (start + k) % _SLOT_COUNT
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
                seeds = [] if zygote else _scratch_seeds(scratch)
                opened += [fd for fd, _ in seeds if fd >= 0]
                cmd = self._bwrap_command(argv, scratch, files, info_w, zygote=zygote, seeds=seeds)
                cwd = None
                pass_fds = (*pass_fds, info_w, *(fd for fd, _ in seeds if fd >= 0))
            elif slot is not None:
                for path in (scratch, *scratch.iterdir()):
                    if path.is_dir():
                        os.chown(path, slot.uid, slot.uid)
                steps.append(_private_scratch(scratch, self.limits.disk_mb * 2**20, slot.uid))
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

    def _bwrap_command(
        self,
        argv: list[str],
        scratch: Path,
        files: Mapping[str, Path],
        info_fd: int,
        *,
        zygote: bool = False,
        seeds: Sequence[tuple[int, str]] = (),
    ) -> list[str]:
        """bubblewrap's command line: the namespaces, the read-only view, the scratch folder (for a zygote:
        the jobs folder ``scratch`` at ``/jobs``), then ``argv``. The scratch folder is a tmpfs of the disk
        limit's size holding ``seeds`` (a descriptor to copy from and a file name, or ``-1`` and a folder
        name: see :func:`_scratch_seeds`)."""
        exe, _ = _bwrap()
        cmd = [exe, *_NAMESPACE_FLAGS, "--uid", str(JAIL_UID), "--gid", str(JAIL_UID), "--hostname", "sandbox"]
        cmd += ["--info-fd", str(info_fd)]
        for system in (*_SYSTEM_DIRS, *_SYSTEM_FILES):
            cmd += ["--ro-bind-try", system, system]
        for folder in _interpreter_dirs():
            cmd += ["--ro-bind", str(folder), str(folder)]
            for name in _GRADER_PACKAGES:  # a non-editable install of the grader: hide its sources
                if (folder / name).is_dir():
                    cmd += ["--tmpfs", str(folder / name), "--remount-ro", str(folder / name)]
        cmd += ["--proc", "/proc", "--dev", "/dev"]
        if zygote:
            # bwrap mounts --dev's devpts as uid 0 of a first user namespace and nests a second one for --uid:
            # the mount namespace would be the first's, where the zygote has no capability, and no fork could
            # mount a /proc of its own (see _zygote.py). So the zygote's /dev is made as --dev makes it, less
            # the devpts (each fork mounts its own), in one user namespace
            at = cmd.index("--dev")
            del cmd[at : at + 2]
            cmd += ["--tmpfs", "/dev"]
            for node in ("null", "zero", "full", "random", "urandom", "tty"):
                cmd += ["--dev-bind-try", f"/dev/{node}", f"/dev/{node}"]
            for name, target in (
                ("ptmx", "pts/ptmx"),
                ("fd", "/proc/self/fd"),
                ("stdin", "/proc/self/fd/0"),
                ("stdout", "/proc/self/fd/1"),
                ("stderr", "/proc/self/fd/2"),
                ("core", "/proc/kcore"),
            ):
                cmd += ["--symlink", target, f"/dev/{name}"]
            cmd += ["--dir", "/dev/pts", "--dir", "/dev/shm", "--remount-ro", "/dev", "--cap-add", "CAP_SYS_ADMIN"]
            cmd += ["--bind", str(scratch), "/jobs", "--dir", "/submission", "--chdir", "/"]
        else:
            # bubblewrap covers /proc/sys only where its setup could write it, and behind uid 65534 stands the
            # grader's own uid: run as root, a child could open global sysctls (kernel.core_pattern) for
            # writing. A read-only view of the kernel's settings instead (a fork covers its own /proc so)
            cmd += [
                "--ro-bind",
                "/proc/sys",
                "/proc/sys",
                "--ro-bind-try",
                "/proc/sysrq-trigger",
                "/proc/sysrq-trigger",
            ]
            cmd += ["--size", str(self.limits.disk_mb * 2**20), "--tmpfs", "/submission"]
            for fd, name in seeds:
                cmd += ["--dir", f"/submission/{name}"] if fd < 0 else ["--file", str(fd), f"/submission/{name}"]
            cmd += ["--chdir", "/submission"]
        for name, path in files.items():
            cmd += ["--ro-bind", str(path), f"/grader/{name}"]
        return [*cmd, "--remount-ro", "/", "--", *argv]


def _chain(steps: list[Callable[[], None]]) -> Callable[[], None]:
    def run() -> None:  # pragma: no cover - runs between fork and exec
        for step in steps:
            step()

    return run


def _scratch_entries(scratch: Path) -> list[tuple[str, bool]]:
    """``(name, is a folder)`` of each folder and regular file in ``scratch``, by name; links and anything else
    left out (never followed): what a child's private scratch folder starts with."""
    with os.scandir(scratch) as entries:
        return sorted(
            (e.name, e.is_dir(follow_symlinks=False))
            for e in entries
            if e.is_dir(follow_symlinks=False) or e.is_file(follow_symlinks=False)
        )


def _scratch_seeds(scratch: Path) -> list[tuple[int, str]]:
    """What the child's tmpfs starts with: ``(descriptor, name)`` for each regular file of ``scratch`` (open
    for reading: bubblewrap copies it in) and ``(-1, name)`` for each folder (made empty). Links are not
    followed: the grader put only a copy of the submission and an empty ``tmp`` there."""
    seeds: list[tuple[int, str]] = []
    try:
        for name, folder in _scratch_entries(scratch):
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
            seeds.append((-1, name) if folder else (os.open(scratch / name, flags), name))
    except BaseException:
        for fd, _ in seeds:
            if fd >= 0:
                os.close(fd)
        raise
    return seeds


_CLONE_NEWNS, _MS_REC, _MS_PRIVATE, _MS_NOSUID, _MS_NODEV = 0x00020000, 16384, 1 << 18, 2, 4


def _private_scratch(scratch: Path, size: int, uid: int) -> Callable[[], None]:
    """The ``uid`` level's scratch folder: between fork and exec, still root, the child enters a mount
    namespace of its own, mounts a tmpfs of ``size`` bytes owned by ``uid`` over ``scratch`` and copies in
    what the grader had put there. The tmpfs goes with the child's last process; the host's disk is
    untouched."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    contents = [(name, None if folder else (scratch / name).read_bytes()) for name, folder in _scratch_entries(scratch)]
    target = str(scratch).encode()
    options = f"size={size},mode=0700,uid={uid},gid={uid}".encode()

    def private() -> None:  # pragma: no cover - runs between fork and exec
        if libc.unshare(_CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
        if libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
            raise OSError(ctypes.get_errno(), "making the mounts private")
        if libc.mount(b"tmpfs", target, b"tmpfs", _MS_NOSUID | _MS_NODEV, options) != 0:
            raise OSError(ctypes.get_errno(), "mounting the scratch tmpfs")
        for name, data in contents:
            path = os.path.join(scratch, name)
            if data is None:
                os.mkdir(path, 0o700)
            else:
                with open(path, "wb") as f:
                    f.write(data)
            os.chown(path, uid, uid)
        os.chdir(scratch)  # the cwd Popen set is the host folder under the new mount

    return private


def _drop_to(uid: int, max_processes: int) -> Callable[[], None]:
    """The ``preexec_fn`` of a ``uid``-level child: a process limit, no groups, then the slot's uid."""

    def drop() -> None:  # pragma: no cover - runs between fork and exec
        resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))
        os.umask(0o077)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    return drop
