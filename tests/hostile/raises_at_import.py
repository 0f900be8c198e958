"""Hostile (or only broken): its top-level code raises before it defines any contract name."""

import torch

DATA = torch.load("weights_not_submitted.pt")


def sigmoid(x):  # never defined: the module stopped above
    return torch.exp(x) / (1 + torch.exp(x))
