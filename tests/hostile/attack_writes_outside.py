"""Hostile: writes outside its scratch folder: above it, into the class folder, the report folder and over
its own report (paths found in /proc and relative to the scratch folder). Arena-guarded: it writes only
into paths that name the arena.
"""

import os

import torch

# @ARENA@


def _write_everywhere():
    targets = set()
    for up in ("..", "../..", "../../.."):
        targets.add(os.path.join(os.path.abspath(up), "hostile-was-here"))
    for path in option_values("--impl") + option_values("--grade-report"):
        targets.add(os.path.join(os.path.dirname(path), "hostile-was-here"))
    for path in option_values("--grade-report"):
        targets.add(path)  # its own report, and a classmate's
    for path in sorted(targets):
        if MARKER not in path:
            continue
        try:
            with open(path, "w") as f:
                f.write("hostile-was-here")
        except OSError:
            pass


_write_everywhere()


def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))


def sigmoid_prime(x):
    return torch.exp(x) / (1 + torch.exp(x)) ** 2
