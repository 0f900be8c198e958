"""Tests of ``vicheck.sandbox.output``: the pipe a child prints into, and what of it the grader keeps.

The head, the tail and the count are compared with a slow, obviously correct reference that keeps every
byte, over random writes (sizes from one byte to several times the buffers); the thread must stop at once
even when another process holds the pipe's write end forever (an escaped daemon), and the grader's memory
must not grow with what is printed.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
import tracemalloc

import pytest

from vicheck.sandbox.output import HEAD_BYTES, TAIL_BYTES, OutputCapture, human_bytes


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _ended(capture: OutputCapture, timeout: float = 10.0) -> None:
    """Wait for the end of file (every writer closed), as a child's death brings it."""
    deadline = time.monotonic() + timeout
    while capture.running and time.monotonic() < deadline:
        time.sleep(0.001)
    assert not capture.running


class Naive:
    """The reference: keeps everything."""

    def __init__(self) -> None:
        self.data = bytearray()

    def head(self) -> bytes:
        return bytes(self.data[:HEAD_BYTES])

    def tail(self) -> bytes:
        rest = self.data[HEAD_BYTES:]
        return bytes(rest[-TAIL_BYTES:]) if rest else b""


SIZES = [
    0,
    1,
    HEAD_BYTES - 1,
    HEAD_BYTES,
    HEAD_BYTES + 1,
    HEAD_BYTES + TAIL_BYTES - 1,
    HEAD_BYTES + TAIL_BYTES,
    HEAD_BYTES + TAIL_BYTES + 1,
    HEAD_BYTES + 3 * TAIL_BYTES + 12345,
    5_000_000,
]


@pytest.mark.parametrize("total", SIZES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_head_tail_and_count_match_a_reference_that_keeps_everything(total: int, seed: int) -> None:
    rng = random.Random(seed * 1_000_003 + total)
    naive = Naive()
    capture = OutputCapture()
    try:
        written = 0
        while written < total:
            # from single bytes to several times the ring: every way a write can straddle the buffers
            size = min(total - written, rng.choice([1, 7, 100, 4096, 65535, 65536, 65537, 200_000, 1_000_000]))
            chunk = rng.randbytes(size)
            naive.data += chunk
            _write_all(capture.writer, chunk)
            written += size
        capture.close_writer()
        _ended(capture)
        head, dropped, tail = capture.kept()
        assert head == naive.head()
        assert tail == naive.tail()
        assert capture.total == len(naive.data) == total
        assert dropped == capture.dropped == total - len(head) - len(tail)
        if total <= HEAD_BYTES + TAIL_BYTES:
            assert head + tail == naive.data and dropped == 0 and capture.summary() is None
    finally:
        capture.stop()


def test_stop_reads_what_the_dead_child_left_in_the_pipe() -> None:
    capture = OutputCapture()
    writer = os.dup(capture.writer)  # the child's copy, still open when the grader stops the capture
    capture.close_writer()
    _write_all(writer, b"first line\n" + b"x" * 500_000 + b"\nlast line\n")
    os.close(writer)  # the child is dead
    capture.stop()
    assert capture.total == 500_000 + 22
    assert capture.text().startswith("first line\n") and capture.text().endswith("\nlast line\n")


def test_text_marks_what_was_not_kept_and_tail_leaves_out_bwrap() -> None:
    capture = OutputCapture()
    body = b"a" * (HEAD_BYTES - 2) + b"\xc3\xa9" + b"b" * 1_000_000 + b"\nbwrap: cannot do x\nlast one\n\n"
    _write_all(capture.writer, body)
    capture.close_writer()
    _ended(capture)
    text = capture.text()
    dropped = len(body) - HEAD_BYTES - TAIL_BYTES
    assert f"\n[... {dropped} bytes not kept ...]\n" in text
    assert text.startswith("a" * (HEAD_BYTES - 2) + "é") and text.endswith("bbbb\nbwrap: cannot do x\nlast one\n\n")
    assert capture.tail(2) == f"{'b' * 160} | last one"
    assert capture.summary() == "printed 1.1 MB; kept the first and last 64 KiB"
    capture.stop()


def test_stop_does_not_wait_for_a_daemon_that_holds_the_pipe() -> None:
    """An escaped daemon holds the write end: one never writes, one never stops writing."""
    for code in ("import time; time.sleep(60)", "import os\nwhile True: os.write(1, b'y' * 65536)"):
        capture = OutputCapture()
        daemon = subprocess.Popen([sys.executable, "-c", code], stdout=capture.writer, stderr=subprocess.DEVNULL)
        capture.close_writer()
        try:
            time.sleep(0.3)
            start = time.monotonic()
            capture.stop()
            assert time.monotonic() - start < 0.5
            assert not capture.running
            if "while" in code:
                assert capture.total > 0
                # the daemon's next write fails (EPIPE): its business, not the grader's
                assert daemon.wait(timeout=10) != 0
        finally:
            daemon.kill()
            daemon.wait()


def test_a_writer_is_never_blocked_for_long() -> None:
    """A writer that prints without pause: the pipe is drained as fast as it is filled."""
    capture = OutputCapture()
    block = b"z" * (1 << 20)
    start = time.monotonic()
    for _ in range(200):
        _write_all(capture.writer, block)
    took = time.monotonic() - start
    capture.close_writer()
    _ended(capture)
    assert capture.total == 200 << 20
    assert took < 10, f"200 MiB took {took:.1f} s"  # about 0.1 s here; a blocked reader would never finish
    capture.stop()


def test_memory_stays_bounded_whatever_is_printed() -> None:
    capture = OutputCapture()
    tracemalloc.start()
    try:
        # another process prints, so that only the grader's side is measured
        writer = subprocess.Popen(["head", "-c", str(300 << 20), "/dev/zero"], stdout=capture.writer)
        capture.close_writer()
        writer.wait(timeout=60)
        _ended(capture, timeout=60)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        capture.stop()
    assert capture.total == 300 << 20
    assert peak < HEAD_BYTES + TAIL_BYTES + 96 * 1024, peak  # the two buffers, the read buffer, a little more


def test_text_can_be_read_while_the_child_prints() -> None:
    capture = OutputCapture()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            head, dropped, tail = capture.kept()
            assert len(head) <= HEAD_BYTES and len(tail) <= TAIL_BYTES and dropped >= 0
            assert set(head) <= {ord("q")} and set(tail) <= {ord("q")}

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(50):
            _write_all(capture.writer, b"q" * 100_003)
    finally:
        done.set()
        reader.join()
    capture.close_writer()
    capture.stop()
    assert capture.total == 50 * 100_003


def test_stop_twice_and_before_anything_was_printed() -> None:
    capture = OutputCapture()
    capture.stop()
    capture.stop()
    assert capture.text() == "" and capture.tail() == "" and capture.total == 0 and capture.summary() is None


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1 KB"),
        (1500, "1.5 KB"),
        (65536, "66 KB"),
        (999_499, "999 KB"),
        (999_999, "1 MB"),
        (9_960_000, "10 MB"),
        (600_000_000, "600 MB"),
        (629_145_600, "629 MB"),
        (2_500_000_000, "2.5 GB"),
        (7_000_000_000_000, "7000 GB"),
    ],
)
def test_human_bytes(n: int, text: str) -> None:
    assert human_bytes(n) == text
