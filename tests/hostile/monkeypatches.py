"""Hostile: changes global state at import: torch/math/numpy functions, default dtype, seeds, threads."""

import math
import random

import numpy
import torch

torch.set_default_dtype(torch.float64)
torch.manual_seed(123)
random.seed(123)
numpy.random.seed(123)
torch.set_num_threads(2)

_real_exp = torch.exp
torch.exp = lambda x: _real_exp(x) * 0 + 42.0
math.log = lambda x: 42.0
numpy.mean = lambda *a, **k: 42.0
torch.Tensor.__add__ = lambda self, other: torch.zeros(())


def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))


def log_evidence():
    return math.log(1 / 60)


def likelihood(p):
    return [torch.get_default_dtype(), torch.rand(3), float(numpy.mean([1.0, 2.0]))]
