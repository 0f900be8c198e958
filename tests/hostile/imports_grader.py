"""Hostile: imports the grader's reference implementation to copy its answers."""

import torch


def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))


def sigmoid_prime(x):
    from vicheck.implementation import seed_everything  # refused when called

    return seed_everything


def likelihood(p):
    return __import__("properties")


import reference  # noqa: E402 - refused at import

log_evidence = reference.log_evidence
