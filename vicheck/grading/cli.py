"""``vicheck grade``, ``vicheck report`` and ``vicheck gradescope-bundle``: their arguments and messages.

What they do lives elsewhere: grading in :mod:`vicheck.grading.batch`, the files in
:mod:`vicheck.grading.report`, the bundle in :mod:`vicheck.grading.bundle`. Exit status: 0 when the grader
worked (even if every student failed; a class file that could not be drawn is said, and the grades stand),
1 when it failed for some submission (pytest usage or internal error, no report) or when ``report`` could not
write a class file, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from vicheck.grading.report.context import ClassContext, ClassOptions
from vicheck.grading.report.folder import load_reports
from vicheck.grading.report.formats import ClassFormat, StudentFormat, choose_formats, class_formats, student_formats
from vicheck.grading.report.render import write_class_files
from vicheck.grading.rubric import PROFILES
from vicheck.sandbox.limits import ISOLATION_LEVELS, RESOURCE_LEVELS

if TYPE_CHECKING:
    from vicheck.grading.report.roster import Roster

__all__ = ["bundle", "grade", "report"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Usage(Exception):
    """A usage error: one line, exit status 2."""


# --------------------------------------------------------------------------------------------- shared


def _formats_help() -> str:
    students = ", ".join(student_formats())
    classes = ", ".join(class_formats())
    return f"comma-separated output formats to write (per student: {students}; per class: {classes}; default: all "


def _add_class_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("gradebook exports")
    group.add_argument(
        "--roster",
        type=Path,
        metavar="CSV",
        help="the course's gradebook export (Canvas or Moodle, told apart by its header): writes canvas.csv or "
        "moodle.csv for importing the grades, and lists the submissions that match no student",
    )
    group.add_argument(
        "--roster-map",
        type=Path,
        metavar="CSV",
        help="a CSV with columns submission,student for submission folders named after neither the login nor the "
        "ID (student: any key the roster has)",
    )
    group.add_argument("--assignment", metavar="NAME", help="the gradebook column's name (default: the folder's name)")
    group.add_argument(
        "--moodle-key",
        choices=["email", "idnumber"],
        default="email",
        help="the column Moodle matches students by in moodle.csv (default: email)",
    )
    group.add_argument("--moodle-feedback", action="store_true", help="add each student's feedback text to moodle.csv")
    parser.add_argument(
        "--date",
        metavar="ISO",
        help="date the class page with this ISO 8601 time instead of now (reproducible output)",
    )


def _formats_option(value: str | None) -> list[str] | None:
    return None if value is None else [v for v in value.split(",") if v.strip()]


@dataclass(frozen=True)
class _ClassInputs:
    """The class files' inputs besides the reports, read and checked before anything is graded."""

    now: datetime | None
    roster: Roster | None
    options: ClassOptions

    def context(self, folder: Path) -> ClassContext:
        return ClassContext(load_reports(folder), now=self.now, roster=self.roster, options=self.options)


def _class_inputs(args: argparse.Namespace) -> _ClassInputs:
    now = None
    if args.date:
        try:
            now = datetime.fromisoformat(args.date)
        except ValueError:
            raise _Usage(f"--date {args.date!r} is not an ISO 8601 date") from None
    roster = None
    if args.roster is not None:
        from vicheck.grading.report.roster import read_roster

        try:
            roster = read_roster(args.roster, mapping=args.roster_map)
        except (OSError, ValueError) as exc:
            raise _Usage(str(exc)) from None
    elif args.roster_map is not None:
        raise _Usage("--roster-map needs --roster")
    options = ClassOptions(
        assignment=args.assignment or "", moodle_key=args.moodle_key, moodle_feedback=args.moodle_feedback
    )
    return _ClassInputs(now, roster, options)


