"""The provenance a report records, to replay a disputed grade: the Hypothesis seed, the versions of the
packages that graded, and the submission's digest."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
from pathlib import Path

import pytest

from properties._registry import PROFILES, active_profile
from vicheck.sandbox.loading import resolve_submission_path

__all__ = ["seed_text", "submission_sha256", "versions"]


def seed_text(config: pytest.Config) -> str:
    seed = config.getoption("hypothesis_seed", None)
    if PROFILES[active_profile()].get("derandomize"):
        return "derandomized (examples fixed by each property's source)"
    return f"{seed}" if seed is not None else "random (pass --hypothesis-seed to replay)"


def versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for dist_name in ("vicheck", "torch", "numpy", "scipy", "hypothesis", "pytest"):
        try:
            versions[dist_name] = importlib.metadata.version(dist_name)
        except importlib.metadata.PackageNotFoundError:
            versions[dist_name] = "not installed"
    return versions


def submission_sha256(spec: str) -> str:
    try:
        file = resolve_submission_path(Path(spec))
    except (ValueError, OSError):
        return ""
    return hashlib.sha256(file.read_bytes()).hexdigest()
