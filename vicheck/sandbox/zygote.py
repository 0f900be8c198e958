"""Children forked from a warm, jailed zygote instead of started afresh: the grader's side of ``_zygote.py``.

A fresh child under the ``namespaces`` level starts an interpreter and imports torch (and, for most
submissions, scipy): about 2 s of CPU, the same 2 s for every student. A :class:`Zygote` is one jailed
process (bubblewrap, as a fresh child's jail, with the class's jobs folder at ``/jobs``) that has imported
them once; for each child it forks a process that makes mount, PID, IPC, network and UTS namespaces of its
own, sees only its own scratch folder (at ``/submission``, as a fresh child does) and its own PID namespace
in ``/proc``, enters a user namespace of its own, drops every capability and serves the submission as
``_child.py`` would. See ``_zygote.py`` for what happens there.

:func:`spawn` can have the fork placed in the submission's control group before it makes any namespace
(``place``): the keeper (the zygote's fork that starts the child) sends one message, whose credentials the
kernel gives the grader with the keeper's pid in the grader's own PID namespace (``SO_PASSCRED``); the grader
places that pid and tells the keeper to go on. Init and the child, forked by the keeper afterwards, are in
the group from their first instruction.

The warm worker (:mod:`vicheck.grading.run.warm`) starts a zygote beside its fork server and :func:`install`\\ s
its :class:`Address` before it forks pytest runs; :class:`~vicheck.sandbox.isolated.IsolatedImplementation`
then :func:`spawn`\\ s its child from it when its scratch folder lies in the jobs folder, and starts a fresh
child otherwise, or when the zygote fails (:class:`ZygoteUnavailable`; the zygote is then not asked again
in that process).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vicheck.sandbox._levels import grader_path_entries
from vicheck.sandbox.jail import Jail, Jailed

__all__ = ["Address", "ForkedChild", "Zygote", "ZygoteUnavailable", "install", "installed", "spawn", "uninstall"]

_HERE = Path(__file__).resolve().parent
#: the files the zygote runs, as ``/grader/NAME`` in its jail
ZYGOTE_FILES: dict[str, Path] = {name: _HERE / name for name in ("_zygote.py", "_child.py", "_codec.py", "_cells.py")}
#: imported by the zygote for every child: what nearly every submission imports (the lecture's
#: ``from scipy.optimize import brute``, ``scipy.integrate.quad``)
PRELOAD = ("scipy.optimize", "scipy.integrate")
#: seconds a request may wait for the zygote's answer (it forks in milliseconds once it is ready)
ANSWER_SECONDS = 30.0
#: ``struct ucred`` (``SCM_CREDENTIALS``): pid, uid, gid
_UCRED = struct.Struct("3i")


class ZygoteUnavailable(Exception):
    """The zygote could not start a child. ``sent`` says whether the child's descriptors had been handed
    over (then a dying keeper may still hold them: the caller makes new pipes before starting afresh)."""

    def __init__(self, why: str, *, sent: bool = False) -> None:
        super().__init__(why)
        self.sent = sent


@dataclass(frozen=True)
class Address:
    """Where a zygote listens, and the jobs folder it sees as ``/jobs``."""

    socket: str
    jobs: Path

    def relative(self, scratch: Path) -> str | None:
        """``scratch`` relative to the jobs folder, or ``None`` when it is not inside it."""
        try:
            return scratch.resolve().relative_to(self.jobs.resolve()).as_posix()
        except ValueError:
            return None


_installed: Address | None = None


def install(address: Address | None) -> None:
    """Make ``address`` the zygote of this process (and of the processes it forks later)."""
    global _installed
    _installed = address


def uninstall() -> None:
    install(None)


def installed() -> Address | None:
    return _installed


# ------------------------------------------------------------------------------------------ the zygote


class Zygote:
    """Starts and owns one jailed zygote. ``jobs`` is the folder every child's scratch folder lies in."""

    def __init__(self, jail: Jail, jobs: Path, env: dict[str, str]) -> None:
        if jail.level != "namespaces":
            raise ZygoteUnavailable(f"a zygote needs the namespaces level, not {jail.level}")
        self.jobs = jobs
        self._folder = Path(tempfile.mkdtemp(prefix="vicheck-zygote-"))
        self.address = Address(str(self._folder / "zygote.sock"), jobs)
        self._log = self._folder / "zygote.log"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ready_w = -1
        try:
            listener.bind(self.address.socket)
            listener.listen(128)
            self._ready_r, ready_w = os.pipe()
            config = {
                "child": "/grader/_child.py",
                "codec": "/grader/_codec.py",
                "cells": "/grader/_cells.py",
                "strip_paths": grader_path_entries(),
                "preload": list(PRELOAD),
            }
            fds = (listener.fileno(), ready_w)
            argv = [sys.executable, "-I", "/grader/_zygote.py", *map(str, fds), json.dumps(config)]
            self._jailed: Jailed = jail.start_zygote(
                argv, jobs=jobs, files=ZYGOTE_FILES, env=env, log=self._log, pass_fds=fds
            )
        except BaseException:
            shutil.rmtree(self._folder, ignore_errors=True)
            raise
        finally:
            listener.close()  # the zygote holds it; connections queue until it accepts
            if ready_w >= 0:
                os.close(ready_w)

    def wait_ready(self, timeout: float) -> float:
        """Seconds until the zygote had imported everything; :class:`ZygoteUnavailable` if it did not."""
        start = time.monotonic()
        got = b""
        while got != b"ready" and time.monotonic() - start < timeout:
            ready, _, _ = select.select([self._ready_r], [], [], max(0.0, timeout - (time.monotonic() - start)))
            if not ready:
                break
            chunk = os.read(self._ready_r, 16)
            if not chunk:
                break
            got += chunk
        if got != b"ready":
            text = self._log.read_text(errors="replace") if self._log.exists() else ""
            tail = " | ".join(text.strip().splitlines()[-3:])
            self.close()
            raise ZygoteUnavailable(f"the zygote did not start{': ' + tail if tail else ''}")
        return time.monotonic() - start

    def close(self) -> None:
        """Kill the zygote and every child it forked (its whole PID namespace); idempotent. Returns when none
        of them is left (:meth:`~vicheck.sandbox.jail.Jailed.kill`)."""
        self._jailed.kill()
        with contextlib.suppress(OSError):
            os.close(self._ready_r)
        shutil.rmtree(self._folder, ignore_errors=True)