def _write_class(ctx: ClassContext, formats: list[ClassFormat], command: str) -> tuple[list[Path], int]:
    """Write the class files, saying what could not be written and which submissions match no student."""
    written, failed = write_class_files(ctx, formats)
    for line in failed:
        print(f"vicheck {command}: {line}", file=sys.stderr)
    matches = ctx.matches
    for problem in matches.problems if matches is not None else ():
        print(f"vicheck {command}: roster: {problem}", file=sys.stderr)
    if matches is not None and matches.unmatched:
        n = len(matches.unmatched)
        print(
            f"vicheck {command}: {n} submission{'s' if n != 1 else ''} match{'es' if n == 1 else ''} no student of "
            f"the roster (not in the {matches.kind} file; see the class page): {', '.join(matches.unmatched)}",
            file=sys.stderr,
        )
    return written, (EXIT_FAILED if failed else EXIT_OK)


def _choose(names: list[str] | None, inputs: _ClassInputs) -> tuple[list[StudentFormat], list[ClassFormat]]:
    try:
        return choose_formats(names, roster=inputs.roster.kind if inputs.roster is not None else None)
    except ValueError as exc:
        raise _Usage(str(exc)) from None


# --------------------------------------------------------------------------------------------- grade


def _grade_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="a submission (.py, .ipynb, folder holding one) or a folder of submissions",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for the reports")
    parser.add_argument("--rubric", type=Path, metavar="R", help="TOML rubric (default: built-in defaults)")
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="submissions graded at once (default: number of cores)",
    )
    parser.add_argument("--force", action="store_true", help="regrade submissions that have a finished report")
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="run only visible properties (what students may run before the deadline)",
    )
    parser.add_argument("--profile", choices=PROFILES, help="Hypothesis profile (default: the rubric's)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress and no table")
    parser.add_argument(
        "--time-limit",
        type=float,
        metavar="S",
        help="hard wall-clock limit per submission in seconds (default: rubric submission_seconds + load_seconds, "
        "times 2 under a cgroup level, whose time limits count CPU time, + 60)",
    )
    parser.add_argument(
        "--isolation",
        choices=["auto", *ISOLATION_LEVELS[:-1]],  # a class is never graded in the grader's own process
        default="auto",
        help="how each submission's code is isolated: auto (the strongest level available here), namespaces "
        "(a bubblewrap jail), uid (a uid of its own; needs root) or process; a level that cannot be had, or "
        "one weaker than the rubric's [limits] isolation, stops before anyone is graded",
    )
    parser.add_argument(
        "--resources",
        choices=["auto", *RESOURCE_LEVELS],
        default="auto",
        help="how each submission's memory, processes and CPU share are bounded as a whole: auto (the strongest "
        "level available here), cgroup2 or cgroup1 (a control group per submission; root, or a delegated "
        "cgroup2 subtree) or rlimits (each process's own limits); a level that cannot be had, or one weaker "
        "than the rubric's [limits] resources, stops before anyone is graded",
    )
    parser.add_argument(
        "--no-warm",
        action="store_true",
        help="start a fresh pytest process for each submission instead of forking a warm worker that has "
        "imported the suite once (slower; the reports are the same)",
    )
    parser.add_argument(
        "--gradescope-results",
        type=Path,
        metavar="PATH",
        help="write the Gradescope results here instead of DIR/<name>.gradescope.json (one submission only)",
    )
    parser.add_argument(
        "--shard",
        metavar="K/N",
        help="grade only the K-th of N shards of the class (a stable split by submission name: a job array's "
        "task K of N); merge the N output folders with `vicheck report A/ B/ ... --out DIR`",
    )
    parser.add_argument(
        "--formats",
        metavar="LIST",
        help=_formats_help() + "but the gradebook exports, which --roster turns on; json and log are always written)",
    )
    _add_class_options(parser)


