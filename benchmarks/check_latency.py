"""How long a student waits for a self-check, on the lecture's code (``tests/submissions/lecture_4_functions.py``).

    python benchmarks/check_latency.py [--function kl_divergence_1] [--repeat 3]

Prints, side by side (median of ``--repeat`` runs, min and max):

* ``vicheck.check("<function>")`` in a running Jupyter kernel (ipykernel, driven by nbclient) that has
  imported vicheck and run a check before (the warm runner is up): goal 3 s;
* ``vicheck.check()``, every visible property, in the same kernel: goal 15 s;
* ``vicheck check FILE`` from a shell, a cold process each time: goal 20 s, with the oracle cache this machine
  has (the usual case: every check after a student's first), and with an empty one (the very first check);

and, for the record, the kernel's first call (it starts the warm runner: the fork server imports and collects
the suite, its zygote imports torch in the jail) and the split of that first call. Not a test: timings depend
on the machine; ``--json PATH`` keeps the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LECTURE = ROOT / "tests" / "submissions" / "lecture_4_functions.py"

KERNEL_CELLS = [
    "import json, time\nt0 = time.perf_counter()\nimport vicheck\nprint('IMPORT', time.perf_counter() - t0)",
    # the first call: starts the warm runner (timed apart), then checks
    "from vicheck.check.run import settings_for\nfrom vicheck.check.session import session_for\n"
    "t0 = time.perf_counter()\nsession_for(settings_for())\nwarm = time.perf_counter() - t0\n"
    "t0 = time.perf_counter()\nvicheck.check({function!r}, show=False)\n"
    "print('FIRST', json.dumps({{'warm_up': warm, 'check': time.perf_counter() - t0}}))",
    "one = []\nfor _ in range({repeat}):\n    t0 = time.perf_counter()\n    r = vicheck.check({function!r})\n"
    "    one.append(time.perf_counter() - t0)\nprint('ONE', json.dumps(one), len(r.report.properties))",
    "every = []\nfor _ in range({repeat}):\n    t0 = time.perf_counter()\n    r = vicheck.check()\n"
    "    every.append(time.perf_counter() - t0)\nprint('ALL', json.dumps(every), len(r.report.properties))",
]


def _kernel(function: str, repeat: int) -> dict[str, Any]:
    import nbformat
    from nbclient import NotebookClient

    cells = [nbformat.v4.new_code_cell(LECTURE.read_text(encoding="utf-8"))]
    cells += [nbformat.v4.new_code_cell(c.format(function=function, repeat=repeat)) for c in KERNEL_CELLS]
    nb = nbformat.v4.new_notebook(cells=cells)
    NotebookClient(nb, timeout=900, startup_timeout=120, kernel_name="python3").execute()
    found: dict[str, Any] = {}
    for cell in nb.cells:
        for out in cell.outputs:
            for line in out.get("text", "").splitlines() if out.output_type == "stream" else []:
                key, _, value = line.partition(" ")
                if key in ("ONE", "ALL"):
                    times, _, count = value.rpartition(" ")
                    found[key], found[key + "_n"] = json.loads(times), int(count)
                elif key in ("IMPORT", "FIRST"):
                    found[key] = json.loads(value)
    return found


def _cold(repeat: int, cache: Path, function: str | None = None) -> list[float]:
    times = []
    env = {**os.environ, "VICHECK_CACHE_DIR": str(cache)}
    for _ in range(repeat):
        cmd = [sys.executable, "-m", "vicheck", "check", str(LECTURE)] + (["-f", function] if function else [])
        start = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=tempfile.gettempdir())
        times.append(time.perf_counter() - start)
        if run.returncode not in (0, 1):
            raise SystemExit(f"vicheck check failed ({run.returncode}): {run.stderr[-2000:]}")
    return times


def _row(name: str, times: list[float], goal: float | None) -> str:
    med = statistics.median(times)
    verdict = "" if goal is None else ("  ok" if med <= goal else "  OVER")
    goal_text = f"{goal:>6.0f} s" if goal is not None else " " * 8
    return f"{name:<62} {med:>7.2f} s  [{min(times):.2f} .. {max(times):.2f}]  goal {goal_text}{verdict}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--function", default="kl_divergence_1", help="the one function checked (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vicheck-bench-") as tmp:
        cache = Path(tmp) / "cache"
        empty = [_cold(1, Path(tmp) / f"empty-{i}")[0] for i in range(args.repeat)]  # a new empty cache each time
        os.environ["VICHECK_CACHE_DIR"] = str(cache)
        kernel = _kernel(args.function, args.repeat)  # also fills the cache the cold runs below read
        cold = _cold(args.repeat, cache)
    print(f"vicheck self-check latency on {LECTURE.name}, {os.cpu_count()} cores (median of {args.repeat})")
    print(f"{'':<62} {'median':>9}  {'[min .. max]':<16}")
    one = f'kernel: vicheck.check("{args.function}") ({kernel["ONE_n"]} properties)'
    print(_row(one, kernel["ONE"], 3))
    print(_row(f"kernel: vicheck.check() (all {kernel['ALL_n']} visible)", kernel["ALL"], 15))
    print(_row("shell:  vicheck check FILE, cold (cache of earlier checks)", cold, 20))
    print(_row("shell:  vicheck check FILE, cold (empty oracle cache)", empty, 20))
    first = kernel["FIRST"]
    print(
        f"kernel: import vicheck {1000 * kernel['IMPORT']:.1f} ms; "
        f"first call {first['warm_up'] + first['check']:.2f} s "
        f"(warm runner {first['warm_up']:.2f} s, then the check {first['check']:.2f} s)"
    )
    if args.json is not None:
        figures = {"kernel": kernel, "cold": cold, "cold_empty_cache": empty, "cores": os.cpu_count()}
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
