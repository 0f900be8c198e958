"""Hostile: the lecture's sigmoid and sigmoid_prime, after starting 40 processes at import that spin on the
CPU, so that the submission takes 40 shares of the machine instead of one, and taking 40 s to load while they
spin (a setup that runs long: a whole class can then be graded beside it).

Bounded whatever the limit under test does: 40 processes per load, no more (none of them forks), each exits
after 120 s, or within a millisecond of its parent's death (``PR_SET_PDEATHSIG`` and a check of
``os.getppid()``). They start spinning together, once all 40 are started (forking them one by one beside
those already spinning would take seconds)."""

import ctypes
import os
import signal
import time

import torch

SPINNERS = 40
LIFETIME = 120.0
LOAD_SECONDS = 40.0


def _spin(parent, go):
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        libc.prctl(15, b"vchk-fair-hog", 0, 0, 0)  # PR_SET_NAME: the test counts them by this name
    except Exception:
        pass
    try:
        os.setsid()  # a session of its own: escapes the kernel's per-session scheduling groups (autogroup)
    except OSError:
        pass
    os.read(go, 1)  # returns (empty) once the parent has started all of them: they start spinning together
    end = time.monotonic() + LIFETIME
    while os.getppid() == parent and time.monotonic() < end:
        for _ in range(20_000):  # about 1 ms of work between two checks
            pass
    os._exit(0)


def _start_spinners():
    parent = os.getpid()
    go, started = os.pipe()
    for _ in range(SPINNERS):
        if os.fork() == 0:
            os.close(started)
            _spin(parent, go)
    os.close(started)
    os.close(go)


_start_spinners()
time.sleep(LOAD_SECONDS)


def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))


def sigmoid_prime(x):
    return torch.exp(x) / (1 + torch.exp(x)) ** 2