def _grade(args: argparse.Namespace) -> int:
    from vicheck.grading import batch
    from vicheck.grading.rubric import load_rubric
    from vicheck.grading.submissions import expand_submissions, parse_shard, shard_of, single_submission
    from vicheck.sandbox.jail import IsolationUnavailable, choose_level, probe
    from vicheck.sandbox.limits import WALL_BACKSTOP
    from vicheck.sandbox.resources import ResourcesUnavailable, choose_resources, probe_resources

    try:
        rubric = load_rubric(args.rubric)
        shard = parse_shard(args.shard) if args.shard else None
    except ValueError as exc:
        raise _Usage(str(exc)) from None
    if args.time_limit is not None and not args.time_limit > 0:
        raise _Usage("--time-limit must be a positive number of seconds")
    if args.jobs < 1:
        raise _Usage("--jobs must be at least 1")
    out = Path(args.out).resolve()
    if args.gradescope_results is not None and len(args.paths) != 1:
        raise _Usage(f"--gradescope-results needs exactly one submission, got {len(args.paths)}")
    inputs = _class_inputs(args)
    asked = _formats_option(args.formats) or (list(rubric.formats) if rubric.formats else None)
    students, classes = _choose(asked, inputs)
    notes: list[str] = []
    try:
        if args.gradescope_results is not None:
            subs = [single_submission(Path(args.paths[0]))]
        else:
            subs, notes = expand_submissions(list(args.paths), exclude=out)
    except (ValueError, OSError) as exc:
        raise _Usage(str(exc)) from None
    total = len(subs)
    if shard is not None:
        subs = [s for s in subs if shard_of(s.name, shard[1]) == shard[0]]
    limits = rubric.limits
    try:
        level = choose_level(args.isolation, limits.isolation)
        resources = choose_resources(args.resources, limits.resources)
    except (IsolationUnavailable, ResourcesUnavailable) as exc:
        raise _Usage(str(exc)) from None
    # the hard wall-clock limit of a pytest run: on a CPU clock (a cgroup level) a submission's own limits may
    # take up to WALL_BACKSTOP x as long in wall-clock time
    stretch = WALL_BACKSTOP if resources != "rlimits" else 1.0
    time_limit = (
        args.time_limit or (limits.submission_seconds + limits.load_seconds) * stretch + batch.TIMEOUT_MARGIN_SECONDS
    )
    settings = batch.Settings(
        out=out,
        rubric=rubric,
        rubric_path=Path(args.rubric).resolve() if args.rubric else None,
        profile=args.profile or rubric.profile,
        visibility="visible" if args.self_check else "all",
        force=args.force,
        time_limit=float(time_limit),
        isolation=level,
        resources=resources,
        student_formats=students,
        class_formats=classes,
        overrides={"gradescope": Path(args.gradescope_results).resolve()} if args.gradescope_results else {},
    )
    out.mkdir(parents=True, exist_ok=True)
    jobs = min(args.jobs, max(1, len(subs)))
    if not args.quiet:
        count = f"{len(subs)} submission{'s' if len(subs) != 1 else ''}"
        if shard is not None:
            count = f"shard {shard[0]}/{shard[1]}: {len(subs)} of {total} submissions"
        print(
            f"vicheck grade: {count}, isolation {level} ({probe(level)[1]}), resources {resources} "
            f"({probe_resources(resources)[1]}), profile {settings.profile}, {jobs} at a time",
            file=sys.stderr,
        )
        for note in notes:
            print(f"vicheck grade: {note}", file=sys.stderr)
    outcomes = batch.grade_class(subs, settings, jobs, quiet=args.quiet, warm=not args.no_warm)
    written, _ = _write_class(inputs.context(out), classes, "grade")
    failed = [o for o in outcomes if o.grader_failed]
    if not args.quiet:
        batch.print_table(outcomes, sys.stdout)
        where = [f"reports in {out}"]
        where += [f"{p.name} in {p}" for p in written]
        print("; ".join(where))
    for o in failed:
        print(f"vicheck grade: grader failed for {o.name}: {o.detail}", file=sys.stderr)
    # a class file is a view of the reports: one that could not be drawn is said above, and the grades stand
    return EXIT_FAILED if failed else EXIT_OK


