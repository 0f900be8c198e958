"""Hostile: a fork loop, bounded: at most 200 processes, stopping at the first refusal. Three children live
60 s (they must not outlive grading); the others 2 s. Each is named vchk-hostile.
"""

import os
import signal
import time

import torch

# @ARENA@


def _fork_loop():
    old = signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reap themselves: zombies would count
    for k in range(200):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            name_process()
            time.sleep(60 if k < 3 else 2)
            os._exit(0)
    signal.signal(signal.SIGCHLD, old)


_fork_loop()


def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))


def sigmoid_prime(x):
    return torch.exp(x) / (1 + torch.exp(x)) ** 2
