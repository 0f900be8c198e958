"""Hostile: ends its process with os._exit(3) while it is imported (no exception, no cleanup)."""

import os

import torch


def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))


os._exit(3)
