"""Hostile: opens TCP connections to a listener the test started on 127.0.0.1 (at most 20 tries)."""

import socket

import torch

PORT = int("@PORT@")


def _connect():
    for _ in range(20):
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=0.2) as s:
                s.sendall(b"hostile")
        except OSError:
            pass


_connect()


def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))


def sigmoid_prime(x):
    return torch.exp(x) / (1 + torch.exp(x)) ** 2
