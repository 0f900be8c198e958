"""The zygote: a jailed process that imports torch once and forks a child per submission, each child in
namespaces of its own (``python -I _zygote.py LISTEN_FD READY_FD CONFIG``).

It runs inside the grader's bubblewrap jail (:mod:`vicheck.sandbox.jail`), which shows it the system's
files and the interpreter read-only, the grader's child files under ``/grader``, ``/dev`` read-only, and the
class's jobs folder at ``/jobs`` (every submission's scratch folder lies below it), in one user namespace
where it keeps ``CAP_SYS_ADMIN``. Like ``_child.py`` it imports the standard library, numpy, torch (and the
modules named in ``preload``), and loads ``_child.py`` by path; it never runs a submission's code itself.

Each request is one connection on the listening ``SOCK_SEQPACKET`` socket: one JSON message (the scratch
folder relative to ``/jobs``, the child's config, environment and ``argv``, whether to wait to be placed)
carrying three descriptors (the child's request pipe, its reply pipe, its output). The zygote forks a
*keeper*, which

1. when asked (``"place": true``), sends ``{"place": true}`` and waits for ``{"go": true}``: the grader,
   which set ``SO_PASSCRED`` on its end, reads the keeper's pid in its own PID namespace from the message's
   credentials and puts it in the submission's control group, so that init and the child, forked later,
   are in it from their first instruction (anything else, or the connection closed: the keeper ends);
2. makes new mount, PID, IPC, network, UTS and cgroup namespaces, owned by the zygote's user namespace, so
   the mounts it copies are not locked and it may change them (the cgroup namespace's root is the group the
   keeper was placed in, as bubblewrap's ``--unshare-cgroup-try`` makes it for a fresh child);
3. puts at ``/submission`` the scratch folder (bound), or, when the config says ``disk_bytes``, a tmpfs of
   that size holding a copy of what the scratch folder holds; hides ``/jobs`` under an empty read-only
   tmpfs; gives ``/dev/shm`` a fresh tmpfs (no larger than the file-size limit) and ``/dev/pts`` a devpts
   instance of its own: the child sees its own folder and nothing of any other submission's;
4. forks the namespace's first process (*init*: it reaps orphans and ends with the child, as bubblewrap's
   does; its end kills every process left in the namespace). Init mounts the PID namespace's own ``/proc``
   (a proc mount shows the mounting process's PID namespace), covers ``/proc/sys``, ``sysrq-trigger``,
   ``irq`` and ``bus`` read-only as bubblewrap does, starts a session, makes a new user namespace (its uid
   and gid mapped to themselves) and forks the *child*: no capabilities (bounding, ambient, effective,
   permitted and inheritable sets cleared), no new privileges, the submission's rlimits, environment and
   descriptors, then ``_child.serve_submission`` (which seeds the random generators as every child's start).

The keeper answers ``{"started": true}`` once the child is ready (``{"failed": WHY}`` otherwise, after the
namespace is gone) and ``{"exit": STATUS}`` when init ends (bubblewrap's convention: ``128 + N`` for a
process killed by signal N). When the grader closes its end of the connection, the keeper kills init, and
with it the namespace, then reports. Keeper, init and child die with their parents (``PR_SET_PDEATHSIG``).

Why the child cannot undo the mounts: they belong to a mount namespace owned by the zygote's user
namespace, where init and the child have no capability (they are in a user namespace of their own, below
it, and drop every capability there too); a mount namespace the child makes itself is owned by a user
namespace of the child's, and the kernel copies every mount into it locked (``MNT_LOCKED``): none of them
can be unmounted or moved to uncover what lies below, and no proc can be mounted there (the kernel mounts
proc only where a proc mount of that mount namespace is fully visible: no locked mount over a non-empty
folder of it, and the covers of ``/proc/sys`` are). That same rule is why the order here matters: had the
keeper made its user namespace first (or the zygote's jail nested one, as bubblewrap does for ``--dev``, see
``_bwrap.py``), every mount it copied would be locked, bubblewrap's covers of the zygote's ``/proc`` among
them, and init could not mount a ``/proc`` at all.
"""

