"""Running the visible properties on one submission, exactly as grading runs them, and returning the report.

A self-check is a grading run (:func:`vicheck.grading.run.options.run_argv`: the same pytest command, plugin,
empty ini file, environment, jail, limits, profile and rubric as ``vicheck grade --self-check``) with two
additions that change no verdict: ``--vicheck-functions`` when the student named functions, and the plugin
:mod:`vicheck.check.oracles`, which keeps the suite's oracle values on disk between checks. Its report goes to
a temporary folder, removed afterwards; nothing is written beside the submission.

The run is a fresh ``python -m pytest`` process (``vicheck check``), or a fork of a warm worker
(:class:`~vicheck.grading.run.warm.ForkServer`, as ``vicheck grade`` forks one per submission) that a
notebook's :func:`vicheck.check` keeps between calls (:mod:`vicheck.check.session`). Either way the
submission's code runs only in the jailed child that the run's property suite starts.
"""

from __future__ import annotations

import functools
import importlib.util
import shlex
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vicheck.grading.batch import TIMEOUT_MARGIN_SECONDS, finalize_partial
from vicheck.grading.report.records import GradeReport, read_report
from vicheck.grading.rubric import Rubric
from vicheck.grading.run.fresh import (
    DEFAULT_PYTEST,
    RunFolder,
    environment,
    launch,
    pytest_command,
    suite_folder,
    wait_or_kill,
)
from vicheck.grading.run.options import RunOptions, run_argv
from vicheck.grading.run.warm import ForkServer

__all__ = [
    "CheckFailed",
    "CheckSettings",
    "CheckUsage",
    "check_argv",
    "contract_names",
    "run_check",
    "settings_for",
    "unknown_functions",
]


#: the plugin that keeps the oracle cache on disk (:mod:`vicheck.check.oracles`), named, not imported: it imports
#: pytest, which only the pytest run needs
ORACLE_PLUGIN = "vicheck.check.oracles"


class CheckUsage(ValueError):
    """The check was asked something it cannot do (a rubric that does not read, an isolation level that is
    not there, an unknown function): one line, exit status 2."""


class CheckFailed(RuntimeError):
    """The check could not run (the grader failed, not the submission): one line, exit status 2."""


@dataclass(frozen=True)
class CheckSettings:
    """What every check of one session runs with, decided once (as ``vicheck grade`` decides for a class)."""

    rubric: Rubric
    rubric_path: Path | None
    profile: str
    isolation: str
    resources: str
    #: wall-clock seconds after which the run is stopped (its own limits stop a submission long before)
    time_limit: float


def settings_for(
    rubric_path: Path | None = None,
    *,
    quick: bool = False,
    profile: str | None = None,
    isolation: str = "auto",
    resources: str = "auto",
) -> CheckSettings:
    """The settings ``vicheck grade --self-check`` would use with this rubric: its profile (``quick``: the dev
    profile), the strongest isolation and resource levels here that the rubric allows, and the hard
    wall-clock limit of a grading run. :class:`CheckUsage` when the rubric does not read or a level cannot be
    had."""
    from vicheck.grading.rubric import load_rubric
    from vicheck.sandbox.jail import IsolationUnavailable, choose_level
    from vicheck.sandbox.limits import WALL_BACKSTOP
    from vicheck.sandbox.resources import ResourcesUnavailable, choose_resources

    try:
        rubric = load_rubric(rubric_path)
    except (OSError, ValueError) as exc:
        raise CheckUsage(str(exc)) from None
    limits = rubric.limits
    try:
        level = choose_level(isolation, limits.isolation)
        control = choose_resources(resources, limits.resources)
    except (IsolationUnavailable, ResourcesUnavailable) as exc:
        raise CheckUsage(str(exc)) from None
    # as vicheck grade: on a CPU clock (a cgroup level) a submission's limits may take WALL_BACKSTOP x as long
    stretch = WALL_BACKSTOP if control != "rlimits" else 1.0
    limit = (limits.submission_seconds + limits.load_seconds) * stretch + TIMEOUT_MARGIN_SECONDS
    return CheckSettings(
        rubric=rubric,
        rubric_path=Path(rubric_path).resolve() if rubric_path is not None else None,
        profile="dev" if quick else (profile or rubric.profile),
        isolation=level,
        resources=control,
        time_limit=float(limit),
    )


