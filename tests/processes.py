"""Test helper: the host's processes by name, and whether one has ended. Hostile fixtures name themselves
(``prctl(PR_SET_NAME)``) so that a test can tell whether any outlived its jail; a pid from inside a jail means
nothing out here."""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["alive", "ended", "named"]


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


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs: it exists and is no zombie (ended, waiting for its parent to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def ended(pid: int, seconds: float) -> bool:
    """Whether process ``pid`` has ended (or is a zombie) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True
