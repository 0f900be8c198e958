#!/usr/bin/env python
"""Derive vicheck's default time limits (``vicheck.sandbox.limits.Limits``) from the lecture's own code.

Measured on this machine, with ``OMP_NUM_THREADS=1`` (as the grader's children run):

* the slowest single call the property suite makes into the lecture's function cells
  (``tests/submissions/lecture_4_functions.py``), and into the slowest correct alternative,
  ``tests/submissions/correct/adaptive_quad.py`` (scipy's adaptive quadrature per point): the suite runs
  in a pytest process of its own (``--vicheck-isolation none``, the grade profile) with a plugin that
  times every outermost ``Implementation.invoke``;
* the whole suite's call time of each of them (the per-submission budget is spent on calls and the load);
* what a correct function may pay on its first call and the lecture never does: importing scipy and
  matplotlib lazily (:data:`LAZY_IMPORTS`, in a fresh process that has imported torch);
* the lecture notebook's own run, ``tests/data/lecture_4.ipynb``, brute-force fits included, loaded as the
  grader loads a submission (a child process under the strongest isolation level available here, the
  time from the child's start to its load report).

Each limit is the measured figure times a stated margin (see ``MARGIN_*`` below for the reasons), rounded
up to a nice number (:data:`NICE`: 1, 1.5, 2, 3, 4, 5, 6, 8 times a power of ten)::

    call_seconds       = nice(max(MARGIN_CALL x the lecture's slowest call,
                                  MARGIN_MACHINE x adaptive_quad's slowest call,
                                  MARGIN_MACHINE x the lazy import))
    load_seconds       = nice(MARGIN_LOAD x the notebook's run)
    submission_seconds = nice(load_seconds + MARGIN_MACHINE x the slower suite call time in all)

(``submission_seconds`` budgets a submission's load and all its calls, so it holds the load limit too.)

Run ``.venv/bin/python scripts/derive_limits.py`` (a few minutes on 2 cores); ``--quick`` uses the dev
profile (a quarter of the examples; the slowest call stays, the totals shrink) for a trial run. The
figures go to stdout; ``--json PATH`` also writes them as JSON. Copy the limits into
``vicheck/sandbox/limits.py`` (the comments there give the figures they came from).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# before anything imports torch, here and in the processes started below (the grader sets them for children)
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LECTURE = ROOT / "tests" / "submissions" / "lecture_4_functions.py"
ADAPTIVE = ROOT / "tests" / "submissions" / "correct" / "adaptive_quad.py"
NOTEBOOK = ROOT / "tests" / "data" / "lecture_4.ipynb"

#: a grading machine slower than this one (2 CPU cores; an older CPU, a cloud vCPU that is half a core):
#: 3x, times 2 for a machine loaded with one grading job per core (``vicheck grade --jobs``: the jobs'
#: memory traffic and the parent's own work slow each child down). Applied alone to figures that are
#: already the slowest correct code we know (adaptive_quad's calls, a whole suite's call time, a lazy import).
MARGIN_MACHINE = 6.0
#: a student's correct but slower code, on the lecture's own slowest call: float64 everywhere, autograd
#: Jacobians, Python loops over points (a factor of a few). Adaptive quadrature per point is slower still
#: (its slowest call is 10-20x the lecture's), which is why adaptive_quad's slowest call is a term of its own.
MARGIN_STUDENT = 5.0
MARGIN_CALL = MARGIN_STUDENT * MARGIN_MACHINE
#: the notebook's own run on the slower, loaded machine, and no more: that run already holds the lecture's
#: brute-force fits, and a submission that hangs at import costs the whole load limit, so it stays as
#: small as the machine margin allows
MARGIN_LOAD = MARGIN_MACHINE

#: mantissas of a nice limit
NICE = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)


def ceil_to_nice(seconds: float) -> float:
    """The smallest ``m * 10**k`` (``m`` in :data:`NICE`) at least ``seconds``."""
    if seconds <= 0:
        return 1.0
    exponent = math.floor(math.log10(seconds))
    for k in (exponent, exponent + 1):
        for m in NICE:
            value = round(m * 10.0**k, 6)
            if value >= seconds * (1 - 1e-9):
                return value
    raise AssertionError("unreachable")  # pragma: no cover


# ------------------------------------------------------------------------------------------- the suite


class CallTimer:
    """A pytest plugin that times every outermost call the property suite makes into the implementation."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []
        self.current = ""
        self._depth = 0

    def install(self, isolation: str) -> Any:
        """Wrap the implementation class's ``invoke``; returns the function that undoes it.

        In process a call's time is its wall-clock time; in a child it is what the call was charged against
        the limits (wall-clock time less the grader's callbacks, the child's pickling included)."""
        cls: Any
        if isolation == "none":
            from vicheck.sandbox.loading import InProcessImplementation as cls
        else:
            from vicheck.sandbox.isolated import IsolatedImplementation as cls
        original = cls.invoke
        timer = self

        def invoke(impl: Any, target: Any, /, *args: Any, seed: int | None = None, **kwargs: Any) -> Any:
            timer._depth += 1
            charged = getattr(impl, "seconds_spent", None)
            start = time.perf_counter()
            try:
                return original(impl, target, *args, seed=seed, **kwargs)
            finally:
                seconds = time.perf_counter() - start
                if charged is not None:
                    seconds = impl.seconds_spent - charged
                timer._depth -= 1
                if timer._depth == 0:
                    timer.calls.append((seconds, f"{timer.current}: {_describe(target, args, kwargs)}"))

        cls.invoke = invoke

        def undo() -> None:
            cls.invoke = original

        return undo

    def pytest_runtest_call(self, item: Any) -> None:
        self.current = item.name.removeprefix("test_")


