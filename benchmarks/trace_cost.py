"""What tracing the submission's calls costs (the diagnosis' call graph): ``vicheck grade`` of one submission
with tracing on and off (``VICHECK_TRACE=0``), alternately, side by side.

    python benchmarks/trace_cost.py [--submission tests/submissions/lecture_4_functions.py] [--repeat 5]

Each run is a fresh ``vicheck grade --force --jobs 1 --profile grade --formats md -q`` (isolation auto), timed
from outside; the two settings alternate so that a drift of the machine's load hits both alike. Prints the
median, min and max of each and the median's relative cost (goal: at most 5 %). Not a test: timings depend on
the machine; ``--json PATH`` keeps the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def grade_once(submission: Path, out: Path, trace: bool) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system, of every process it waited for) of one grading."""
    env = {**os.environ, "VICHECK_TRACE": "1" if trace else "0", "PYTHONHASHSEED": "0"}
    cmd = [sys.executable, "-m", "vicheck", "grade", str(submission), "--out", str(out), "--force", "--jobs", "1"]
    cmd += ["--profile", "grade", "--formats", "md", "-q"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"vicheck grade failed ({proc.returncode}): {proc.stderr[-2000:]}")
    report = json.loads((out / f"{submission.stem}.json").read_text())
    traced = any(p.get("reached") for p in report["properties"])
    if traced != trace:
        raise RuntimeError(f"tracing was {'on' if traced else 'off'}, expected {'on' if trace else 'off'}")
    return seconds, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", type=Path, default=ROOT / "tests" / "submissions" / "lecture_4_functions.py")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {"off": [], "on": []}
    cpus: dict[str, list[float]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        grade_once(args.submission, Path(tmp) / "warmup", True)  # caches, page cache, bytecode
        for i in range(args.repeat):
            for setting in ("off", "on") if i % 2 == 0 else ("on", "off"):
                wall, cpu = grade_once(args.submission, Path(tmp) / setting, setting == "on")
                times[setting].append(wall)
                cpus[setting].append(cpu)
                print(f"  run {i + 1} tracing {setting}: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
    result: dict[str, float] = {}
    for label, figures in (("wall", times), ("CPU", cpus)):
        med = {k: statistics.median(v) for k, v in figures.items()}
        for k in ("off", "on"):
            spread = f"min {min(figures[k]):.2f}, max {max(figures[k]):.2f}, n={len(figures[k])}"
            print(f"{label:4} tracing {k:3}: median {med[k]:.2f} s ({spread})")
        result[label] = (med["on"] - med["off"]) / med["off"]
        print(f"{label:4} cost of tracing: {100 * result[label]:+.1f} % of the median (goal <= 5 %)")
    if args.json is not None:
        args.json.write_text(json.dumps({"wall": times, "cpu": cpus, "relative_cost": result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
