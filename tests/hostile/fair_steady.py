"""Honest: the lecture's sigmoid and sigmoid_prime, whose first call costs 1 s of CPU time (a table built
once, as a student's code might), a sixth of the default per-call limit of 6 s.

On the submission's own CPU clock that call fits the limit however loaded the machine is; on the wall clock
it would not beside 40 spinning processes on 2 cores (1 s of CPU then takes about 20 s). The grader must give
it the same verdicts alone and under load."""

import time

import torch

_table = []


def _build_table():
    end = time.process_time() + 1.0
    while time.process_time() < end:
        pass
    _table.append(True)


def sigmoid(x):
    if not _table:
        _build_table()
    return torch.exp(x) / (1 + torch.exp(x))


def sigmoid_prime(x):
    if not _table:
        _build_table()
    return torch.exp(x) / (1 + torch.exp(x)) ** 2