def _describe(target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    name = target if isinstance(target, str) else getattr(target, "__qualname__", type(target).__name__)
    try:
        from properties._describe import describe_call

        text = describe_call(str(name), args, kwargs)
    except Exception:
        text = f"{name}(...)"
    return text if len(text) <= 160 else text[:157] + "..."


def suite_worker(submission: Path, profile: str, isolation: str, out: Path) -> int:
    """Run the property suite in this process against ``submission`` and write the timed calls to ``out``."""
    import pytest

    timer = CallTimer()
    undo = timer.install(isolation)
    start = time.perf_counter()
    try:
        args = ["-p", "vicheck.grading.run.plugin", "--pyargs", "properties", "--impl", str(submission)]
        args += [
            "--vicheck-isolation",
            isolation,
            "--vicheck-profile",
            profile,
            "-q",
            "--no-header",
            "-p",
            "no:randomly",
        ]
        args += ["-p", "no:cacheprovider", "--rootdir", str(ROOT), "-W", "ignore"]
        code = int(pytest.main(args, plugins=[timer]))
    finally:
        undo()
    wall = time.perf_counter() - start
    out.write_text(json.dumps({"exit": code, "wall": wall, "calls": timer.calls}))
    return 0


def measure_suite(submission: Path, profile: str, isolation: str) -> dict[str, Any]:
    """The property suite's timed calls into ``submission``, from a fresh process (torch imported once)."""
    with tempfile.TemporaryDirectory(prefix="vicheck-derive-") as tmp:
        out = Path(tmp) / "calls.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--suite-worker", str(submission)]
        cmd += ["--profile", profile, "--isolation", isolation, "--worker-out", str(out)]
        proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0 or not out.exists():
            sys.stderr.write(proc.stdout[-4000:])
            raise SystemExit(f"the property suite did not run against {submission} (exit {proc.returncode})")
        data: dict[str, Any] = json.loads(out.read_text())
    calls = sorted(((float(s), str(d)) for s, d in data["calls"]), reverse=True)
    summary = proc.stdout.strip().splitlines()[-1:] if proc.stdout.strip() else [""]
    return {
        "submission": str(submission.relative_to(ROOT)),
        "pytest": summary[0],
        "calls": len(calls),
        "slowest": calls[:5],
        "total": sum(s for s, _ in calls),
        "wall": data["wall"],
    }


# ------------------------------------------------------------------------------------------- the notebook


def measure_notebook(notebook: Path) -> dict[str, Any]:
    """Seconds from the child's start to its load report for ``notebook``, under the strongest isolation
    level available here (limits generous enough not to stop it)."""
    from vicheck.sandbox.jail import choose_level
    from vicheck.sandbox.limits import Limits
    from vicheck.sandbox.loading import load_implementation

    level = choose_level("auto", "process")
    limits = Limits(call_seconds=3000, load_seconds=3000, submission_seconds=6000)
    start = time.perf_counter()
    impl = load_implementation(str(notebook), isolation=level, limits=limits)
    try:
        names = impl.names()
        seconds = time.perf_counter() - start
        problems = [str(p) for p in impl.load_problems()]
    finally:
        impl.close()
    return {"notebook": str(notebook.relative_to(ROOT)), "isolation": level, "seconds": seconds,
            "names": len(names), "problems": problems}  # fmt: skip


# ------------------------------------------------------------------------------------------- first call

#: what a correct function may import on its first call (``from scipy.integrate import quad`` inside
#: ``integrate``): a cost the lecture's own calls never pay, since the lecture imports at the top
LAZY_IMPORTS = "scipy.integrate, scipy.optimize, scipy.stats, matplotlib.pyplot"


