"""Students check their own work where they write it: ``vicheck.check()`` in a notebook, ``vicheck check
FILE`` in a terminal, and the visible verdicts on every push (GitHub Classroom).

``vicheck.check`` is this package, and calling it calls :func:`vicheck.check.api.check` (the package's module
object is made callable below): ``import vicheck; vicheck.check()`` works whether or not a submodule such as
``vicheck.check.cli`` has been imported, which binds ``vicheck.check`` to this package as any import does.
Importing it imports nothing heavy (no torch, pytest or Hypothesis): a student's kernel pays for those only in
the processes that run the check.

Modules: :mod:`~vicheck.check.api` (``check()`` and its result), :mod:`~vicheck.check.run` (one run of the
visible properties), :mod:`~vicheck.check.session` (the warm runner a kernel keeps),
:mod:`~vicheck.check.history` (the kernel's executed code as a notebook), :mod:`~vicheck.check.render` (text
and HTML), :mod:`~vicheck.check.oracles` (the oracle cache on disk), :mod:`~vicheck.check.cli` (``vicheck
check`` and ``vicheck classroom-workflow``), :mod:`~vicheck.check.workflow` (the GitHub Classroom workflow).
"""

from __future__ import annotations

import os
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vicheck.check.api import CheckResult

__all__ = ["check"]


def check(
    *targets: str | os.PathLike[str],
    rubric: str | os.PathLike[str] | None = None,
    quick: bool = False,
    show: bool = True,
) -> CheckResult:
    """Check your code against the visible properties (see :func:`vicheck.check.api.check`)."""
    from vicheck.check.api import check as run

    return run(*targets, rubric=rubric, quick=quick, show=show)


class _CallableModule(types.ModuleType):
    """This package's module type: calling the module calls :func:`check`."""

    def __call__(self, *targets: str | os.PathLike[str], **options: Any) -> CheckResult:
        return check(*targets, **options)


sys.modules[__name__].__class__ = _CallableModule
