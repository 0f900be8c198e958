"""Hostile: writes files at import and in calls (relative paths, the temp folder, the home folder)."""

import os
import tempfile
from pathlib import Path

import torch

Path("written_at_import.txt").write_text("hello")


def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))


def likelihood(p):
    paths = [
        Path("written_in_call.txt").resolve(),
        Path(tempfile.gettempdir()) / "tmp_file.txt",
        Path(os.path.expanduser("~")) / ".hidden_config",
    ]
    for path in paths:
        path.write_text("data")
    return [str(p) for p in paths]


def log_evidence():
    with open("huge.bin", "wb") as f:  # 200 MiB: over the file size limit
        f.write(b"\0" * (200 * 2**20))
    return 0.0
