"""Hostile: kills its own process with SIGKILL while it is imported."""

import os
import signal

import torch


def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))


os.kill(os.getpid(), signal.SIGKILL)
