"""The one room that knows how a submission is loaded, limited, jailed and run.

* :mod:`~vicheck.sandbox.loading` - ``--impl`` specs, in-process loading, notebooks, the static import scan;
* :mod:`~vicheck.sandbox.limits` - every limit (time, memory, file size, processes, required isolation);
* :mod:`~vicheck.sandbox.jail` - the isolation levels (``namespaces``, ``uid``, ``process``) and how a child
  is started and stopped under each;
* :mod:`~vicheck.sandbox.process` and :mod:`~vicheck.sandbox.budget` - one running child, its pipes, its
  time budget;
* :mod:`~vicheck.sandbox.handles` and :mod:`~vicheck.sandbox.wire` - objects that stay in the child, and
  the messages to and from it;
* :mod:`~vicheck.sandbox.isolated` - :class:`IsolatedImplementation`, the facade over all of it;
* :mod:`~vicheck.sandbox.zygote` - children forked, each into namespaces of its own, from a jailed process
  that imported torch once (a warm grading run's);
* ``_child.py``, ``_codec.py``, ``_cells.py``, ``_zygote.py`` - what runs in the child and the zygote (loaded
  there by path).
"""

from typing import Any

from vicheck.sandbox.jail import IsolationUnavailable, choose_level, probe
from vicheck.sandbox.limits import ISOLATION_LEVELS, Limits
from vicheck.sandbox.loading import (
    InProcessImplementation,
    classify_spec,
    load_implementation,
    resolve_submission_path,
)

__all__ = [
    "ISOLATION_LEVELS",
    "InProcessImplementation",
    "IsolatedImplementation",
    "IsolationUnavailable",
    "Limits",
    "RemoteAttributeError",
    "RemoteObject",
    "choose_level",
    "classify_spec",
    "load_implementation",
    "probe",
    "resolve_submission_path",
]

_HEAVY = {
    "IsolatedImplementation": "vicheck.sandbox.isolated",
    "RemoteObject": "vicheck.sandbox.handles",
    "RemoteAttributeError": "vicheck.sandbox.handles",
}


def __getattr__(name: str) -> Any:
    # the parent's side of a child imports torch: only when it is used, so `vicheck grade` starts fast
    if name in _HEAVY:
        import importlib

        return getattr(importlib.import_module(_HEAVY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
