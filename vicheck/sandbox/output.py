"""What a child prints: a pipe drained by a thread of the grader, which keeps its first and last 64 KiB.

A child's stdout and stderr were a log file, and the file size limit (``RLIMIT_FSIZE``) killed a child that
printed too much: a ``print`` left in a loop cost the student every property. Now they are the write end of a
pipe (an :class:`OutputCapture`), and a pipe write is no file write, so printing never kills the child. A
daemon thread reads the pipe in large chunks as fast as the child writes, keeps the first
:data:`HEAD_BYTES` and the last :data:`TAIL_BYTES` (a ring), and counts the bytes in between: the grader's
memory per child is bounded (the two buffers and one read buffer) whatever the child prints, and the child
waits for the grader only while a chunk is copied.

Whoever else holds the write end (an escaped daemon under the ``process`` level may hold it forever, writing
or not) cannot make :meth:`OutputCapture.stop` wait: it wakes the thread through a pipe of its own, the
thread reads what is in the pipe at that moment and ends, and its end of the pipe is closed; a later write
into it fails (``EPIPE``) in the writer, whose business that is.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import struct
import termios
import threading
import time

from vicheck.sandbox.limits import Limits

__all__ = ["HEAD_BYTES", "TAIL_BYTES", "OutputCapture", "human_bytes"]

#: bytes kept from the start of a child's output, and from its end, unless the rubric says otherwise
#: (``output_kb``, declared in :mod:`vicheck.sandbox.limits`)
HEAD_BYTES = TAIL_BYTES = Limits().output_kb * 1024
#: bytes one read takes from the pipe (into a buffer allocated once)
READ_BYTES = 64 * 1024
#: the pipe's capacity (asked for; the system may refuse): a child that prints in bursts rarely waits
PIPE_BYTES = 1 << 20
#: reads in a row before the thread looks whether it is asked to stop (a child that never pauses)
READS_PER_POLL = 32
#: at most this much is read once the thread is asked to stop: what the pipe held, not a writer's stream
FINAL_BYTES = 4 * PIPE_BYTES
#: seconds :meth:`OutputCapture.stop` waits for the thread (which never blocks once asked to stop)
STOP_SECONDS = 2.0
#: seconds :meth:`OutputCapture.kept` waits for the thread to take in what the pipe holds (a writer that never
#: pauses would keep it waiting)
SETTLE_SECONDS = 0.5
#: bytes at the end of the kept output that :meth:`OutputCapture.tail` looks at
_TAIL_WINDOW = 4096

_POLL_MASK = select.POLLIN | select.POLLHUP | select.POLLERR


def human_bytes(n: int) -> str:
    """``n`` bytes in decimal units (B, KB, MB, GB): ``"600 MB"``, ``"1.5 KB"``, ``"12 B"``."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB"):
        value /= 1000
        shown = f"{value:.1f}" if value < 9.95 else f"{value:.0f}"
        if float(shown) < 1000 or unit == "GB":
            return f"{shown.removesuffix('.0')} {unit}"
    raise AssertionError("unreachable")


def _kib(n: int) -> str:
    return f"{n // 1024} KiB" if n % 1024 == 0 else f"{n} bytes"


