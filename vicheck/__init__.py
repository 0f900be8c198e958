"""vicheck: reference, property suite, grader and benchmarks for the lecture on variational inference.

``vicheck.check()`` checks a student's code from a notebook cell (:mod:`vicheck.check`); it is imported on
first use, so that ``import vicheck`` stays light (no torch, pytest or Hypothesis) in a student's kernel.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "check"]


def __getattr__(name: str) -> Any:
    # PEP 562: ``vicheck.check`` is the callable package vicheck.check, imported when first asked for
    if name == "check":
        return importlib.import_module("vicheck.check")
    raise AttributeError(f"module 'vicheck' has no attribute {name!r}")
