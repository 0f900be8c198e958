"""``vicheck work-precision DIR``: error versus time for each estimator of the lecture's problems.

From one run, in the manner of the work-precision diagrams of DifferentialEquations.jl/SciMLBenchmarks:

* ``DIR/work_precision.csv`` and ``DIR/work_precision.md`` -- one row per (problem, method, device, dtype, N)
  with the median time per call and the relative error (for Monte Carlo: median, min and max over seeds);
* ``DIR/work_precision.png`` -- one log-log panel per problem, relative error against time, one line per
  method, device and dtype; Monte Carlo points are the median over seeds with a bar from the smallest to
  the largest error;
* for each problem, which method (and device, dtype) reaches 1e-3 and 1e-6 relative error first -- the
  cheapest point from which its error stays below the threshold for every larger N -- and at what cost.

The problems and estimators are :data:`vicheck.estimators.PROBLEMS`; the values of N are the ``full`` sweep
(``--quick``: the ``tiny`` sweep, 3 seeds). matplotlib is optional (``pip install 'vicheck[plots]'``):
without it the tables are written and a one-line message says how to get the plot.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from vicheck.estimators import DTYPES, PROBLEMS, SWEEPS, Problem, Sweep, available_devices, is_monte_carlo, synchronize

__all__ = ["THRESHOLDS", "Reached", "Row", "add_arguments", "first_to_reach", "measure", "run", "write_outputs"]

THRESHOLDS: tuple[float, ...] = (1e-3, 1e-6)
#: errors that are exactly 0 (estimate == exact in float64) are drawn at this height
ERROR_FLOOR = 1e-17
INSTALL_HINT = (
    "vicheck work-precision: matplotlib is not installed, so no plot was drawn; "
    "install the plotting extra with: pip install 'vicheck[plots]'"
)


@dataclass(frozen=True)
class Row:
    """One point of the diagram: the median time and the error over ``seeds`` runs (1 for quadrature)."""

    problem: str
    method: str
    device: str
    dtype: str
    N: int
    seeds: int
    time_median_s: float
    rel_error_median: float
    rel_error_min: float
    rel_error_max: float
    abs_error_median: float
    estimate_median: float
    exact: float

    @property
    def series(self) -> tuple[str, str, str]:
        return (self.method, self.device, self.dtype)


@dataclass(frozen=True)
class Reached:
    """The cheapest point from which a series stays below ``threshold``."""

    problem: str
    threshold: float
    row: Row | None

    def sentence(self) -> str:
        title = PROBLEMS[self.problem].title
        if self.row is None:
            return f"{title}: no method reaches {self.threshold:.0e} relative error within the sweep."
        r = self.row
        return (
            f"{title}: {r.method} ({r.device}, {r.dtype}) reaches {self.threshold:.0e} relative error first, "
            f"with N={r.N} at {_fmt_time(r.time_median_s)} per evaluation (error {r.rel_error_median:.1e})."
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", type=Path, help="folder for the table (.md, .csv) and plot (.png)")
    parser.add_argument("--quick", action="store_true", help="a small sweep and 3 seeds (a few seconds; for tests)")
    parser.add_argument("--seeds", type=int, default=None, help="Monte Carlo seeds per point (default 5, quick 3)")
    parser.add_argument(
        "--device", action="append", choices=["cpu", "cuda"], help="device to run on (repeatable; default: all present)"
    )
    parser.add_argument("--dtype", action="append", choices=sorted(DTYPES), help="dtype (repeatable; default: both)")
    parser.add_argument(
        "--problem", action="append", choices=sorted(PROBLEMS), help="problem (repeatable; default: all)"
    )
    parser.add_argument("--no-plot", action="store_true", help="write the tables only")


def _measure_call(fn: Callable[[], torch.Tensor], device: str, min_time: float) -> tuple[float, float]:
    """(seconds per call, value): one call, repeated until ``min_time`` has passed when it is shorter."""
    start = time.perf_counter()
    value = fn()
    synchronize(device)
    elapsed = time.perf_counter() - start
    if elapsed >= min_time:
        return elapsed, float(value)
    number = min(10_000, max(2, math.ceil(min_time / max(elapsed, 1e-9))))
    start = time.perf_counter()
    for _ in range(number):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / number, float(value)


def _measure_series(
    problem: Problem,
    method: str,
    device: str,
    dtype_name: str,
    sizes: Sequence[int],
    seeds: int,
    repeat: int,
    min_time: float,
) -> list[Row]:
    estimator, dtype = problem.estimators[method], DTYPES[dtype_name]
    estimator(sizes[0], dtype, device, 0)  # warm-up: first-call set-up
    synchronize(device)
    exact = problem.exact
    rows = []
    for N in sizes:
        times, values = [], []
        for seed in range(seeds if is_monte_carlo(method) else 1):
            for _ in range(1 if is_monte_carlo(method) else repeat):

                def call(n: int = N, s: int = seed) -> torch.Tensor:
                    return estimator(n, dtype, device, s)

                seconds, value = _measure_call(call, device, min_time)
                times.append(seconds)
            values.append(value)
        errors = [abs(v - exact) / abs(exact) for v in values]
        rows.append(
            Row(
                problem=problem.name,
                method=method,
                device=device,
                dtype=dtype_name,
                N=N,
                seeds=len(values),
                time_median_s=statistics.median(times),
                rel_error_median=statistics.median(errors),
                rel_error_min=min(errors),
                rel_error_max=max(errors),
                abs_error_median=statistics.median(abs(v - exact) for v in values),
                estimate_median=statistics.median(values),
                exact=exact,
            )
        )
    return rows


def measure(
    problems: Sequence[str],
    sweep: Sweep,
    *,
    devices: Sequence[str],
    dtypes: Sequence[str],
    seeds: int,
    repeat: int = 3,
    min_time: float = 1e-3,
    progress: Callable[[str], None] | None = None,
) -> list[Row]:
    """Every (problem, method, device, dtype, N) point of the diagram."""
    rows: list[Row] = []
    for name in problems:
        problem = PROBLEMS[name]
        for method in problem.methods:
            for device in devices:
                for dtype_name in dtypes:
                    if progress:
                        progress(f"{name} {method} {device} {dtype_name}")
                    rows += _measure_series(
                        problem, method, device, dtype_name, sweep.sizes(method), seeds, repeat, min_time
                    )
    return rows


def first_to_reach(rows: Sequence[Row], problem: str, threshold: float) -> Reached:
    """The cheapest point, over all series of ``problem``, from which the series' median relative error
    stays <= ``threshold`` for every larger N of the sweep."""
    series: dict[tuple[str, str, str], list[Row]] = {}
    for r in rows:
        if r.problem == problem:
            series.setdefault(r.series, []).append(r)
    candidates = []
    for points in series.values():
        points = sorted(points, key=lambda r: r.N)
        for i, r in enumerate(points):
            if all(p.rel_error_median <= threshold for p in points[i:]):
                candidates.append(r)
                break
    best = min(candidates, key=lambda r: r.time_median_s) if candidates else None
    return Reached(problem, threshold, best)


def _fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def _environment(devices: Sequence[str]) -> str:
    names = ["cpu"] + [f"cuda ({torch.cuda.get_device_name()})" for d in devices if d == "cuda"]
    return f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, devices: {', '.join(names)}"


def write_outputs(
    rows: Sequence[Row], directory: Path, *, devices: Sequence[str], plot: bool = True, elapsed: float | None = None
) -> tuple[list[Path], list[Reached]]:
    """Write the CSV and markdown tables (and the PNG when ``plot`` and matplotlib is present)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    csv_path = directory / "work_precision.csv"
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[f.name for f in fields(Row)])
        writer.writeheader()
        for r in rows:
            writer.writerow(asdict(r))
    written.append(csv_path)

    problems = list(dict.fromkeys(r.problem for r in rows))
    reached = [first_to_reach(rows, p, t) for p in problems for t in THRESHOLDS]
    lines = ["# Work-precision: error versus time for each estimator", ""]
    lines.append(f"{_environment(devices)}" + (f"; measured in {elapsed:.1f} s." if elapsed is not None else "."))
    lines += [
        "",
        "Time: median seconds per evaluation. Error: |estimate - exact| / |exact|; for Monte Carlo the median over",
        "seeds with the smallest and largest in brackets. *First to reach*: the cheapest point from which a",
        "method's error stays below the threshold for every larger N in the sweep.",
        "",
    ]
    for p in problems:
        problem = PROBLEMS[p]
        lines += [f"## {problem.title} (`{p}`), exact value {problem.exact!r}", ""]
        lines += [f"- {r.sentence()}" for r in reached if r.problem == p]
        lines += [
            "",
            "| method | device | dtype | N | median time | relative error | seeds |",
            "| --- | --- | --- | ---: | ---: | --- | ---: |",
        ]
        for r in rows:
            if r.problem != p:
                continue
            err = f"{r.rel_error_median:.2e}"
            if r.seeds > 1:
                err += f" [{r.rel_error_min:.1e}, {r.rel_error_max:.1e}]"
            lines.append(
                f"| {r.method} | {r.device} | {r.dtype} | {r.N} | {_fmt_time(r.time_median_s)} | {err} | {r.seeds} |"
            )
        lines.append("")
    md_path = directory / "work_precision.md"
    md_path.write_text("\n".join(lines))
    written.append(md_path)

    if plot:
        png = _plot(rows, problems, directory / "work_precision.png")
        if png is not None:
            written.append(png)
    return written, reached