# --------------------------------------------------------------------------------------------- report


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "folders",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="the --out folder of `vicheck grade`; several (graded apart: shards, regrades) are merged into --out",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="merge the folders' reports into DIR (a student's newest report wins) and draw the class files there "
        "(default, with one folder: redraw that folder's class files in place)",
    )
    parser.add_argument(
        "--formats",
        metavar="LIST",
        help="comma-separated class files to draw (default: every default one, and the gradebook export of "
        "--roster's kind)",
    )
    _add_class_options(parser)


def _report(args: argparse.Namespace) -> int:
    folders: list[Path] = list(args.folders)
    for folder in folders:
        if not folder.exists():
            raise _Usage(f"{folder}: no such folder")
        if not folder.is_dir():
            raise _Usage(f"{folder}: not a folder")
    if args.out is None and len(folders) > 1:
        raise _Usage(f"{len(folders)} folders to merge: say where with --out DIR")
    inputs = _class_inputs(args)
    _, classes = _choose(_formats_option(args.formats), inputs)
    unknown = [f for f in (_formats_option(args.formats) or []) if f in student_formats()]
    if unknown:
        raise _Usage(f"--formats: {', '.join(unknown)} are per-student files, drawn by `vicheck grade`")
    target = Path(args.folders[0]) if args.out is None else Path(args.out)
    if args.out is not None:
        from vicheck.grading.report.merge import merge_folders

        try:
            merged = merge_folders(folders, target)
        except ValueError as exc:  # MergeRefused: one line naming the folders and what differs
            raise _Usage(str(exc)) from None
        print(f"vicheck report: merged {len(merged.students)} students from {len(folders)} folders into {target}")
        for choice in merged.replaced:
            print(f"vicheck report: {choice.describe()}", file=sys.stderr)
        for note in merged.skipped:
            print(f"vicheck report: {note}", file=sys.stderr)
        for path in merged.stale:
            print(f"vicheck report: {path} is left from a report that lost the merge (not removed)", file=sys.stderr)
    ctx = inputs.context(target)
    if not ctx.students:
        raise _Usage(f"{target}: no grade reports (<name>.json) in this folder")
    try:
        written, status = _write_class(ctx, classes, "report")
    except OSError as exc:  # e.g. the folder is not writable
        print(f"vicheck report: could not write the class files: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print("; ".join(f"{p.name} in {p}" for p in written) or "no class file written")
    return status


# --------------------------------------------------------------------------------------------- bundle


def _bundle_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, metavar="DIR", help="folder to write the bundle into")
    parser.add_argument("--rubric", type=Path, metavar="R", help="TOML rubric (default: vicheck's example rubric)")
    parser.add_argument("--zip", action="store_true", help="also write DIR/autograder.zip to upload to Gradescope")
    parser.add_argument(
        "--torch-index",
        metavar="URL",
        help="the package index setup.sh installs torch from: a PEP 503 index holding torch and its dependencies, "
        "as PyTorch's own indexes do (default: PyTorch's CPU index, https://download.pytorch.org/whl/cpu)",
    )


def _bundle(args: argparse.Namespace) -> int:
    from vicheck.grading.bundle import build_bundle

    try:
        written = build_bundle(Path(args.dir), args.rubric, make_zip=args.zip, torch_index=args.torch_index)
    except (ValueError, OSError) as exc:
        print(f"vicheck gradescope-bundle: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for path in written:
        print(f"wrote {path}")
    if args.zip:
        print(f"upload {written[-1]} as the autograder in Gradescope's 'Configure Autograder' page")
    return EXIT_OK


def _usage_errors(command: str, run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``run``, with a usage error said in one line and exit status 2."""

    def checked(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except _Usage as exc:
            print(f"vicheck {command}: {exc}", file=sys.stderr)
            return EXIT_USAGE

    return checked


#: the sub-commands, as :mod:`vicheck.cli` expects them (``add_arguments(parser)``, ``run(args) -> int``)
grade = SimpleNamespace(add_arguments=_grade_arguments, run=_usage_errors("grade", _grade))
report = SimpleNamespace(add_arguments=_report_arguments, run=_usage_errors("report", _report))
bundle = SimpleNamespace(add_arguments=_bundle_arguments, run=_bundle)
