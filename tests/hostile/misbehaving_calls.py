"""Hostile: calls that exit the process, hang, raise SystemExit/KeyboardInterrupt, read stdin, grab memory."""

import os
import time

import torch


def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))


def sigmoid_prime(x):
    os._exit(0)  # the process vanishes without a word


def kl_divergence_2(p, q, N=500):
    while True:  # never returns
        time.sleep(0.01)


def integrate(func, a, b, N=500):
    raise SystemExit(4)


def kl_divergence_1(p, q, a, b, N=500):
    raise KeyboardInterrupt


def likelihood(p):
    return float(input("bias? "))


def log_evidence():
    return torch.empty(10 * 2**30 // 4)  # 10 GB


def derivative_lp(d_constrained, x):
    block = bytearray(10 * 2**30)  # 10 GB of Python memory
    return len(block)


def lp_transformed(xs, d, transform):
    os.kill(os.getpid(), 11)  # segmentation fault


def spawn_grandchild():
    pid = os.fork()
    if pid == 0:  # the grandchild sleeps for ever, in the child's process group, named for the test to find
        import ctypes

        ctypes.CDLL(None).prctl(15, b"vchk-grandchild", 0, 0, 0)  # PR_SET_NAME
        while True:
            time.sleep(1)
    return pid
