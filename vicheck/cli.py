"""The ``vicheck`` command: one sub-command per job, each in its own module.

Each sub-command is a module, or an object of one (``module:name``), with ``add_arguments(parser)`` and
``run(args) -> int``; importing it is deferred until the sub-command is used, so optional extras
(matplotlib for ``figures``) are only needed by the sub-commands that use them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main", "SUBCOMMANDS"]

#: sub-command -> (module or module:object, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "table": ("vicheck.lecture_table", "print the lecture's computations: reference value beside exact value"),
    "grade": ("vicheck.grading.cli:grade", "grade one or many submissions (.py, .ipynb, or folders)"),
    "report": (
        "vicheck.grading.cli:report",
        "redraw a graded class's files (class page, tables, gradebook exports), merging folders graded apart",
    ),
    "gradescope-bundle": ("vicheck.grading.cli:bundle", "build a Gradescope autograder bundle"),
    "check": (
        "vicheck.check.cli:check",
        "check one submission against the visible properties, as grading runs them (a student's self-check)",
    ),
    "classroom-workflow": (
        "vicheck.check.cli:classroom_workflow",
        "write the GitHub Classroom workflow that checks every push and reports to GitHub Classroom",
    ),
    "figures": ("vicheck.figures", "regenerate the lecture's nine figures from the reference"),
    "work-precision": ("vicheck.work_precision", "error-versus-time table and plot for each estimator"),
}


def _command(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="vicheck", description=__doc__.splitlines()[0] if __doc__ else None)
    from vicheck import __version__

    parser.add_argument("--version", action="version", version=f"vicheck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            _command(module_name).add_arguments(p)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    command = _command(SUBCOMMANDS[args.command][0])
    try:
        return int(command.run(args))
    except KeyboardInterrupt:
        print("vicheck: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
