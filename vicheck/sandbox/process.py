"""One running child process: its jail, its two pipe ends, framed reads and writes with deadlines, its output."""

from __future__ import annotations

import contextlib
import os
import select
import signal

from vicheck.sandbox import _codec
from vicheck.sandbox.budget import Deadline
from vicheck.sandbox.jail import Jailed
from vicheck.sandbox.output import OutputCapture
from vicheck.sandbox.zygote import ForkedChild

__all__ = ["ChildProcess", "Died", "Expired", "exit_detail"]


class Expired(Exception):
    """The deadline of a wait passed."""


class Died(Exception):
    """The child closed its pipe or broke the protocol."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


def exit_detail(returncode: int | None) -> str:
    """How a child ended, in words."""
    if returncode is None:
        return "it stopped answering"
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        return f"killed by signal {-returncode}"
    why = {
        "SIGKILL": " (killed; memory exhausted?)",
        "SIGSEGV": " (segmentation fault)",
        "SIGXCPU": " (CPU time limit)",
        "SIGXFSZ": " (file size limit: a file written too large)",  # printing is no file write: never this
        "SIGABRT": " (aborted)",
    }.get(name, "")
    return f"killed by {name}{why}"


def _wait(poller: select.poll, deadline: Deadline) -> bool:
    """Wait until ``poller`` has an event (``True``) or ``deadline`` has passed (``False``); a deadline on a
    CPU clock is asked again after each wait it names (see :meth:`Deadline.left`)."""
    while (left := deadline.left()) > 0:
        if poller.poll(left * 1000):
            return True
    return False


class ChildProcess:
    """A started child (``jailed``), the parent's ends of its pipes, and what it prints (``output``)."""

    def __init__(
        self, jailed: Jailed | ForkedChild, fd_write: int, fd_read: int, output: OutputCapture, gen: int
    ) -> None:
        self.jailed, self.fd_write, self.fd_read, self.output, self.gen = jailed, fd_write, fd_read, output, gen
        self.rbuf = bytearray()
        self.poller = select.poll()
        self.poller.register(fd_read, select.POLLIN | select.POLLHUP | select.POLLERR)
        self.wpoller = select.poll()
        self.wpoller.register(fd_write, select.POLLOUT | select.POLLERR)
        self.pending = b""

    @property
    def returncode(self) -> int | None:
        rc = self.jailed.proc.returncode
        if rc is not None and rc > 128 and self.jailed.level == "namespaces":
            return 128 - rc  # bwrap reports a child killed by signal N as exit status 128 + N
        return rc

    def send(self, data: bytes, deadline: Deadline) -> None:
        view = memoryview(self.pending + data if self.pending else data)
        self.pending = b""
        while view:
            try:
                n = os.write(self.fd_write, view)
                view = view[n:]
                continue
            except BlockingIOError:
                pass
            except OSError:
                raise Died() from None
            if not _wait(self.wpoller, deadline):
                raise Expired()

    def send_some(self, data: bytes) -> None:
        """Write what fits in the pipe now, keep the rest for the next :meth:`send`."""
        try:
            n = os.write(self.fd_write, data)
        except OSError:
            n = 0
        self.pending = data[n:]

    def receive(self, deadline: Deadline) -> tuple[bytes, bytearray]:
        header = _codec.HEADER.size
        need = header
        while True:
            if len(self.rbuf) >= header:
                kind, length = _codec.HEADER.unpack_from(self.rbuf, 0)
                if length > _codec.MAX_MESSAGE_BYTES:
                    raise Died(f"protocol violation: a {length}-byte reply is over the limit")
                need = header + length
                if len(self.rbuf) >= need:
                    payload = self.rbuf[header:need]
                    del self.rbuf[:need]
                    return kind, payload
            if not _wait(self.poller, deadline):
                raise Expired()
            try:
                chunk = os.read(self.fd_read, max(need - len(self.rbuf), 1 << 16))
            except OSError:
                chunk = b""
            if not chunk:
                with contextlib.suppress(Exception):
                    self.jailed.proc.wait(timeout=1)
                raise Died()
            self.rbuf += chunk

    def kill(self) -> None:
        """Stop the child and every process it started (how depends on the jail), then close the pipes and
        read the rest of what it printed."""
        self.jailed.kill()
        for fd in (self.fd_write, self.fd_read):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.output.stop()

    def log_tail(self, lines: int = 3) -> str:
        """The last ``lines`` lines the child printed, for an error message (see :meth:`OutputCapture.tail`)."""
        return self.output.tail(lines)