@functools.cache
def contract_names() -> tuple[str, ...]:
    """The contract's names (the lecture's functions and data), in the contract's order.

    Read from ``reference/contract.py`` alone: importing it as ``reference.contract`` would run
    ``reference/__init__.py``, which imports torch (a second and a half of a cold check, and memory in a
    student's kernel). The file imports only the standard library."""
    loaded = sys.modules.get("reference.contract")
    if loaded is not None:
        return tuple(loaded.NAMES)
    spec = importlib.util.find_spec("reference")
    if spec is None or spec.origin is None:
        raise CheckFailed("the reference implementation (package `reference`) is not installed")
    path = Path(spec.origin).with_name("contract.py")
    file_spec = importlib.util.spec_from_file_location("_vicheck_contract", path)
    if file_spec is None or file_spec.loader is None:
        raise CheckFailed(f"cannot read the contract from {path}")
    module = importlib.util.module_from_spec(file_spec)
    sys.modules[file_spec.name] = module  # dataclasses looks its module up while the class is made
    try:
        file_spec.loader.exec_module(module)
    finally:
        del sys.modules[file_spec.name]
    return tuple(module.NAMES)


def unknown_functions(names: Sequence[str]) -> list[str]:
    """The names in ``names`` that are not contract names (the lecture's functions and data)."""
    known = set(contract_names())
    return [n for n in names if n not in known]


def check_argv(
    submission: Path, s: CheckSettings, folder: RunFolder, report: Path, functions: Sequence[str]
) -> list[str]:
    """The pytest command of one check: the grading run's (:func:`run_argv`, visible properties only), the
    functions asked for, and the oracle plugin."""
    options = RunOptions(
        impl=submission,
        report=report,
        profile=s.profile,
        visibility="visible",
        isolation=s.isolation,
        resources=s.resources,
        rootdir=folder.work,
        ini=folder.ini,
        rubric=s.rubric_path,
        suite=suite_folder(),
    )
    cmd = run_argv(options, pytest_command())
    cmd += ["-p", ORACLE_PLUGIN]
    if functions:
        cmd += ["--vicheck-functions", ",".join(functions)]
    return cmd


def _log_errors(log: Path) -> str:
    """What pytest said went wrong (its ``ERROR:`` lines, else the log's last lines)."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    errors = [line.removeprefix("ERROR: ").strip() for line in lines if line.startswith("ERROR:")]
    return "; ".join(errors) if errors else " / ".join(line.strip() for line in lines[-5:] if line.strip())


def run_check(
    submission: Path,
    s: CheckSettings,
    functions: Sequence[str] = (),
    *,
    server: ForkServer | None = None,
    jobs: Path | None = None,
) -> GradeReport:
    """Run the visible properties (those exercising ``functions``, or all) on ``submission``; the report.

    ``server``: a warm worker to fork the run from (its runs' folders lie in ``jobs``, where its zygote can
    fork their jailed children), else a fresh pytest process. A run that passes the time limit is stopped
    and its report finalized (properties not reached are "not run", saying why), as grading does.
    :class:`CheckFailed` when the run itself failed (pytest's usage or internal error, no report)."""
    folder = RunFolder.make("vicheck-check-", jobs)
    try:
        report_path = folder.root / "report.json"
        log = folder.root / "pytest.log"
        cmd = check_argv(submission, s, folder, report_path, functions)
        log.write_bytes(("$ " + shlex.join(cmd) + "\n").encode())
        warm = server if server is not None and pytest_command() == DEFAULT_PYTEST else None
        run = launch(cmd, folder.work, environment(folder), log, warm)
        rc, timed_out = wait_or_kill(run, time.monotonic() + s.time_limit)
        try:
            report: GradeReport | None = read_report(report_path)
        except (OSError, ValueError, TypeError):
            report = None
        if timed_out:
            if report is None:
                raise CheckFailed(f"the check's time limit ({s.time_limit:g} s) was reached before it had started")
            return finalize_partial(report, "the submission's time limit was reached", f" ({s.time_limit:g} s)")
        # 5: no property was left to run (every one exercising the functions asked for is hidden): a report
        # with no property, and the hidden count, is the answer
        if rc not in (0, 1, 5) or report is None or not report.complete:
            why = f"pytest exited with status {rc}" if rc >= 0 else f"pytest was killed by signal {-rc}"
            detail = _log_errors(log)
            raise CheckFailed(f"{why}: {detail}" if detail else why)
        return report
    finally:
        shutil.rmtree(folder.root, ignore_errors=True)
