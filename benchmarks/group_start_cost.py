"""What a control group adds to a child's start: ``python benchmarks/group_start_cost.py`` (as root, where a
cgroup level is available; run it on an otherwise idle machine).

A bare interpreter (``python -S -c pass``) is started and waited for 40 times with and 40 times without a
group, alternating which goes first; the group's creation and removal are timed apart. Goal (issue 17): the
group adds at most 20 ms to a child's start.
"""

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from vicheck.sandbox import resources
from vicheck.sandbox.limits import Limits

level = resources.choose_resources()
if level == "rlimits":
    sys.exit("no control group can be made here: " + resources.probe_resources("cgroup1")[1])


def _joiner(fds: list[int]) -> Callable[[], None]:
    return lambda: resources.join(fds)


with_g: list[float] = []
without: list[float] = []
make: list[float] = []
for i in range(40):  # alternating the order: neither kind always runs on a warmer cache
    for grouped in (True, False) if i % 2 else (False, True):
        t = time.perf_counter()
        g = resources.create_group(level, Limits()) if grouped else None
        t1 = time.perf_counter()
        fds = g.open_procs() if g else []
        p = subprocess.Popen([sys.executable, "-S", "-c", "pass"], preexec_fn=_joiner(fds) if g else None)
        for fd in fds:
            os.close(fd)
        p.wait()
        t2 = time.perf_counter()
        if g:
            g.close()
            make.append((t1 - t) * 1e3 + (time.perf_counter() - t2) * 1e3)
            with_g.append((t2 - t1) * 1e3)
        else:
            without.append((t2 - t1) * 1e3)
print(
    f"level {level}: start+exit of `python -S -c pass` median {statistics.median(without):.1f} ms without a group, "
    f"{statistics.median(with_g):.1f} ms in one (+{statistics.median(with_g) - statistics.median(without):.1f} ms); "
    f"group create+remove median {statistics.median(make):.1f} ms"
)
