"""Grading throughput: a class of 40 and the worst-case submissions, graded by ``vicheck grade``, with one
or more checkouts of vicheck side by side in one run (so that the figures are ratios on one machine).

Usage::

    python benchmarks/grading_throughput.py class [--checkout DIR ...] [--jobs 2]
    python benchmarks/grading_throughput.py worst [--checkout DIR ...] [--case STEM ...]

``--checkout`` names a source tree of vicheck (a ``git worktree`` of an older commit, say) to run instead
of this one; give it several times to compare them (``.`` is this tree). Each run is ``python -m vicheck
grade`` with ``PYTHONPATH`` set to the checkout, and its wall time and CPU time (the grader and every
process it waited for) are printed. ``class`` also checks that every checkout gave the same reports
(scores, verdicts, messages and counterexamples) and the same files (apart from timings, dates and what the
older checkout did not write), and says where they differ.

The class is the lecture's own code, the six correct alternatives and the first 31 wrong submissions of
``tests/submissions/`` (alphabetically), and two notebooks (the lecture's, ``tests/data/lecture_4.ipynb``,
and ``vicheck/examples/notebook_student.ipynb``): 40 in all. The worst cases are
``benchmarks/submissions/`` (a submission that fails every property, an infinite loop in
``kl_divergence_2``, a hang at import), each graded alone beside the lecture's code graded alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CLASS_SIZE = 40


def build_class(folder: Path) -> list[Path]:
    """The class of 40 in ``folder`` (one file per student; copies, so that names are unique)."""
    subs = ROOT / "tests" / "submissions"
    chosen = [subs / "lecture_4_functions.py", ROOT / "tests/data/lecture_4.ipynb"]
    chosen.append(ROOT / "vicheck/examples/notebook_student.ipynb")
    chosen += sorted((subs / "correct").glob("*.py"))
    chosen += sorted((subs / "wrong").glob("*.py"))[: CLASS_SIZE - len(chosen)]
    folder.mkdir(parents=True, exist_ok=True)
    for path in chosen:
        shutil.copy(path, folder / path.name)
    assert len(list(folder.iterdir())) == CLASS_SIZE
    return chosen


def _machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (user, nice, system, irq) since boot (Linux)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def grade(checkout: Path, paths: list[Path], out: Path, jobs: int, extra: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of the grader and the processes it waited for, CPU seconds the whole
    machine was busy) of one ``vicheck grade`` run of ``checkout``. The last counts jailed children whose
    time no ancestor collects; it is the grading's own only on an otherwise idle machine."""
    # a fixed date (the class page's, the reports'), so that two checkouts' files can be compared byte for byte
    env = dict(os.environ, PYTHONPATH=str(checkout), SOURCE_DATE_EPOCH="1700000000")
    cmd = [sys.executable, "-m", "vicheck", "grade", *map(str, paths), "--out", str(out), "--jobs", str(jobs)]
    cmd += ["--quiet", "--force", *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = _machine_busy()
    start = time.perf_counter()
    # from a folder outside every tree: `python -m` puts the working folder first on sys.path, ahead of
    # PYTHONPATH, and run from a checkout's root would mix that tree's vicheck with the other's suite
    subprocess.run(cmd, env=env, check=False, stdout=subprocess.DEVNULL, cwd=out.parent)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, _machine_busy() - busy


def verdicts(out: Path) -> dict[str, list[tuple[str, str, bool, str, str]]]:
    """What must not change: each student's properties (name, status, passed, message, counterexample)."""
    found = {}
    for report in sorted(out.glob("*.json")):
        if report.name.endswith(".gradescope.json"):
            continue
        data = json.loads(report.read_text())
        found[report.stem] = [
            (p["name"], p["status"], p["passed"], p["message"], p["counterexample"]) for p in data["properties"]
        ] + [("score", str(data["score"]), True, "; ".join(data["errors"]), "")]
    return found


#: what differs between two runs of one class by nature: timings, dates, the output folder's own path
_VOLATILE_KEYS = frozenset({"seconds", "graded_at", "execution_time"})
_JUNIT_VOLATILE = re.compile(r'\s(time|timestamp|hostname)="[^"]*"|<properties>.*?</properties>|0x[0-9a-f]+')


def _normal(value: object, keep: object) -> object:
    """``value`` without the volatile keys, and without the keys ``keep`` (the older file) lacks."""
    if isinstance(value, dict) and isinstance(keep, dict):
        return {k: _normal(v, keep[k]) for k, v in value.items() if k in keep and k not in _VOLATILE_KEYS}
    if isinstance(value, list) and isinstance(keep, list) and len(value) == len(keep):
        return [_normal(v, k) for v, k in zip(value, keep, strict=True)]
    return value


def file_differences(old: Path, new: Path, trees: tuple[Path, Path] | None = None) -> list[str]:
    """Every file of two output folders of one class compared: new files are listed as such; a file the older
    run wrote must be the same in the newer one, apart from timings, dates, the folders' own paths and (in
    JSON) fields the older run did not write. The logs (command lines, timings) are not compared; in pytest's
    JUnit XML, Hypothesis' statistics (timings) and object addresses are left out, and the checkouts' own paths
    (``trees``) read alike."""
    found: list[str] = []
    names_old = {p.name for p in old.iterdir() if p.is_file()}
    names_new = {p.name for p in new.iterdir() if p.is_file()}
    found += [f"only in {new.name}: {n}" for n in sorted(names_new - names_old)]
    found += [f"missing from {new.name}: {n}" for n in sorted(names_old - names_new)]
    for name in sorted(names_old & names_new):
        if name.endswith(".log"):
            continue
        a = (old / name).read_text(encoding="utf-8").replace(str(old), "OUT").replace(old.name, "OUT")
        b = (new / name).read_text(encoding="utf-8").replace(str(new), "OUT").replace(new.name, "OUT")
        if trees is not None:
            a, b = a.replace(str(trees[0]), "TREE"), b.replace(str(trees[1]), "TREE")
        if name.endswith(".json"):
            ja, jb = json.loads(a), json.loads(b)
            same = _normal(ja, ja) == _normal(jb, ja)
        elif name.endswith(".xml"):
            same = _JUNIT_VOLATILE.sub("", a) == _JUNIT_VOLATILE.sub("", b)
        else:
            same = a == b
        if not same:
            found.append(f"differs: {name}")
    return found


def differences(
    a: dict[str, list[tuple[str, str, bool, str, str]]], b: dict[str, list[tuple[str, str, bool, str, str]]]
) -> list[str]:
    lines = []
    for name in sorted(set(a) | set(b)):
        if a.get(name) != b.get(name):
            ra, rb = dict((r[0], r[1:]) for r in a.get(name, [])), dict((r[0], r[1:]) for r in b.get(name, []))
            for prop in sorted(set(ra) | set(rb)):
                if ra.get(prop) != rb.get(prop):
                    lines.append(f"{name} / {prop}:\n    {ra.get(prop)}\n    {rb.get(prop)}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["class", "worst"])
    parser.add_argument("--checkout", action="append", type=Path, help="vicheck source tree (default: this one)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the reports under this folder")
    parser.add_argument("--case", action="append", help="worst: grade only these (file stems)")
    args, extra = parser.parse_known_args()  # the rest goes to vicheck grade
    checkouts = [c.resolve() for c in (args.checkout or [ROOT])]
    work = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="vicheck-throughput-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} cores; python {sys.version.split()[0]}; work folder {work}")
    if args.what == "class":
        klass = work / "class"
        build_class(klass)
        results = {}
        for i, checkout in enumerate(checkouts):
            out = work / f"out-{i}"
            wall, cpu, machine = grade(checkout, [klass], out, args.jobs, extra)
            results[checkout] = verdicts(out)
            print(
                f"class of {CLASS_SIZE}, --jobs {args.jobs}, {checkout}: wall {wall:.1f} s, "
                f"CPU {cpu:.1f} s (machine busy {machine:.1f} s)"
            )
        first = results[checkouts[0]]
        for checkout in checkouts[1:]:
            diff = differences(first, results[checkout])
            print(f"reports of {checkout} vs {checkouts[0]}: " + ("identical" if not diff else f"{len(diff)} differ"))
            for line in diff:
                print("  " + line)
            other = work / f"out-{checkouts.index(checkout)}"
            files = file_differences(work / "out-0", other, (checkouts[0], checkout))
            changed = [f for f in files if not f.startswith("only in")]
            verdict = "identical" if not changed else f"{len(changed)} differ"
            print(f"files of {checkout} vs {checkouts[0]}: {verdict}")
            for line in files:
                print("  " + line)
    else:
        cases = [ROOT / "tests/submissions/lecture_4_functions.py", *sorted((HERE / "submissions").glob("*.py"))]
        cases = [c for c in cases if not args.case or c.stem in args.case]
        for i, checkout in enumerate(checkouts):
            for case in cases:
                out = work / f"worst-{i}-{case.stem}"
                wall, cpu, machine = grade(checkout, [case], out, 1, extra)
                report = json.loads((out / f"{case.stem}.json").read_text())
                failed = sum(not p["passed"] for p in report["properties"])
                print(
                    f"{case.stem:24s} {checkout}: wall {wall:6.1f} s, CPU {cpu:6.1f} s "
                    f"(machine busy {machine:6.1f} s), "
                    f"{failed}/{len(report['properties'])} failed"
                )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