def measure_lazy_import() -> float:
    """Seconds a fresh process that has imported torch takes to import :data:`LAZY_IMPORTS` (best of 3)."""
    code = (
        "import time, torch, matplotlib; matplotlib.use('Agg'); t = time.perf_counter(); "
        f"import {LAZY_IMPORTS}; print(time.perf_counter() - t)"
    )
    best = math.inf
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
        best = min(best, float(out.stdout.strip().splitlines()[-1]))
    return best


# ------------------------------------------------------------------------------------------- main


def derive(lecture: float, slow: float, lazy: float, slow_total: float, notebook: float) -> dict[str, float]:
    """The limits from the measured figures (seconds) and the margins."""
    call = ceil_to_nice(max(MARGIN_CALL * lecture, MARGIN_MACHINE * slow, MARGIN_MACHINE * lazy))
    load = ceil_to_nice(MARGIN_LOAD * notebook)
    submission = ceil_to_nice(load + MARGIN_MACHINE * slow_total)
    return {"call_seconds": call, "load_seconds": load, "submission_seconds": submission}


def _print_suite(title: str, m: dict[str, Any]) -> None:
    print(f"{title}: {m['submission']}")
    print(f"  pytest: {m['pytest']}")
    print(f"  {m['calls']} calls, {m['total']:.1f} s of calls in all ({m['wall']:.1f} s wall); the 5 slowest:")
    for seconds, what in m["slowest"]:
        print(f"    {seconds:8.3f} s  {what}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="derive_limits.py",
        description="Measure the lecture's slowest call, the slowest correct alternative's calls and the "
        "lecture notebook's run on this machine, and print the default time limits they give (figure x "
        "margin, rounded up to a nice number).",
    )
    parser.add_argument(
        "--quick", action="store_true", help="dev profile (a quarter of the examples): a trial run, not for defaults"
    )
    parser.add_argument(
        "--isolation",
        default="none",
        choices=["none", "auto", "namespaces", "uid", "process"],
        help="where the suite calls the submissions: none (this process: the code's own time, the default) "
        "or a child as in grading (auto: the strongest level here; a call's time is then what the limits "
        "charge it, pickling included)",
    )
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--suite-worker", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--profile", default="grade", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.suite_worker is not None:
        return suite_worker(args.suite_worker, args.profile, args.isolation, args.worker_out)

    profile = "dev" if args.quick else "grade"
    print(f"measuring on {os.cpu_count()} cores, OMP_NUM_THREADS=1, profile {profile}, isolation {args.isolation}")
    print(flush=True)
    lecture = measure_suite(LECTURE, profile, args.isolation)
    _print_suite("the lecture's function cells", lecture)
    slow = measure_suite(ADAPTIVE, profile, args.isolation)
    _print_suite("the slowest correct alternative", slow)
    lazy = measure_lazy_import()
    print(f"a first call's lazy import of {LAZY_IMPORTS}: {lazy:.2f} s", flush=True)
    notebook = measure_notebook(NOTEBOOK)
    print(f"the lecture notebook's run: {notebook['notebook']} under {notebook['isolation']}")
    print(f"  {notebook['seconds']:.1f} s from the child's start to its load report ({notebook['names']} names)")
    for problem in notebook["problems"]:
        print(f"  load problem: {problem[:150]}")

    lec, aq = lecture["slowest"][0][0], slow["slowest"][0][0]
    total = max(lecture["total"], slow["total"])
    limits = derive(lec, aq, lazy, total, notebook["seconds"])
    print()
    print(
        f"margins: machine x{MARGIN_MACHINE:g} (3x slower, 2x loaded), student x{MARGIN_STUDENT:g} (correct but "
        f"slower code), notebook x{MARGIN_LOAD / MARGIN_MACHINE:g} of the machine margin"
    )
    print(
        f"call_seconds       = nice(max({MARGIN_CALL:g} x {lec:.3f}, {MARGIN_MACHINE:g} x {aq:.3f}, "
        f"{MARGIN_MACHINE:g} x {lazy:.2f})) = {limits['call_seconds']:g}"
    )
    print(f"load_seconds       = nice({MARGIN_LOAD:g} x {notebook['seconds']:.1f}) = {limits['load_seconds']:g}")
    print(
        f"submission_seconds = nice({limits['load_seconds']:g} + {MARGIN_MACHINE:g} x {total:.1f}) "
        f"= {limits['submission_seconds']:g}"
    )
    if args.json is not None:
        figures = {
            "profile": profile,
            "isolation": args.isolation,
            "lecture": lecture,
            "adaptive_quad": slow,
            "lazy_import": lazy,
            "notebook": notebook,
            "margins": {"machine": MARGIN_MACHINE, "student": MARGIN_STUDENT, "call": MARGIN_CALL, "load": MARGIN_LOAD},
            "limits": limits,
        }
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
