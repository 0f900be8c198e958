"""A pytest plugin that keeps the property suite's oracle cache (:mod:`properties._memo`) on disk between
self-checks, so that a student's second check does not compute again the float64 oracles its first one
computed.

Where the time of a self-check goes (``python -m cProfile`` on ``vicheck check`` of the lecture's code,
grade profile): nearly half of it in the suite's own float64 oracles (scipy quadrature, mixture densities on
fine grids), computed again in every fresh process for the very same examples (the derandomized profiles
draw the same examples for every submission that passes). ``vicheck grade`` pays them once per class (its
warm worker rehearses on the reference before forking); a student's check pays them once per machine: this
plugin loads the values a previous run on this machine computed before the first property runs, and saves
the cache (old and new values) when the run ends.

A value is loaded only into the process of a run whose code and numerics are those that computed it: the
file's name is a digest of the suite's source (``properties/*.py``), the versions of Python, torch, numpy,
scipy and Hypothesis, the machine, torch's CPU kernel set and thread count (a vectorised ``exp`` may round
differently on AVX2 and AVX-512), so a cached value is the value a fresh computation gives there (as
:mod:`properties._memo` guarantees within one process). The file holds only keys and plain values, written
with :mod:`marshal`, which cannot run code when read; a file that does not read is ignored.

Only ``vicheck check`` (and ``vicheck.check()``) load this plugin (``-p vicheck.check.oracles``); ``vicheck
grade`` never reads the file. Where: ``$VICHECK_CACHE_DIR``, else ``$XDG_CACHE_HOME/vicheck``, else
``~/.cache/vicheck``; ``VICHECK_CACHE_DIR=off`` turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

__all__ = ["PLUGIN", "cache_file", "load", "save"]

#: the plugin's name for ``-p``
PLUGIN = "vicheck.check.oracles"
#: the file format's version (part of the file name)
_FORMAT = 1
_LOADED = pytest.StashKey[int]()


def cache_folder() -> Path | None:
    """The folder of the cache files, or ``None`` when turned off (``VICHECK_CACHE_DIR=off``)."""
    explicit = os.environ.get("VICHECK_CACHE_DIR", "").strip()
    if explicit.lower() in ("off", "0", "none"):
        return None
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "vicheck"


def _fingerprint() -> str:
    """A digest of everything a cached value depends on besides its arguments."""
    import hypothesis
    import numpy
    import scipy
    import torch

    import properties

    h = hashlib.sha256()
    for source in sorted(Path(properties.__file__).parent.glob("*.py")):
        h.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    capability = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", lambda: "unknown")()
    parts = (
        _FORMAT,
        sys.version,
        torch.__version__,
        numpy.__version__,
        scipy.__version__,
        hypothesis.__version__,
        platform.machine(),
        capability,
        torch.get_num_threads(),
    )
    h.update(repr(parts).encode())
    return h.hexdigest()[:24]


def cache_file() -> Path | None:
    """This run's cache file (it may not exist yet), or ``None`` when the cache is off."""
    folder = cache_folder()
    return None if folder is None else folder / f"oracles-{_fingerprint()}.marshal"


def _read(path: Path) -> dict[str, list[tuple[Any, Any]]]:
    try:
        data = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, list)}


def load(path: Path) -> int:
    """Put the values in ``path`` into the oracle cache (values already there stay); how many."""
    from properties._memo import CACHED

    count = 0
    for name, entries in _read(path).items():
        func = CACHED.get(name)
        if func is None:
            continue
        store = func.cache  # type: ignore[attr-defined]
        for entry in entries:
            if not (isinstance(entry, tuple) and len(entry) == 2):
                continue
            key, value = entry
            if key not in store:
                # no arguments kept: the run only reads values; properties/_memo.py's own test recomputes
                # the entries of a run that never loaded this file
                store[key] = (value, None, None)
                count += 1
    return count


def save(path: Path) -> None:
    """Write the oracle cache to ``path`` (atomically), merged with what another run wrote there since."""
    from properties._memo import CACHED, MAX_ENTRIES

    merged = _read(path)
    for name, func in CACHED.items():
        store = func.cache  # type: ignore[attr-defined]
        known = dict(merged.get(name, []))
        known.update((key, entry[0]) for key, entry in store.items())
        merged[name] = list(known.items())[-MAX_ENTRIES:]
    try:
        data = marshal.dumps(merged)
    except ValueError:  # a value marshal cannot write: keep the file as it was
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".oracles-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _size() -> int:
    from properties._memo import CACHED

    sizes: list[int] = [len(func.cache) for func in CACHED.values()]  # type: ignore[attr-defined]
    return sum(sizes)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    # after collection: every module that caches an oracle (test_kl, test_fits, ...) has registered it
    path = cache_file()
    if path is not None:
        with contextlib.suppress(OSError):
            load(path)
    session.config.stash[_LOADED] = _size()


def pytest_unconfigure(config: pytest.Config) -> None:
    # only when the run computed something new: a check that found every value writes nothing
    if _LOADED not in config.stash or _size() == config.stash[_LOADED]:
        return
    path = cache_file()
    if path is not None:
        with contextlib.suppress(OSError):
            save(path)
