"""``vicheck check`` and ``vicheck classroom-workflow``: their arguments and messages.

``vicheck check FILE [--function NAME ...]`` runs the visible properties on one ``.py``/``.ipynb`` as grading
runs them (:mod:`vicheck.check.run`) and prints the result (:mod:`vicheck.check.render`); it writes no files
unless asked (``--classroom-result``). Exit status: 0 when every property it ran passed (or none was
visible), 1 when one failed or did not run (a submission that does not load fails every property), 2 when the
check could not run: a usage error (a missing file, an unknown function, a rubric that does not read, an
isolation level that is not there) or the grader's own failure.

``vicheck classroom-workflow DIR`` writes the GitHub Classroom workflow into an assignment's template
repository (:mod:`vicheck.check.workflow`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vicheck.grading.report.records import GradeReport

__all__ = ["check", "classroom_workflow"]

EXIT_PASSED, EXIT_FAILED, EXIT_CANNOT_RUN = 0, 1, 2


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", type=Path, metavar="FILE", help="the submission: a .py or .ipynb file (or a folder holding one)"
    )
    parser.add_argument(
        "--function",
        "-f",
        action="append",
        default=[],
        metavar="NAME",
        help="check only the properties exercising this function of the lecture (repeatable; default: all)",
    )
    parser.add_argument(
        "--rubric",
        type=Path,
        metavar="R",
        help="the instructor's TOML rubric, as for `vicheck grade`: which properties are hidden, the profile, the "
        "limits (default: every property visible)",
    )
    parser.add_argument("--quick", action="store_true", help="the dev profile: a quarter of the examples, random")
    parser.add_argument(
        "--classroom-result",
        type=Path,
        metavar="PATH",
        help="also write GitHub Classroom's autograding result (JSON) to PATH, even when the check cannot run",
    )


def _write_classroom(path: Path | None, report: GradeReport, seconds: float) -> None:
    """GitHub Classroom's result for ``report`` (:mod:`vicheck.grading.report.formats.classroom`) at ``path``."""
    if path is None:
        return
    from vicheck.grading.report.formats import StudentContext, student_formats

    student_formats()["classroom"].write(report, path, StudentContext(seconds))


def _cannot_run(args: argparse.Namespace, message: str, seconds: float) -> int:
    print(f"vicheck check: {message}", file=sys.stderr)
    if args.classroom_result is not None:
        from vicheck.grading.report.records import GradeReport

        report = GradeReport(submission=str(args.file), complete=True)
        report.add_error("grader_failure", f"the check could not run: {message}")
        try:
            _write_classroom(args.classroom_result, report, seconds)
        except OSError as exc:
            print(f"vicheck check: could not write {args.classroom_result}: {exc}", file=sys.stderr)
    return EXIT_CANNOT_RUN


def _check(args: argparse.Namespace) -> int:
    from vicheck.check.render import render_text
    from vicheck.check.run import CheckFailed, CheckUsage, run_check, settings_for, unknown_functions

    start = time.monotonic()
    functions = tuple(dict.fromkeys(f for names in args.function for f in names.split(",") if f.strip()))
    unknown = unknown_functions(functions)
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        return _cannot_run(args, f"--function: not a function of the lecture{plural}: {', '.join(unknown)}", 0.0)
    file: Path = args.file
    if not file.exists():
        return _cannot_run(args, f"{file}: no such file", 0.0)
    try:
        from vicheck.sandbox.loading import resolve_submission_path

        submission = resolve_submission_path(file)
        submission.read_bytes()
        settings = settings_for(args.rubric, quick=args.quick)
        report = run_check(submission, settings, functions)
    except (CheckUsage, CheckFailed, ValueError, OSError) as exc:
        return _cannot_run(args, str(exc), time.monotonic() - start)
    sys.stdout.write(render_text(report, str(file), functions))
    sys.stdout.flush()
    try:
        _write_classroom(args.classroom_result, report, time.monotonic() - start)
    except OSError as exc:
        print(f"vicheck check: could not write {args.classroom_result}: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    # no visible property to run (every one exercising the functions asked for is hidden): nothing failed, and
    # the output says that the hidden ones run only in the final grading
    return EXIT_PASSED if all(p.passed for p in report.properties) else EXIT_FAILED


def _workflow_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, metavar="DIR", help="the assignment's template repository")
    parser.add_argument(
        "--submission",
        metavar="FILE",
        help="the file students submit, relative to the repository's root (default: the one .py/.ipynb at its top)",
    )
    parser.add_argument(
        "--rubric",
        type=Path,
        metavar="R",
        help="the rubric (copied to DIR/.github/vicheck/rubric.toml): its hidden properties are not run on push",
    )
    parser.add_argument("--python", default="3.11", metavar="X.Y", help="the Python version the workflow sets up")
    parser.add_argument(
        "--install",
        default="",
        metavar="SPEC",
        help="what pip installs for vicheck (default: vicheck[grade]==this version; e.g. a git URL)",
    )


def _workflow(args: argparse.Namespace) -> int:
    from vicheck.check.workflow import write_workflow

    try:
        written = write_workflow(args.dir, args.submission, args.rubric, python=args.python, install=args.install)
    except (ValueError, OSError) as exc:
        print(f"vicheck classroom-workflow: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    for path in written:
        print(f"wrote {path}")
    print("commit it to the assignment's template repository; every push then reports to GitHub Classroom")
    return EXIT_PASSED


#: the sub-commands, as :mod:`vicheck.cli` expects them (``add_arguments(parser)``, ``run(args) -> int``)
check = SimpleNamespace(add_arguments=_check_arguments, run=_check)
classroom_workflow = SimpleNamespace(add_arguments=_workflow_arguments, run=_workflow)
