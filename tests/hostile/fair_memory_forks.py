"""Hostile: the lecture's sigmoid and sigmoid_prime, and at import six forked children that each hold 768 MB
(4.5 GB in all, over twice the 2048 MB memory limit), then sleep. Under a control group the kernel kills some
of them; without one (``rlimits``) each process is within its own limit, and all six live.

Bounded whatever the limit under test does: at most six children per load (the count is fixed, not a loop
that waits for memory to run out), each exits by itself after 60 s or as soon as its parent is gone, and the
parent waits at most 30 s for them to have touched their memory (so that any kill happens while it loads,
where the grader looks for it) before it defines its functions."""

import os
import time

import torch

CHILDREN = 6
HOLD = 768 * 2**20
LIFETIME = 60.0


def _hold(ready):
    """A child: touch HOLD bytes, say so, then sleep until LIFETIME is over or the parent is gone."""
    try:
        block = bytearray(HOLD)
        for i in range(0, HOLD, 4096):
            block[i] = 1
        os.write(ready, os.getpid().to_bytes(4, "little"))
        parent, end = os.getppid(), time.monotonic() + LIFETIME
        while time.monotonic() < end and os.getppid() == parent:
            time.sleep(0.2)
    finally:
        os._exit(0)


def _fork_holders():
    read, ready = os.pipe()
    os.set_blocking(read, False)
    pids = []
    for _ in range(CHILDREN):
        pid = os.fork()
        if pid == 0:
            os.close(read)
            _hold(ready)
        pids.append(pid)
    os.close(ready)
    done, end = set(), time.monotonic() + 30  # the children that touched their memory, or died
    while len(done) < CHILDREN and time.monotonic() < end:
        try:
            got = os.read(read, 64)
            done.update(int.from_bytes(got[i : i + 4], "little") for i in range(0, len(got), 4))
        except BlockingIOError:
            pass
        for pid in pids:
            if pid not in done and os.waitpid(pid, os.WNOHANG)[0] == pid:
                done.add(pid)
        time.sleep(0.05)
    os.close(read)


_fork_holders()


def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))


def sigmoid_prime(x):
    return torch.exp(x) / (1 + torch.exp(x)) ** 2
