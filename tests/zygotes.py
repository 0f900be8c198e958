"""Test helpers: a zygote (:mod:`vicheck.sandbox.zygote`) installed for this process, with ``tempfile``'s
folder inside its jobs folder (both as they were again afterwards), so that every
:class:`~vicheck.sandbox.isolated.IsolatedImplementation` started meanwhile (under the ``namespaces``
level) forks its child from it, as in a warm grading run; and a child forked straight through
:func:`~vicheck.sandbox.zygote.spawn`, for what ``IsolatedImplementation`` does not ask for."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vicheck.sandbox import zygote
from vicheck.sandbox.isolated import child_environment
from vicheck.sandbox.jail import Jail
from vicheck.sandbox.limits import Limits, child_rlimits

__all__ = ["forked_child", "installed_zygote"]


@contextlib.contextmanager
def installed_zygote(folder: Path) -> Iterator[zygote.Zygote]:
    jobs = folder / "jobs"
    jobs.mkdir(mode=0o700, parents=True)
    runs = jobs / "run"
    runs.mkdir()
    started = zygote.Zygote(Jail("namespaces", Limits()), jobs, child_environment("/submission", "namespaces"))
    saved, before = tempfile.tempdir, zygote.installed()
    try:
        started.wait_ready(120)
        zygote.install(started.address)
        tempfile.tempdir = str(runs)
        yield started
    finally:
        tempfile.tempdir = saved
        zygote.install(before)  # an enclosing one's again
        started.close()


@contextlib.contextmanager
def forked_child(
    scratch: Path,
    *,
    limits: Limits,
    place: Callable[[int], None] | None = None,
    disk_bytes: int | None = None,
) -> Iterator[zygote.ForkedChild]:
    """A child forked by the installed zygote in ``scratch`` (a folder in its jobs folder), as
    ``IsolatedImplementation`` would ask for it but with ``place`` and ``disk_bytes`` of the caller's: it
    waits for the submission to load until the block ends, then is killed."""
    address = zygote.installed()
    assert address is not None, "no zygote installed"
    down_r, down_w = os.pipe()
    up_r, up_w = os.pipe()
    out_r, out_w = os.pipe()
    config: dict[str, Any] = {
        "rlimits": child_rlimits(limits, limits.submission_seconds, processes=True),
        "codec": "/grader/_codec.py",
        "cells": "/grader/_cells.py",
        "strip_paths": [],
        "disk_bytes": disk_bytes,
    }
    argv = ["/grader/_child.py", str(down_r), str(up_w), json.dumps(config)]
    env = child_environment("/submission", "namespaces")
    try:
        child = zygote.spawn(
            address, scratch=scratch, config=config, env=env, argv=argv, output=out_w, fds=(down_r, up_w), place=place
        )
    except BaseException:
        for fd in (down_w, up_r, out_r):
            os.close(fd)
        raise
    finally:
        for fd in (down_r, up_w, out_w):  # the child has its own copies
            os.close(fd)
    try:
        yield child
    finally:
        child.kill()
        for fd in (down_w, up_r, out_r):
            os.close(fd)
