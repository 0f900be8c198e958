"""pytest plugin of the property suite: which implementation to check, with which Hypothesis profile,
and the grade report.

Options (group ``vicheck``): ``--impl`` and ``--grade-report`` (names fixed by the product), the rest
prefixed ``--vicheck-``. They are resolved once in :func:`pytest_configure` into :class:`VicheckConfig`
and shown by :func:`pytest_report_header`.

The plugin belongs to the grader, not to the suite (``properties/`` imports nothing of
:mod:`vicheck.grading`). pytest loads it by name: the project's ``conftest.py`` names it (``pytest
properties/ --impl X`` in a checkout), ``vicheck grade`` passes ``-p vicheck.grading.run.plugin``, and the
older spelling ``-p properties.plugin`` (in the logs of earlier grading runs) names it in turn; pytest loads
a plugin once however many times it is named.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from properties._checks import PropertyFailure
from properties._registry import PROFILES, set_active_profile
from properties._vocabulary import CATEGORIES
from vicheck.grading.report.diagnosis import carry_forward
from vicheck.grading.report.formats import StudentContext, student_formats
from vicheck.grading.report.records import GradeReport, PropertyResult, iso_utc, now_utc
from vicheck.grading.rubric import Rubric
from vicheck.grading.run.options import ISOLATION_CHOICES, RESOURCE_CHOICES, VISIBILITY_CHOICES
from vicheck.grading.run.provenance import seed_text, submission_sha256, versions
from vicheck.grading.run.tracing import start_trace, traced
from vicheck.grading.run.verdicts import brief_failures, explain, load_failure, record_errors
from vicheck.implementation import Implementation
from vicheck.sandbox.jail import IsolationUnavailable, choose_level, probe
from vicheck.sandbox.limits import Limits
from vicheck.sandbox.loading import classify_spec, load_implementation
from vicheck.sandbox.resources import ResourcesUnavailable, choose_resources, probe_resources

__all__ = ["VicheckConfig", "CONFIG_KEY"]


@dataclass
class VicheckConfig:
    impl: str
    isolation: str
    profile: str
    grade_report: Path | None
    gradescope: Path | None
    feedback: Path | None
    visibility: str
    functions: frozenset[str] | None
    rubric: Rubric | None
    limits: Limits
    aliases: dict[str, str] = field(default_factory=dict)
    #: the isolation level in force: namespaces, uid, process (a child per submission) or none
    level: str = "none"
    #: the resource-control level in force: cgroup2, cgroup1, rlimits, or none (in this process)
    resources: str = "none"
    report: GradeReport | None = None
    hidden_left_out: int = 0
    started: float = field(default_factory=time.monotonic)
    implementation: Implementation | None = None


CONFIG_KEY = pytest.StashKey[VicheckConfig]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vicheck", "vicheck property suite")
    group.addoption(
        "--impl",
        default="reference",
        metavar="PATH|MODULE",
        help="implementation to check: a .py file, a .ipynb notebook, a folder holding one, or a module "
        "name (default: reference)",
    )
    group.addoption("--grade-report", default=None, metavar="PATH", help="write the JSON grade report to PATH")
    group.addoption(
        "--vicheck-profile",
        default=None,
        choices=sorted(PROFILES),
        help="Hypothesis profile: dev (fast, random), ci, grade (derandomized, fixed examples); "
        "default: grade, or the rubric's",
    )
    group.addoption(
        "--vicheck-isolation",
        default="auto",
        choices=ISOLATION_CHOICES,
        help="how a submission file runs: auto (the strongest level available here), namespaces (a "
        "bubblewrap jail), uid (a uid of its own, as root), process (a child process) or none (in this "
        "process); a named level that is not available stops the run",
    )
    group.addoption(
        "--vicheck-resources",
        default="auto",
        choices=RESOURCE_CHOICES,
        help="how a submission's resources are bounded as a whole: auto (the strongest level available), "
        "cgroup2 or cgroup1 (a control group per submission: memory, processes, CPU share), or rlimits (each "
        "process's own limits); a named level that is not available stops the run",
    )
    group.addoption(
        "--vicheck-rubric",
        default=None,
        metavar="TOML",
        help="rubric: weights, categories, visibility, aliases, limits",
    )
    group.addoption(
        "--vicheck-visibility",
        default="all",
        choices=VISIBILITY_CHOICES,
        help="visible: a self-check that leaves out the rubric's hidden properties",
    )
    group.addoption(
        "--vicheck-functions",
        default=None,
        metavar="NAMES",
        help="comma-separated contract names: run only the properties that exercise one of them",
    )
    group.addoption("--vicheck-gradescope", default=None, metavar="PATH", help="write Gradescope results.json")
    group.addoption("--vicheck-feedback", default=None, metavar="PATH", help="write markdown feedback")


def _load_rubric(path: str | None) -> Rubric | None:
    """The rubric, or None for the built-in defaults (each property's own weight, everything visible)."""
    if path is None:
        return None
    from vicheck.grading.rubric import load_rubric

    try:
        return load_rubric(path)
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(f"--vicheck-rubric {path}: {exc}") from None


def pytest_configure(config: pytest.Config) -> None:
    # Hypothesis' pytest plugin imports its patch writer after every failing property; without libcst the
    # import fails, and is retried (the module read, rewritten and compiled) at every failure. The suite
    # has no use for patches to its own source: where the import has not succeeded, it fails at once.
    sys.modules.setdefault("hypothesis.extra._patching", None)  # type: ignore[arg-type]
    rubric = _load_rubric(config.getoption("--vicheck-rubric"))
    profile = config.getoption("--vicheck-profile") or (rubric.profile if rubric is not None else "grade")
    set_active_profile(profile)
    spec = config.getoption("--impl")
    if spec != "reference":
        _check_impl_spec(spec)
    limits = rubric.limits if rubric is not None else Limits()
    isolation = config.getoption("--vicheck-isolation")
    level = _isolation_level(spec, isolation, limits)
    resources = _resource_level(level, config.getoption("--vicheck-resources"), limits)
    path = config.getoption("--grade-report")
    gs = config.getoption("--vicheck-gradescope")
    fb = config.getoption("--vicheck-feedback")
    config.stash[CONFIG_KEY] = VicheckConfig(
        impl=spec,
        isolation=config.getoption("--vicheck-isolation"),
        profile=profile,
        grade_report=Path(path) if path else None,
        gradescope=Path(gs) if gs else None,
        feedback=Path(fb) if fb else None,
        visibility=config.getoption("--vicheck-visibility"),
        functions=_functions_option(config.getoption("--vicheck-functions")),
        rubric=rubric,
        limits=limits,
        aliases=dict(rubric.aliases) if rubric is not None else {},
        level=level,
        resources=resources,
    )
    for category, meaning in CATEGORIES.items():
        config.addinivalue_line("markers", f"{category}: {meaning}")
    config.addinivalue_line("markers", "vicheck(functions, weight, category): property metadata")


def _isolation_level(spec: str, isolation: str, limits: Limits) -> str:
    """The level the implementation will run under, decided before anything runs: a usage error (one
    line) when the level asked for, or the rubric's minimum, cannot be had here."""
    try:
        kind = "module" if spec == "reference" else classify_spec(spec)[0]
    except ValueError:
        kind = "file"  # _check_impl_spec has already said why not
    if kind == "module":  # the reference or a module the user trusts: called in this process
        if isolation not in ("auto", "none"):
            raise pytest.UsageError(f"--impl {spec}: isolation {isolation} needs a file or folder, not a module name")
        return "none"
    try:
        return choose_level(isolation, limits.isolation)
    except IsolationUnavailable as exc:
        raise pytest.UsageError(f"--vicheck-isolation {isolation}: {exc}") from None


def _resource_level(level: str, requested: str, limits: Limits) -> str:
    """The resource level a submission's child runs under (``none`` in this process), decided once: a usage
    error (one line) when the level asked for, or the rubric's minimum, cannot be had here."""
    if level == "none":
        return "none"
    try:
        return choose_resources(requested, limits.resources)
    except ResourcesUnavailable as exc:
        raise pytest.UsageError(f"--vicheck-resources {requested}: {exc}") from None


def _functions_option(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    from reference.contract import NAMES

    names = frozenset(n.strip() for n in value.split(",") if n.strip())
    unknown = sorted(names - set(NAMES))
    if unknown:
        raise pytest.UsageError(f"--vicheck-functions: not contract names: {', '.join(unknown)}")
    return names


def _check_impl_spec(spec: str) -> None:
    """A one-line usage error (no traceback) when --impl names nothing loadable or readable."""
    try:
        _, file = classify_spec(spec)
        if file is not None:
            file.read_bytes()
    except (ValueError, OSError) as exc:
        reason = str(exc).removeprefix(f"{spec}: ")
        raise pytest.UsageError(f"--impl {spec}: {reason}") from None


def pytest_report_header(config: pytest.Config) -> list[str]:
    vc = config.stash.get(CONFIG_KEY, None)
    if vc is None:
        return []
    rubric = vc.rubric.source if vc.rubric is not None else "default"
    detail = probe(vc.level)[1]
    resources = vc.resources if vc.resources == "none" else f"{vc.resources} ({probe_resources(vc.resources)[1]})"
    return [
        f"vicheck: impl={vc.impl} isolation={vc.level} ({detail}) resources={resources} profile={vc.profile} "
        f"rubric={rubric} visibility={vc.visibility}"
    ]


def _info(item: pytest.Item) -> tuple[tuple[str, ...], str, float] | None:
    marker = item.get_closest_marker("vicheck")
    if marker is None:
        return None
    return tuple(marker.kwargs["functions"]), marker.kwargs["category"], float(marker.kwargs["weight"])


def property_name(item: pytest.Item) -> str:
    return item.name.removeprefix("test_")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Apply --vicheck-functions, the rubric's categories and (in a self-check) its visibility."""
    vc = config.stash[CONFIG_KEY]
    rubric = vc.rubric
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        info = _info(item)
        if info is None:
            keep.append(item)
            continue
        functions, category, _ = info
        name = property_name(item)
        hidden = rubric is not None and rubric.visibility_for(name) == "hidden"
        if vc.functions is not None and not vc.functions.intersection(functions):
            dropped.append(item)
        elif rubric is not None and not rubric.counts(category):
            dropped.append(item)
        elif vc.visibility == "visible" and hidden:
            vc.hidden_left_out += 1
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    for item in items:
        if isinstance(item, pytest.Function) and _info(item) is not None:
            brief_failures(item)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The report lists exactly the properties that will run (after every deselection), all pending."""
    vc = session.config.stash[CONFIG_KEY]
    rubric = vc.rubric
    results: list[PropertyResult] = []
    for item in session.items:
        info = _info(item)
        if info is None:
            continue
        functions, category, weight = info
        name = property_name(item)
        function = getattr(item, "function", None)
        doc = (getattr(function, "__doc__", None) or "").strip()
        results.append(
            PropertyResult(
                name=name,
                functions=list(functions),
                category=category,
                weight=rubric.weight_for(name, weight) if rubric is not None else weight,
                visibility=rubric.visibility_for(name) if rubric is not None else "visible",
                description=" ".join(doc.split("\n\n")[0].split()),
            )
        )
    if results or vc.grade_report:
        vc.report = GradeReport(
            submission=vc.impl,
            properties=results,
            profile=vc.profile,
            hypothesis_seed=seed_text(session.config),
            versions=versions(),
            rubric=rubric.describe() if rubric is not None else "default",
            hidden_left_out=vc.hidden_left_out,
            submission_sha256=submission_sha256(vc.impl),
            isolation=vc.level,
            resources=vc.resources,
        )
        _write(vc)


def _write(vc: VicheckConfig) -> None:
    """Write the report: compact while the run goes on (around every property), indented once complete."""
    if vc.grade_report is not None and vc.report is not None:
        vc.report.write(vc.grade_report, interim=not vc.report.complete)


@pytest.fixture(scope="session")
def impl(request: pytest.FixtureRequest) -> Iterator[Implementation]:
    """The implementation under test (the reference unless ``--impl`` names another)."""
    vc = request.config.stash[CONFIG_KEY]
    if vc.implementation is None:
        try:
            isolation = vc.level if vc.level != "none" else vc.isolation
            vc.implementation = load_implementation(
                vc.impl,
                isolation=isolation,
                limits=vc.limits,
                aliases=vc.aliases,
                resources=vc.resources if vc.resources != "none" else "auto",
            )
        except (ValueError, IsolationUnavailable, ResourcesUnavailable) as exc:
            raise pytest.UsageError(str(exc)) from None
    yield vc.implementation


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> None:
    """Every property of a submission that did not load fails, saying why ("not graded: the submission did
    not load (<kind>: <detail>)", see :func:`~vicheck.grading.run.verdicts.load_failure`); otherwise a
    property whose contract functions the submission lacks fails, naming the missing function. Either way
    the report's entry records the reason as data (``not_loaded``; ``missing`` and the names)."""
    info = _info(pyfuncitem)
    if info is None or "impl" not in pyfuncitem.funcargs:
        return None
    implementation = cast(Implementation, pyfuncitem.funcargs["impl"])
    start_trace(pyfuncitem, implementation)
    result = _result_for(pyfuncitem)
    why = load_failure(implementation)
    if why is not None:
        if result is not None:
            result.reason = "not_loaded"
        raise PropertyFailure(f"not graded: the submission did not load ({why})")
    missing = [f for f in info[0] if not implementation.has(f)]
    if missing:
        if result is not None:
            result.reason, result.missing = "missing", missing
        names = ", ".join(f"`{m}`" for m in missing)
        raise PropertyFailure(f"submission defines no {names}")
    return None


def _result_for(item: pytest.Item) -> PropertyResult | None:
    """The report's entry for the property ``item`` (``None`` when no report is kept)."""
    vc = item.config.stash[CONFIG_KEY]
    if vc.report is None:
        return None
    name = property_name(item)
    return next((r for r in vc.report.properties if r.name == name), None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    vc = item.config.stash[CONFIG_KEY]
    if vc.report is not None and _info(item) is not None:
        vc.report.running = property_name(item)
        _write(vc)
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    rep: pytest.TestReport = outcome.get_result()
    vc = item.config.stash[CONFIG_KEY]
    if vc.report is None or _info(item) is None:
        return
    result = _result_for(item)
    if result is None:
        return
    if rep.when == "call" or (rep.when == "setup" and rep.failed):
        result.seconds = round(rep.duration, 4)
        result.passed = rep.passed
        result.status = "passed" if rep.passed else "failed"
        if rep.failed and call.excinfo is not None:
            result.message, result.counterexample = explain(call.excinfo.value)
        result.reached = traced(vc.implementation) if rep.when == "call" else {}
        vc.report.running = ""
        _write(vc)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    vc = session.config.stash.get(CONFIG_KEY, None)
    if vc is None:
        return
    implementation = vc.implementation
    if implementation is not None:
        # the jail goes first: the final report is written once nothing of the submission runs any more
        problems = implementation.load_problems()
        implementation.close()
        events = implementation.events()
    if vc.report is not None:
        if implementation is not None:
            record_errors(vc.report, problems, events)
        for r in vc.report.properties:
            if r.status == "pending":
                r.stop("not_run", "not run (deselected or interrupted)")
        carry_forward(vc.report, vc.rubric is not None and vc.rubric.carried_forward)
        vc.report.complete = True
        vc.report.running = ""
        vc.report.graded_at = iso_utc(now_utc())
        _write(vc)
        ctx = StudentContext(seconds=time.monotonic() - vc.started)
        for name, path in (("gradescope", vc.gradescope), ("md", vc.feedback)):
            if path is not None:
                student_formats()[name].write(vc.report, path, ctx)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    vc = config.stash.get(CONFIG_KEY, None)
    if vc is None or vc.report is None or not vc.report.properties or config.option.collectonly:
        return
    r = vc.report
    terminalreporter.write_sep("-", "vicheck")
    terminalreporter.write_line(f"score {r.score:g} / {r.max_score:g} for {r.submission} (profile {r.profile})")
    if r.hidden_left_out:
        terminalreporter.write_line(
            f"{r.hidden_left_out} hidden properties were left out of this self-check: passing every visible "
            "property is not the final grade"
        )
    for e in r.errors:
        terminalreporter.write_line(f"error: {e}")
