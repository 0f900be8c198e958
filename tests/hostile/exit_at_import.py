"""Hostile: stops the interpreter half-way through its import (sys.exit(3))."""

import sys

import torch


def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))


sys.exit(3)


def sigmoid_prime(x):  # never defined: the module stopped above
    return torch.exp(x) / (1 + torch.exp(x)) ** 2
