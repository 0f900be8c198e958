"""Hostile: returns objects that claim to equal anything, lie about their float value, or subclass tensors."""

import torch


class Liar:
    """Equal to everything; converts to whatever float the grader hopes for."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__

    def __float__(self):
        return -4.0943445622221

    def __repr__(self):
        return "-4.0943445622221"


class LyingFloat(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


class SneakyTensor(torch.Tensor):
    """A tensor subclass that would answer True to every comparison."""

    def __eq__(self, other):
        return True

    def allclose(self, *args, **kwargs):
        return True


def log_evidence():
    return Liar()


def sigmoid(x):
    return (torch.exp(x) / (1 + torch.exp(x))).as_subclass(SneakyTensor)


def sigmoid_prime(x):
    return LyingFloat(0.25)


def likelihood(p):
    return {"value": Liar(), "tensor": torch.nn.Parameter(torch.ones(2)), (1, 2): "tuple key"}