class OutputCapture:
    """A pipe for a child's stdout and stderr, drained by a daemon thread of the grader.

    :attr:`writer` is the end to hand to the child (the ``stdout``/``stderr`` of the process started, or the
    descriptor sent to the zygote); the parent closes its own copy with :meth:`close_writer` once the child
    has it. :meth:`stop` ends the thread (after the child is dead: what is still in the pipe is read first).
    The kept output stays readable after :meth:`stop`: :meth:`text`, :meth:`tail`, :attr:`total`.
    """

    def __init__(self, keep: int = HEAD_BYTES) -> None:
        #: bytes kept from the start and from the end (the rubric's ``output_kb``)
        self.keep_bytes = keep
        read_fd, self.writer = os.pipe()  # both close-on-exec: only the child it is handed to gets one
        self._stop_r = self._stop_w = -1
        try:
            with contextlib.suppress(OSError):  # a smaller pipe works too, with more switches
                fcntl.fcntl(self.writer, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
            os.set_blocking(read_fd, False)
            self._stop_r, self._stop_w = os.pipe()
        except BaseException:
            for fd in (read_fd, self.writer, self._stop_r, self._stop_w):
                if fd >= 0:
                    os.close(fd)
            raise
        self._read_fd = read_fd
        self._lock = threading.Lock()
        self._head = bytearray()
        self._ring = bytearray()  # keep_bytes once the head is full
        self._ring_pos = 0  # where the next byte goes; with a full ring, the oldest byte kept
        self._ring_len = 0
        self._total = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._drain, name="vicheck-output", daemon=True)
        try:
            self._thread.start()
        except BaseException:  # no thread (RuntimeError: can't start new thread): nothing reads, close it all
            for fd in (read_fd, self.writer, self._stop_r, self._stop_w):
                os.close(fd)
            raise

    # ------------------------------------------------------------------------------------ the parent's side
    def close_writer(self) -> None:
        """Close the grader's copy of the write end (the child has its own); idempotent."""
        if self.writer >= 0:
            with contextlib.suppress(OSError):
                os.close(self.writer)
            self.writer = -1

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Read what the pipe holds now, then end the thread and close the pipe, without waiting for the
        writers to close it (an escaped daemon may never); idempotent. Call it once the child is dead."""
        if self._stopped:
            return
        self._stopped = True
        self.close_writer()
        with contextlib.suppress(OSError):  # the thread may have ended already (end of file) and closed its end
            os.write(self._stop_w, b"x")
        self._thread.join(timeout)
        with contextlib.suppress(OSError):
            os.close(self._stop_w)

    @property
    def running(self) -> bool:
        """Whether the thread still reads the pipe."""
        return self._thread.is_alive()

    # ------------------------------------------------------------------------------------ what was kept
    @property
    def total(self) -> int:
        """Bytes the child printed (read so far)."""
        return self._total

    @property
    def dropped(self) -> int:
        """Bytes printed between the head and the tail kept, and so not kept."""
        with self._lock:
            return self._total - len(self._head) - self._ring_len

    def kept(self) -> tuple[bytes, int, bytes]:
        """``(head, bytes not kept, tail)``: the first bytes printed, how many followed that are not kept, and
        the last bytes printed (``head + tail`` is everything when nothing was dropped). Everything written
        into the pipe before the call is counted (unless a writer keeps it full for :data:`SETTLE_SECONDS`)."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            self._lock.acquire()
            if self._read_fd < 0 or not _unread(self._read_fd) or time.monotonic() > deadline:
                break
            self._lock.release()
            time.sleep(0.0005)
        try:
            if self._ring_len < len(self._ring):
                tail = bytes(self._ring[: self._ring_len])
            else:
                tail = bytes(self._ring[self._ring_pos :] + self._ring[: self._ring_pos])
            return bytes(self._head), self._total - len(self._head) - len(tail), tail
        finally:
            self._lock.release()

    def text(self) -> str:
        """The output kept, as text: the head, a line ``[... N bytes not kept ...]`` when bytes were dropped,
        then the tail (UTF-8, undecodable bytes replaced)."""
        head, dropped, tail = self.kept()
        text = head.decode("utf-8", "replace")
        if dropped:
            text += ("" if not text or text.endswith("\n") else "\n") + f"[... {dropped} bytes not kept ...]\n"
        return text + tail.decode("utf-8", "replace")

    def tail(self, lines: int = 3) -> str:
        """The last ``lines`` non-blank lines printed (each cut to 160 characters), joined by ``" | "``,
        for an error message; bubblewrap's own complaints (``bwrap: ...``) are left out."""
        head, _, tail = self.kept()
        window = (head + tail)[-_TAIL_WINDOW:] if len(tail) < _TAIL_WINDOW else tail[-_TAIL_WINDOW:]
        text = window.decode("utf-8", "replace")
        kept = [ln.strip()[:160] for ln in text.splitlines() if ln.strip()]
        # bwrap's own complaints are the grader's business, not the submission's output
        kept = [ln for ln in kept if not ln.startswith("bwrap:")][-lines:] if lines > 0 else []
        return " | ".join(kept)

    def summary(self) -> str | None:
        """``"printed 600 MB; kept the first and last 64 KiB"`` when more was printed than kept, else ``None``."""
        if not self.dropped:
            return None
        kept = f"the first and last {_kib(self.keep_bytes)}"
        return f"printed {human_bytes(self.total)}; kept {kept}"

    # ------------------------------------------------------------------------------------ the thread
    def _keep(self, data: memoryview) -> None:
        """Count ``data`` and keep what belongs to the head or the tail (called holding the lock)."""
        self._total += len(data)
        room = self.keep_bytes - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        n = len(data)
        if not n:
            return
        ring = self._ring
        if not ring:
            ring = self._ring = bytearray(self.keep_bytes)
        if n >= self.keep_bytes:
            ring[:] = data[n - self.keep_bytes :]
            self._ring_pos, self._ring_len = 0, self.keep_bytes
            return
        pos = self._ring_pos
        first = min(n, self.keep_bytes - pos)
        ring[pos : pos + first] = data[:first]
        ring[: n - first] = data[first:]
        self._ring_pos = (pos + n) % self.keep_bytes
        self._ring_len = min(self.keep_bytes, self._ring_len + n)

    def _read(self, view: memoryview, budget: int) -> tuple[int, bool]:
        """Read until the pipe is empty or ``budget`` bytes were read: ``(bytes read, end of file)``. A read
        and its keeping hold the lock together, so that :meth:`kept` sees a byte either in the pipe or kept."""
        got = 0
        while got < budget:
            with self._lock:
                try:
                    n = os.readv(self._read_fd, [view])
                except BlockingIOError:
                    return got, False
                except InterruptedError:
                    continue
                except OSError:
                    return got, True
                if n == 0:
                    return got, True
                self._keep(view[:n])
            got += n
        return got, False

    def _drain(self) -> None:
        view = memoryview(bytearray(READ_BYTES))
        poller = select.poll()
        poller.register(self._read_fd, _POLL_MASK)
        poller.register(self._stop_r, select.POLLIN)
        try:
            while True:
                ready = dict(poller.poll())
                if self._stop_r in ready:
                    self._read(view, FINAL_BYTES)  # what the pipe holds now; a live writer is not waited for
                    return
                if self._read_fd in ready:
                    _, end = self._read(view, READS_PER_POLL * READ_BYTES)
                    if end:
                        return
        finally:
            with self._lock:
                for fd in (self._read_fd, self._stop_r):
                    with contextlib.suppress(OSError):
                        os.close(fd)
                self._read_fd = -1


def _unread(fd: int) -> int:
    """Bytes waiting in the pipe ``fd``."""
    try:
        return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])
    except OSError:
        return 0
