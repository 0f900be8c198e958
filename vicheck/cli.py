"""The ``vicheck`` command: one sub-command per job, each in its own module.

Each sub-command module exposes ``add_arguments(parser)`` and ``run(args) -> int``; importing it is
deferred until the sub-command is used, so optional extras (matplotlib for ``figures``) are only needed
by the sub-commands that use them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main", "SUBCOMMANDS"]

#: sub-command -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "table": ("vicheck.lecture_table", "print the lecture's computations: reference value beside exact value"),
    "grade": ("vicheck.grading.batch", "grade one or many submissions (.py, .ipynb, or folders)"),
    "report": ("vicheck.grading.class_report", "redraw a graded class's index.html and summary.md from its reports"),
    "gradescope-bundle": ("vicheck.grading.bundle", "build a Gradescope autograder bundle"),
    "figures": ("vicheck.figures", "regenerate the lecture's nine figures from the reference"),
    "work-precision": ("vicheck.work_precision", "error-versus-time table and plot for each estimator"),
}


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
            importlib.import_module(module_name).add_arguments(p)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    try:
        return int(module.run(args))
    except KeyboardInterrupt:
        print("vicheck: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