from __future__ import annotations

import ctypes
import errno
import gc
import importlib
import importlib.util
import json
import os
import select
import signal
import socket
import stat
import sys
import types
from typing import Any, NoReturn

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAPABILITY_VERSION_3 = 0x20080522
_MAX_REQUEST = 1 << 20
#: what bubblewrap covers read-only in every /proc it mounts: the system's settings (writable by the
#: host's root, whose uid the child may have), the magic SysRq key, interrupts, buses
_PROC_COVERED = ("sys", "sysrq-trigger", "irq", "bus")
#: entries copied into a ``disk_bytes`` tmpfs at most (the grader puts two there)
_MAX_COPIED = 64

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.unshare.argtypes = [ctypes.c_int]


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def raw(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    _check(_libc.mount(raw(source), raw(target), raw(fstype), flags, raw(data)), f"mount on {target}")


def _die_with_parent() -> None:
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "PR_SET_PDEATHSIG")


def _drop_privileges() -> None:
    """No capability left in any set, and none to be had again through ``execve``."""
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            if ctypes.get_errno() == errno.EINVAL:  # past the kernel's last capability
                break
            _check(-1, f"dropping capability {cap} from the bounding set")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clearing ambient capabilities")
    header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable (two 32-bit words each): all zero
    _check(_libc.capset(header, data), "capset")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")


def _status(wait_status: int) -> int:
    """bubblewrap's exit convention: the exit status, or 128 + N for a process killed by signal N."""
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    try:
        conn.send(json.dumps(message).encode())
    except OSError:
        pass  # the grader has gone: nothing to tell


def _copy_folder(source: str, target: str, budget: list[int]) -> None:
    """Copy the regular files and folders of ``source`` into the existing folder ``target``, modes kept. A
    link or any other kind of entry is refused (links are never followed), and so are more than
    ``budget[0]`` entries in all."""
    with os.scandir(source) as entries:
        for entry in entries:
            budget[0] -= 1
            if budget[0] < 0:
                raise ValueError(f"more than {_MAX_COPIED} entries in the scratch folder")
            path = os.path.join(target, entry.name)
            st = entry.stat(follow_symlinks=False)
            mode = st.st_mode & 0o777
            if entry.is_dir(follow_symlinks=False):
                os.mkdir(path, 0o700)
                _copy_folder(entry.path, path, budget)
                os.chmod(path, mode)
            elif entry.is_file(follow_symlinks=False):
                src = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
                try:
                    if not stat.S_ISREG(os.fstat(src).st_mode):  # changed since it was listed
                        raise ValueError(f"{entry.path} is no longer a regular file")
                    dst = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                    try:
                        while chunk := os.read(src, 1 << 20):
                            view = memoryview(chunk)
                            while view:
                                view = view[os.write(dst, view) :]
                        os.fchmod(dst, mode)
                    finally:
                        os.close(dst)
                finally:
                    os.close(src)
            else:
                raise ValueError(f"{entry.path} is neither a regular file nor a folder")


def _own_proc() -> None:
    """In init (the PID namespace's first process): a /proc of this PID namespace over the zygote's, with
    what bubblewrap covers covered read-only (a bind of each onto itself, then made read-only)."""
    proc_flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    _mount("proc", "/proc", "proc", proc_flags)
    for name in _PROC_COVERED:
        path = f"/proc/{name}"
        if os.path.lexists(path):
            _mount(path, path, None, MS_BIND | MS_REC)
            _mount(path, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | proc_flags)


def _own_user_namespace() -> None:
    """A new user namespace with this process's uid and gid mapped to themselves (and no ``setgroups``):
    every capability it has from here on is over namespaces it makes itself, none over the mounts."""
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWUSER), "unshare(user)")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def _close_all_but(keep: set[int]) -> None:
    low = 3
    for fd in sorted(k for k in keep if k >= 3):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


# ------------------------------------------------------------------------------------- per submission


