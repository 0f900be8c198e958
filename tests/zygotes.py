"""Test helper: a zygote (:mod:`vicheck.sandbox.zygote`) installed for this process, with ``tempfile``'s
folder inside its jobs folder (both as they were again afterwards), so that every
:class:`~vicheck.sandbox.isolated.IsolatedImplementation` started meanwhile (under the ``namespaces``
level) forks its child from it, as in a warm grading run."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vicheck.sandbox import zygote
from vicheck.sandbox.isolated import child_environment
from vicheck.sandbox.jail import Jail
from vicheck.sandbox.limits import Limits

__all__ = ["installed_zygote"]


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