def _plot(rows: Sequence[Row], problems: Sequence[str], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(INSTALL_HINT, file=sys.stderr)
        return None
    colors = {"trapezoid": "tab:blue", "gauss-legendre": "tab:green", "mc-plain": "tab:red", "mc-k3": "tab:purple"}
    styles = {"float64": "-", "float32": "--"}
    markers = {"cpu": "o", "cuda": "s"}
    ncols = 2 if len(problems) > 1 else 1
    nrows = math.ceil(len(problems) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.4 * ncols, 4.6 * nrows), squeeze=False)
    for ax, p in zip(axes.flat, problems, strict=False):
        series: dict[tuple[str, str, str], list[Row]] = {}
        for r in rows:
            if r.problem == p:
                series.setdefault(r.series, []).append(r)
        for (method, device, dtype), points in series.items():
            points = sorted(points, key=lambda r: r.N)
            t = [r.time_median_s for r in points]
            e = [max(r.rel_error_median, ERROR_FLOOR) for r in points]
            kw: dict[str, Any] = {
                "color": colors.get(method),
                "linestyle": styles.get(dtype, "-"),
                "marker": markers.get(device, "o"),
                "markersize": 4,
                "label": f"{method}, {device}, {dtype}",
            }
            if is_monte_carlo(method):
                lo = [max(ei - max(r.rel_error_min, ERROR_FLOOR), 0.0) for ei, r in zip(e, points, strict=True)]
                hi = [max(max(r.rel_error_max, ERROR_FLOOR) - ei, 0.0) for ei, r in zip(e, points, strict=True)]
                ax.errorbar(t, e, yerr=[lo, hi], capsize=2, **kw)
            else:
                ax.plot(t, e, **kw)
        for threshold in THRESHOLDS:
            ax.axhline(threshold, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("time per evaluation (s)")
        ax.set_ylabel("relative error")
        ax.set_title(PROBLEMS[p].title)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
    for ax in list(axes.flat)[len(problems) :]:
        ax.set_visible(False)
    fig.suptitle("Work-precision: quadrature vs Monte Carlo (MC: median over seeds, bars min-max)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run(args: argparse.Namespace) -> int:
    devices = args.device or available_devices()
    if "cuda" in devices and not torch.cuda.is_available():
        print("vicheck work-precision: no CUDA device is present", file=sys.stderr)
        return 2
    dtypes = args.dtype or ["float64", "float32"]
    problems = args.problem or list(PROBLEMS)
    sweep = SWEEPS["tiny" if args.quick else "full"]
    seeds = args.seeds or (3 if args.quick else 5)
    if seeds < 1:
        print("vicheck work-precision: --seeds must be >= 1", file=sys.stderr)
        return 2
    start = time.perf_counter()
    rows = measure(
        problems,
        sweep,
        devices=devices,
        dtypes=dtypes,
        seeds=seeds,
        repeat=1 if args.quick else 3,
        min_time=2e-4 if args.quick else 1e-3,
    )
    elapsed = time.perf_counter() - start
    written, reached = write_outputs(rows, args.directory, devices=devices, plot=not args.no_plot, elapsed=elapsed)
    for r in reached:
        print(r.sentence())
    for path in written:
        print(f"wrote {path}")
    return 0
