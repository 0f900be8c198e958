"""Test helper: the host's processes by name. Hostile fixtures name themselves (``prctl(PR_SET_NAME)``)
so that a test can tell whether any outlived its jail; a pid from inside a jail means nothing out here."""

from __future__ import annotations

from pathlib import Path

__all__ = ["named"]


def named(comm: str) -> list[int]:
    """Host pids of the processes called ``comm``."""
    found = []
    for path in Path("/proc").glob("[0-9]*/comm"):
        try:
            if path.read_text().strip() == comm:
                found.append(int(path.parent.name))
        except (OSError, ValueError):
            continue  # ended while being read
    return found
