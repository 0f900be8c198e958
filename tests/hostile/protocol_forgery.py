"""Hostile: writes forged replies on the grader's protocol pipe (its number is in sys.argv)."""

import json
import os
import pickle
import struct
import sys

import torch

OUT = int(sys.argv[2])


def _frame(kind, payload):
    return struct.pack(">cQ", kind, len(payload)) + payload


def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))


def likelihood(p):
    # a pickle that would run code in the grader if it were ever unpickled
    os.write(OUT, _frame(b"P", pickle.dumps({"op": "ret", "value": 1})))
    return 0.0


def log_evidence():
    head = json.dumps({"op": "ret", "value": {"$": "T", "d": "float32", "s": [1000], "b": 0}, "blobs": [8]}).encode()
    os.write(OUT, _frame(b"J", struct.pack(">I", len(head)) + head + b"\0" * 8))  # byte count does not match
    return 0.0


def DKL_QP(X):
    os.write(OUT, _frame(b"J", b"\xff" * 40))  # garbage
    return 0.0


def ELBO_loss(X):
    os.write(OUT, struct.pack(">cQ", b"J", 2**62))  # a reply claiming to be enormous
    return 0.0
