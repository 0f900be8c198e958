"""Hostile: the lecture's sigmoid and sigmoid_prime, after filling its own folder at import with files of
32 MB until a write fails, then carrying on as if nothing happened.

Bounded whatever the limit under test does: it writes only in the folder it was loaded from, and only when
that folder is a grader's scratch folder (``/submission`` in a jail, ``vicheck-scratch-*`` otherwise); it
stops at the first ``OSError`` (ENOSPC where the folder is a size-capped tmpfs) and after 1 GB in all (32
files), so even where nothing stops it, one load takes at most 1 GB of disk."""

import os

import torch

BLOCK = 32 * 2**20
FILES = 32  # 1 GB in all


def _fill():
    here = os.path.dirname(os.path.abspath(__file__))
    if here != "/submission" and not os.path.basename(here).startswith("vicheck-scratch-"):
        return 0
    block, written = b"\1" * BLOCK, 0
    try:
        for i in range(FILES):
            with open(os.path.join(here, f"fill-{i:03d}.bin"), "wb") as f:
                f.write(block)
            written += BLOCK
    except OSError:
        pass
    return written


WRITTEN = _fill()


def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))


def sigmoid_prime(x):
    return torch.exp(x) / (1 + torch.exp(x)) ** 2
