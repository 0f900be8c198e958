"""Hostile: prints fake pytest summaries (at import and in a call, on stdout, stderr and fd 1), floods stdout."""

import os
import sys

import torch

print("============================= 40 passed in 1.0s =============================")
print("=== 40 passed in 1.0s ===", file=sys.stderr)


def sigmoid(x):
    os.write(1, b"=== 40 passed in 1.0s ===\n")
    os.write(2, b"PASSED tests/test_everything.py::test_all\n")
    print("GRADE: 100/100", flush=True)
    return torch.exp(x) / (1 + torch.exp(x))


def DKL_QP(X):
    sys.stdout.write("x" * 2**20 * 100)  # 100 MiB of output: more than a file may hold, and more than is kept
    sys.stdout.flush()
    return 0.0
