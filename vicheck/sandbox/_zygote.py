"""The zygote: a jailed process that imports torch once and forks a child per submission, each child in
namespaces of its own (``python -I _zygote.py LISTEN_FD READY_FD CONFIG``).

It runs inside the grader's bubblewrap jail (:mod:`vicheck.sandbox.jail`), which shows it the system's
files and the interpreter read-only, the grader's child files under ``/grader``, ``/dev`` read-only, and the
class's jobs folder at ``/jobs`` (every submission's scratch folder lies below it). Like ``_child.py`` it
imports the standard library, numpy, torch (and the modules named in ``preload``), and loads ``_child.py``
by path; it never runs a submission's code itself.

Each request is one connection on the listening ``SOCK_SEQPACKET`` socket: one JSON message (the scratch
folder relative to ``/jobs``, the child's config, environment and ``argv``) carrying three descriptors (the
child's request pipe, its reply pipe, its log). The zygote forks a *keeper*, which

1. makes a new user namespace (its uid and gid mapped to themselves), then new mount, PID, IPC, network and
   UTS namespaces;
2. binds the scratch folder at ``/submission``, hides ``/jobs`` and ``/proc`` under empty read-only tmpfs
   mounts, and gives ``/dev/shm`` a fresh tmpfs (no larger than the file-size limit): the child sees its
   own folder and nothing of any other submission's;
3. forks the namespace's first process (*init*: it reaps orphans and ends with the child, as bubblewrap's
   does; its end kills every process left in the namespace), which forks the *child*: no capabilities
   (bounding, ambient, effective, permitted and inheritable sets cleared), no new privileges, the
   submission's rlimits, environment and descriptors, then ``_child.serve_submission`` (which seeds the
   random generators as every child's start).

The keeper answers ``{"started": true}`` once the child is ready (``{"failed": WHY}`` otherwise, after the
namespace is gone) and ``{"exit": STATUS}`` when init ends (bubblewrap's convention: ``128 + N`` for a
process killed by signal N). When the grader closes its end of the connection, the keeper kills init, and
with it the namespace, then reports. Keeper, init and child die with their parents (``PR_SET_PDEATHSIG``).

Mounts made here belong to a namespace the child has no capabilities in; a namespace the child makes
itself copies them locked (``MNT_LOCKED``), so it cannot unmount what hides the other submissions.
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
import sys
import types
from typing import Any, NoReturn

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAPABILITY_VERSION_3 = 0x20080522
_MAX_REQUEST = 1 << 20

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
        """In the zygote's fork: make the namespaces, start init and the child, report, wait, report."""
        code = 0
        try:
            _die_with_parent()
            os.close(listen_fd)
            scratch = self.scratch(str(request["scratch"]))
            uid, gid = os.getuid(), os.getgid()
            _check(_libc.unshare(CLONE_NEWUSER), "unshare(user)")
            for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
                with open(f"/proc/self/{name}", "w") as f:
                    f.write(text)
            flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS
            _check(_libc.unshare(flags), "unshare(mount, pid, ipc, net, uts)")
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            _mount(scratch, "/submission", None, MS_BIND | MS_REC)
            for hidden in ("/jobs", "/proc"):
                _mount("tmpfs", hidden, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=555")
            # tmpfs pages are not the child's address space (RLIMIT_AS): the file-size limit bounds it instead
            size = int(request["config"]["rlimits"]["RLIMIT_FSIZE"][0])
            _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={size}")
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
        """The namespace's first process: start the child, reap every orphan, end with the child."""
        try:
            _die_with_parent()
            os.close(conn.detach())
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
        fd_in, fd_out, log = fds
        try:
            _die_with_parent()
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
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