class _Zygote:
    """The loaded ``_child`` module, its codec and cells: what every forked child starts from."""

    def __init__(self, child: types.ModuleType, codec: types.ModuleType, cells: types.ModuleType) -> None:
        self.child, self.codec, self.cells = child, codec, cells

    def scratch(self, relative: str) -> str:
        parts = relative.split("/")
        if not relative or relative.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"not a folder below /jobs: {relative!r}")
        path = "/jobs/" + relative
        if not os.path.isdir(path) or os.path.islink(path):
            raise ValueError(f"no scratch folder {path}")
        return path

    def keeper(self, conn: socket.socket, listen_fd: int, request: dict[str, Any], fds: list[int]) -> NoReturn:
        """In the zygote's fork: be placed, make the namespaces, start init and the child, report, wait,
        report."""
        code = 0
        try:
            _die_with_parent()
            os.close(listen_fd)
            scratch = self.scratch(str(request["scratch"]))
            if request.get("place"):
                self.placed(conn)
            # the cgroup namespace's root is the group the keeper is in now: the child sees its own as "/"
            flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWCGROUP
            _check(_libc.unshare(flags), "unshare(mount, pid, ipc, net, uts, cgroup)")
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            disk = request["config"].get("disk_bytes")
            if disk is None:
                _mount(scratch, "/submission", None, MS_BIND | MS_REC)
            else:  # as bubblewrap's --size N --tmpfs: mode 0755, owned by the child's uid
                _mount("tmpfs", "/submission", "tmpfs", MS_NOSUID | MS_NODEV, f"size={int(disk)},mode=0755")
                _copy_folder(scratch, "/submission", [_MAX_COPIED])
            _mount("tmpfs", "/jobs", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=555")
            # tmpfs pages are not the child's address space (RLIMIT_AS): the file-size limit bounds it instead
            size = int(request["config"]["rlimits"]["RLIMIT_FSIZE"][0])
            _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={size}")
            _mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")
            ready_r, ready_w = os.pipe()
            init = os.fork()
            if init == 0:
                os.close(ready_r)
                self.init(conn, request, fds, ready_w)
            os.close(ready_w)
            for fd in fds:
                os.close(fd)
            answer = b""
            while chunk := os.read(ready_r, 4096):
                answer += chunk
            os.close(ready_r)
            if answer != b"ready":
                os.kill(init, signal.SIGKILL)
                os.waitpid(init, 0)
                why = answer.decode("utf-8", "replace") or "the child ended before it was ready"
                _send(conn, {"failed": why})
                os._exit(1)
            _send(conn, {"started": True})
            code = self.watch(conn, init)
        except BaseException as exc:
            _send(conn, {"failed": f"{type(exc).__name__}: {exc}"})
            os._exit(1)
        _send(conn, {"exit": code})
        os._exit(0)

    def placed(self, conn: socket.socket) -> None:
        """Ask the grader to place this process (it reads the pid from the message's credentials) and wait
        until it has; end here when it says anything but go."""
        conn.send(json.dumps({"place": True}).encode())
        try:
            reply = json.loads(conn.recv(4096) or b"{}")
        except ValueError:
            reply = {}
        if not isinstance(reply, dict) or reply.get("go") is not True:
            os._exit(1)  # the grader could not place it and starts the child afresh: nothing to report

    def watch(self, conn: socket.socket, init: int) -> int:
        """Wait for init's end, or for the grader to close the connection (then kill init); its status."""
        pidfd = os.pidfd_open(init)
        while True:
            ready, _, _ = select.select([conn.fileno(), pidfd], [], [])
            if pidfd in ready:
                break
            try:
                data = conn.recv(1)
            except OSError:
                data = b""
            if not data:  # the grader closed its end: the child must go
                os.kill(init, signal.SIGKILL)
                break
        _, status = os.waitpid(init, 0)
        return _status(status)

    def init(self, conn: socket.socket, request: dict[str, Any], fds: list[int], ready_w: int) -> NoReturn:
        """The namespace's first process: mount its /proc, enter a user namespace of its own, start the child,
        reap every orphan, end with the child."""
        try:
            _die_with_parent()
            os.close(conn.detach())
            try:
                _own_proc()
                os.setsid()  # as bubblewrap's first process (--new-session): the child's session and group are 1
                _own_user_namespace()
            except BaseException as exc:
                os.write(ready_w, f"the namespace could not be prepared: {type(exc).__name__}: {exc}".encode())
                raise
            child = os.fork()
            if child == 0:
                self.run_child(request, fds, ready_w)
            os.close(ready_w)
            for fd in fds:
                os.close(fd)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # only the grader stops this process
                signal.signal(sig, signal.SIG_IGN)
            _drop_privileges()
            while True:
                pid, status = os.wait()
                if pid == child:
                    os._exit(_status(status))
        except BaseException:
            os._exit(125)

    def run_child(self, request: dict[str, Any], fds: list[int], ready_w: int) -> NoReturn:
        """The submission's process: become what a fresh ``_child.py`` would be, then serve."""
        fd_in, fd_out, output = fds
        try:
            _die_with_parent()
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(output, 1)
            os.dup2(output, 2)
            _drop_privileges()
            _close_all_but({fd_in, fd_out, ready_w})
            os.chdir("/submission")
            os.environ.clear()
            os.environ.update({str(k): str(v) for k, v in request["env"].items()})
            # a fresh child's argv: ``_child.py FD_IN FD_OUT CONFIG``, with this process's descriptors
            script, _, _, *rest = (str(a) for a in request["argv"])
            sys.argv = [script, str(fd_in), str(fd_out), *rest]
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.fresh_modules()
            self.child._set_limits(request["config"])
            os.write(ready_w, b"ready")
            os.close(ready_w)
        except BaseException as exc:
            try:
                os.write(ready_w, f"the child could not be prepared: {type(exc).__name__}: {exc}".encode())
            finally:
                os._exit(1)
        self.child.serve_submission(fd_in, fd_out, self.codec, self.cells)
        os._exit(0)  # serve_submission exits itself; never reached

    def fresh_modules(self) -> None:
        """What a new interpreter would have afresh: the temporary folder not yet read (``_child.Child``
        seeds the random generators itself)."""
        import tempfile

        tempfile.tempdir = None


# ------------------------------------------------------------------------------------------ the server


def _load(name: str, path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main(argv: list[str]) -> None:
    """Entry point: ``argv = [LISTEN_FD, READY_FD, CONFIG_JSON]``."""
    listen_fd, ready_fd, config = int(argv[0]), int(argv[1]), json.loads(argv[2])
    child = _load("_vicheck_child", config["child"])
    codec, cells = child.prepare(config)
    for name in config.get("preload", ()):  # what most submissions import: each child finds it imported
        try:
            importlib.import_module(name)
        except Exception:
            pass
    zygote = _Zygote(child, codec, cells)
    listener = socket.socket(fileno=listen_fd)
    gc.collect()
    gc.freeze()  # the children share these pages instead of copying them at their first collection
    os.write(ready_fd, b"ready")
    os.close(ready_fd)
    while True:
        ready, _, _ = select.select([listener], [], [], 1.0)
        _reap()
        if not ready:
            continue
        try:
            conn, _ = listener.accept()
        except OSError:
            continue
        fds: list[int] = []
        try:
            data, fds, flags, _ = socket.recv_fds(conn, _MAX_REQUEST, 3)
            if len(fds) != 3 or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                raise ValueError("a request carries one message and three descriptors")
            request = json.loads(data)
        except (OSError, ValueError) as exc:
            _send(conn, {"failed": f"bad request: {exc}"})
            for fd in fds:
                os.close(fd)
            conn.close()
            continue
        pid = os.fork()
        if pid == 0:
            zygote.keeper(conn, listen_fd, request, fds)
        for fd in fds:
            os.close(fd)
        conn.close()


if __name__ == "__main__":
    main(sys.argv[1:])
