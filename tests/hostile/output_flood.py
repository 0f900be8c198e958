"""Hostile (careless, rather): the lecture's sigmoid and sigmoid_prime, and 600 MB printed at import in 1 MB
writes, as a ``print`` left in a loop would; sigmoid_prime prints a line at every call. Printing costs no
verdict: this file must get exactly the credit of the same functions without the prints."""

import sys
import time

import torch

print("output_flood: the first line")
_BLOCK = ("debug: " + "x" * 92 + "\n") * 10_000  # 1 MB
for _ in range(600):  # 600 MB, then it stops
    sys.stdout.write(_BLOCK)
print("output_flood: the last line at import", file=sys.stderr)


def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))


def sigmoid_prime(x):
    print("sigmoid_prime called at", time.monotonic())
    return torch.exp(x) / (1 + torch.exp(x)) ** 2