# ------------------------------------------------------------------------------------------ a child


class _Ended:
    """The ``subprocess.Popen`` subset :class:`~vicheck.sandbox.process.ChildProcess` uses, read from the
    keeper's connection: the child's exit status, in bubblewrap's convention."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self.returncode: int | None = None

    def _read(self, timeout: float | None) -> None:
        if self.returncode is not None:
            return
        if self._conn.fileno() < 0:  # closed by kill() before the status came
            self.returncode = 128 + 9
            return
        ready, _, _ = select.select([self._conn], [], [], timeout)
        if not ready:
            return
        try:
            data = self._conn.recv(4096)
        except OSError:
            data = b""
        try:
            message = json.loads(data) if data else {}
        except ValueError:
            message = {}
        # no message: the keeper was killed (its zygote died), and the child with it
        self.returncode = int(message["exit"]) if "exit" in message else 128 + 9

    def poll(self) -> int | None:
        self._read(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._read(timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired("zygote child", timeout or 0.0)
        return self.returncode


@dataclass
class ForkedChild:
    """A child forked by the zygote: what :class:`~vicheck.sandbox.process.ChildProcess` needs of a jail."""

    conn: socket.socket
    proc: _Ended
    level: str = "namespaces"
    _stopped: bool = field(default=False, repr=False)

    def kill(self) -> None:
        """Kill the child and everything it started; return when none of it is left."""
        if self._stopped:
            return
        self._stopped = True
        # the keeper kills the namespace's first process when its connection closes, waits until the
        # namespace is empty, then sends the exit status
        with contextlib.suppress(OSError):
            self.conn.shutdown(socket.SHUT_WR)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.conn.close()


def _placed(conn: socket.socket, place: Callable[[int], None]) -> None:
    """The keeper's request to be placed: its pid (from the message's credentials, in this process's PID
    namespace) to ``place``, then go on; :class:`ZygoteUnavailable` (the keeper told to stop) otherwise."""
    data, ancillary, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(_UCRED.size))
    pid = 0
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(payload) >= _UCRED.size:
            pid = _UCRED.unpack_from(payload)[0]
    try:
        message = json.loads(data or b"{}")
    except ValueError:
        message = {}
    if not isinstance(message, dict) or message.get("place") is not True:
        why = message.get("failed") if isinstance(message, dict) else None
        raise ZygoteUnavailable(str(why or "the zygote closed the connection"), sent=True)
    try:
        if pid <= 0:  # not in a PID namespace this process sees: nothing to place
            raise ValueError("no pid came with the keeper's credentials")
        place(pid)
    except Exception as exc:
        with contextlib.suppress(OSError):
            conn.send(json.dumps({"go": False}).encode())
        raise ZygoteUnavailable(f"the child could not be placed: {type(exc).__name__}: {exc}", sent=True) from None
    conn.send(json.dumps({"go": True}).encode())


def spawn(
    address: Address,
    *,
    scratch: Path,
    config: dict[str, Any],
    env: dict[str, str],
    argv: list[str],
    output: int,
    fds: tuple[int, int],
    place: Callable[[int], None] | None = None,
) -> ForkedChild:
    """Ask the zygote for a child serving ``fds`` (its request and reply pipe ends) in ``scratch``, printing
    into ``output`` (a descriptor, left open: the caller closes it).

    ``place``, when given, is called with the host pid (as this process sees it) of the zygote's fork that
    will start the child, before it makes any namespace or process: it puts it in the submission's control
    group, which the child and all it starts then inherit. When ``place`` raises, the fork ends and
    :class:`ZygoteUnavailable` (``sent=True``) says why."""
    relative = address.relative(scratch)
    if relative is None:
        raise ZygoteUnavailable(f"{scratch} is not in the zygote's jobs folder")
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sent = False
    try:
        conn.settimeout(ANSWER_SECONDS)
        conn.connect(address.socket)
        if place is not None:  # before the keeper can send: the kernel attaches the sender's credentials
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        request = {"scratch": relative, "config": config, "env": env, "argv": argv, "place": place is not None}
        socket.send_fds(conn, [json.dumps(request).encode()], [*fds, output])
        sent = True
        if place is not None:
            _placed(conn, place)
        answer = json.loads(conn.recv(65536) or b"{}")
        if not answer.get("started"):
            raise ZygoteUnavailable(str(answer.get("failed") or "the zygote closed the connection"), sent=True)
        conn.settimeout(None)
    except ZygoteUnavailable:
        conn.close()
        raise
    except (OSError, ValueError) as exc:
        conn.close()
        raise ZygoteUnavailable(f"{type(exc).__name__}: {exc}", sent=sent) from None
    except BaseException:  # the keeper, waiting on the connection, ends when it closes
        conn.close()
        raise
    return ForkedChild(conn, _Ended(conn))
