"""Fair shares: a submission that takes more than its share of memory, disk or CPU, graded by ``vicheck grade``
beside an honest classmate, costs the classmate nothing and the machine no more than the limits allow.

Each hostile fixture (``fair_*.py`` beside this file) is the lecture's ``sigmoid`` and ``sigmoid_prime`` (the
``twin`` of ``test_attacks.py``) plus one attack at import, bounded by itself even where the limit under test
fails:

======================  ==============================================  ======================================
fixture                 attack (and its own bound)                      asserted
======================  ==============================================  ======================================
``fair_memory_forks``   6 forked children holding 768 MB each (6 at     the twin's verdicts; with a group, the
                        most per load, each gone after 60 s)            machine's MemAvailable never dropped by
                                                                        more than memory_mb + MEMORY_MARGIN_MB
                                                                        and the report names the kill
``fair_disk_filler``    files of 32 MB in its own folder until a write  the twin's verdicts (in a jail a tmpfs
                        fails (1 GB at most per load)                   of disk_mb fails the write; under
                                                                        ``process`` the folder is emptied after
                                                                        the load); free disk never dropped by
                                                                        more than disk_mb (jail) or one load's
                                                                        1 GB (``process``) + DISK_MARGIN_MB
``fair_cpu_hog``        40 spinning processes, each in a session of     the twin's verdicts, its own and its
                        its own, through its 40 s load (gone after      classmate's, and see the load test
                        120 s or with their parent)
======================  ==============================================  ======================================

The load test grades a class of two honest students (``fair_steady.py``: the twin whose first call costs 1 s
of CPU time, a sixth of the default call limit) with ``--jobs 2`` on this machine's cores, alone and then
while a second class (the hog and the twin) is graded with ``--jobs 2`` at the same time: every property's
name, verdict, status, message and counterexample must be the same. That is promised only with a control
group: time limits count the group's CPU time (on the wall clock 1 s of CPU beside 40 spinners on 2 cores
takes about 20 s), and equal CPU weights give each submission its share whatever it spawns (the kernel's
per-session autogroups, where enabled, would share it by session, which each spinner escapes by ``setsid``).

The measurements are the machine's own (MemAvailable, free disk): another heavy job on the machine during a
run counts against the margins below.

Every test runs under each resource level this machine can make (``cgroup2``, ``cgroup1``, ``rlimits``),
skipped saying why where it cannot, or where what it asserts is promised only by a group. The classes are
graded with the default profile (derandomized: the same examples on every run), so that reports of two runs
can be compared property by property.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.test_attacks import CORE
from tests.processes import named
from vicheck.sandbox.jail import probe
from vicheck.sandbox.limits import RESOURCE_LEVELS, Limits
from vicheck.sandbox.resources import probe_resources

HERE = Path(__file__).parent
LIMITS = Limits()
#: the defaults, written out: the bounds below are read from them
RUBRIC = f"""[limits]
memory_mb = {LIMITS.memory_mb}
disk_mb = {LIMITS.disk_mb}
"""
#: the grader's own processes while it grades a class of two honest students: the warm worker (torch, the
#: suite and its oracle cache), its zygote, two forked pytest runs and their children. Measured on this
#: project's 2-core machine (the MemAvailable drop while grading the twin twice, ``--jobs 2``): 942 MB under
#: cgroup1, 956 MB under rlimits; the margin adds about 60 % for another machine's allocator and page cache.
#: With the memory fixture the drop was 2404 MB under cgroup1 (bound 3584 MB); without a group, 4580 MB.
MEMORY_MARGIN_MB = 1536
#: the grader's own writes (reports, logs, the submissions' copies): 1 to 2 MB measured
DISK_MARGIN_MB = 64
#: what the disk filler writes per load at most (its own cap): where nothing stops it, one load's worth
FILLER_CAP_MB = 1024
#: the disk filler's class: under ``process`` a load over disk_mb once stopped the child, and every call then
#: loaded it (and wrote) again until the total was spent; a short total ends such a run soon
DISK_RUBRIC = RUBRIC + "load_seconds = 20\nsubmission_seconds = 20\n"
SPINNERS = 40
#: the load test's rubric: the hog loads for 40 s while its spinners burn up to a core each, all of it counted
#: in its group's CPU time: its load limit (and total) leave room for that on any number of cores
_CORES = os.cpu_count() or 1
LOAD_RUBRIC = RUBRIC + f"load_seconds = {max(200, 60 * _CORES)}\nsubmission_seconds = {max(400, 60 * _CORES + 200)}\n"
#: the hog's spinners' name (PR_SET_NAME, 15 characters at most), this run's own: another run of this file at
#: the same time has its own spinners
HOG = f"vchk-hog{os.getpid() % 10**7:07d}"


# ------------------------------------------------------------------------------------------ helpers


def _level(level: str) -> str:
    ok, why = probe_resources(level)
    if not ok:
        pytest.skip(f"resource level {level} is not available on this machine: {why}")
    return level


def _mem_available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no MemAvailable in /proc/meminfo")


def _free_disk(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class Sampler:
    """Samples the machine's available memory and the free disk of ``paths`` every 0.1 s from a thread, and
    whatever ``extra`` returns, while the ``with`` block runs: the largest drop of each from its value
    before."""

    def __init__(self, paths: list[Path], extra: Callable[[], Any] | None = None) -> None:
        self.paths = paths
        self.extra = extra
        self.memory_before = _mem_available()
        self.disk_before = {p: _free_disk(p) for p in paths}
        self.memory_low = self.memory_before
        self.disk_low = dict(self.disk_before)
        #: (monotonic time, what ``extra`` returned)
        self.samples: list[tuple[float, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        self.memory_low = min(self.memory_low, _mem_available())
        for p in self.paths:
            self.disk_low[p] = min(self.disk_low[p], _free_disk(p))
        if self.extra is not None:
            self.samples.append((time.monotonic(), self.extra()))

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self._sample()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def memory_drop_mb(self) -> float:
        return (self.memory_before - self.memory_low) / 2**20

    def disk_drop_mb(self) -> dict[str, float]:
        return {str(p): (self.disk_before[p] - self.disk_low[p]) / 2**20 for p in self.paths}


def _class(arena: Path, files: dict[str, str], rubric: str) -> tuple[Path, Path]:
    """A class folder holding ``files`` (name -> text) and its rubric, readable as test_attacks' are."""
    klass = arena / "class"
    klass.mkdir(parents=True)
    for name, text in files.items():
        (klass / name).write_text(text)
    (arena / "rubric.toml").write_text(rubric)
    for path in [arena, klass, *klass.iterdir(), arena / "rubric.toml"]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return klass, arena / "rubric.toml"


def _command(arena: Path, resources: str, isolation: str = "auto") -> list[str]:
    cmd = [sys.executable, "-m", "vicheck", "grade", str(arena / "class"), "--out", str(arena / "grades")]
    cmd += ["--rubric", str(arena / "rubric.toml"), "--resources", resources, "--isolation", isolation]
    return [*cmd, "--jobs", "2", "--quiet"]


def _env(arena: Path) -> dict[str, str]:
    """The grader's temporary folders (its runs' folders, the submissions' scratch folders) in the arena."""
    tmp = arena / "tmp"
    tmp.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp)}


def _run(cmd: list[str], arena: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, env=_env(arena))


def _reports(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in out.glob("*.json") if not p.name.endswith(".gradescope.json")}


def _verdicts(report: dict) -> dict[str, tuple[object, ...]]:
    """What a report says of each property, without its seconds and the run's provenance."""
    return {p["name"]: (p["passed"], p["status"], p["message"], p["counterexample"]) for p in report["properties"]}


def _differences(got: dict, expected: dict) -> list[tuple[str, object, object]]:
    a, b = _verdicts(got), _verdicts(expected)
    return [(n, a.get(n), b.get(n)) for n in sorted(set(a) | set(b)) if a.get(n) != b.get(n)]


def _check_ran(rc: int, stderr: str, reports: dict[str, dict], names: set[str], level: str) -> None:
    assert rc == 0, stderr
    assert set(reports) == names
    for name, report in reports.items():
        assert report["resources"] == level, name
        assert report["complete"] and not any("grader failed" in e for e in report["errors"]), (name, report["errors"])


def _twin_passes(report: dict) -> None:
    passed = {p["name"]: p["passed"] for p in report["properties"]}
    assert passed["sigmoid_matches_logistic"] and passed["sigmoid_prime_matches_derivative"]


@dataclass
class Graded:
    level: str
    isolation: str
    rc: int
    stderr: str
    reports: dict[str, dict]
    sampler: Sampler
    arena: Path
    extra: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ memory


@pytest.fixture(scope="module", params=RESOURCE_LEVELS)
def memory_graded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Graded]:
    level = _level(request.param)
    arena = tmp_path_factory.mktemp(f"fair-memory-{level}")
    _class(arena, {"twin.py": CORE, "memory_forks.py": (HERE / "fair_memory_forks.py").read_text()}, RUBRIC)
    with Sampler([arena]) as sampler:
        proc = _run(_command(arena, level), arena)
    yield Graded(level, "auto", proc.returncode, proc.stderr, _reports(arena / "grades"), sampler, arena)


def test_the_memory_forks_get_exactly_the_twins_verdicts(memory_graded: Graded) -> None:
    g = memory_graded
    _check_ran(g.rc, g.stderr, g.reports, {"twin", "memory_forks"}, g.level)
    _twin_passes(g.reports["twin"])
    assert _differences(g.reports["memory_forks"], g.reports["twin"]) == []
    assert g.reports["memory_forks"]["score"] == g.reports["twin"]["score"]


def test_the_machines_memory_never_dropped_past_the_limit(memory_graded: Graded) -> None:
    g = memory_graded
    if g.level == "rlimits":
        pytest.skip(
            "under rlimits each process has its own memory limit: 6 x 768 MB is allowed by design (the fixture's "
            "own count and lifetime bound it)"
        )
    bound = LIMITS.memory_mb + MEMORY_MARGIN_MB
    assert g.sampler.memory_drop_mb <= bound, (
        f"MemAvailable dropped by {g.sampler.memory_drop_mb:.0f} MB, more than memory_mb {LIMITS.memory_mb} + "
        f"{MEMORY_MARGIN_MB} MB for the grader"
    )


def test_the_report_names_the_kill_where_a_group_made_it(memory_graded: Graded) -> None:
    g = memory_graded
    killed = [e for e in g.reports["memory_forks"]["errors"] if e.startswith("out of memory")]
    if g.level == "rlimits":
        assert killed == []  # every child held its 768 MB within its own limit
    else:  # the fixture waits at import until each child has its memory or is dead: the load's check sees it
        assert killed, g.reports["memory_forks"]["errors"]
        assert f"used more than {LIMITS.memory_mb} MB" in killed[0]
    assert not any(e.startswith("out of memory") for e in g.reports["twin"]["errors"])


# ------------------------------------------------------------------------------------------ disk

DISK_CASES = [pytest.param(("namespaces", level), id=f"namespaces-{level}") for level in RESOURCE_LEVELS]
DISK_CASES.append(pytest.param(("process", None), id="process-strongest"))  # the strongest level here


@pytest.fixture(scope="module", params=DISK_CASES)
def disk_graded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Graded]:
    isolation, level = request.param
    available, why = probe(isolation)
    if not available:
        pytest.skip(f"isolation level {isolation} is not available on this machine: {why}")
    level = _level(level) if level else next(lv for lv in RESOURCE_LEVELS if probe_resources(lv)[0])
    arena = tmp_path_factory.mktemp(f"fair-disk-{isolation}-{level}")
    _class(arena, {"twin.py": CORE, "disk_filler.py": (HERE / "fair_disk_filler.py").read_text()}, DISK_RUBRIC)
    with Sampler([arena, Path("/tmp")]) as sampler:
        proc = _run(_command(arena, level, isolation), arena)
    leftovers = [str(p.relative_to(arena)) for p in arena.rglob("fill-*.bin")]
    yield Graded(
        level, isolation, proc.returncode, proc.stderr, _reports(arena / "grades"), sampler, arena, {"left": leftovers}
    )


def test_the_twin_beside_the_disk_filler_is_unaffected(disk_graded: Graded) -> None:
    g = disk_graded
    _check_ran(g.rc, g.stderr, g.reports, {"twin", "disk_filler"}, g.level)
    _twin_passes(g.reports["twin"])
    assert g.reports["twin"]["errors"] == []


def test_free_disk_never_dropped_past_what_the_level_allows(disk_graded: Graded) -> None:
    g = disk_graded
    # in a jail the folder is a tmpfs of disk_mb (in memory: the host's disk is untouched); under process the
    # grader measures the folder after each load and call, so one load may write its all: the fixture's cap
    allowed = LIMITS.disk_mb if g.isolation != "process" else FILLER_CAP_MB
    for path, drop in g.sampler.disk_drop_mb().items():
        assert drop <= allowed + DISK_MARGIN_MB, f"free disk of {path} dropped by {drop:.0f} MB"
    assert g.extra["left"] == []  # no folder the filler wrote into is left behind


def test_the_disk_filler_gets_exactly_the_twins_verdicts(disk_graded: Graded) -> None:
    g = disk_graded
    assert _differences(g.reports["disk_filler"], g.reports["twin"]) == []
    assert g.reports["disk_filler"]["score"] == g.reports["twin"]["score"]


def test_what_the_report_says_of_the_disk_filler(disk_graded: Graded) -> None:
    g = disk_graded
    errors = g.reports["disk_filler"]["errors"]
    if g.isolation == "process":  # no tmpfs: the grader measured the folder after the load, emptied it, ran on
        assert errors == [f"wrote more than {LIMITS.disk_mb} MB into its folder while loading; its folder emptied"]
    else:  # its write failed with ENOSPC in the jail's tmpfs: nothing to stop, nothing to report
        assert errors == []


# ------------------------------------------------------------------------------------------ load


def _hog_count() -> int:
    return len(named(HOG))


@pytest.fixture(scope="module", params=RESOURCE_LEVELS)
def load_graded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Graded]:
    level = request.param
    if level == "rlimits":
        pytest.skip(
            "promised only with a group: under rlimits time limits count wall-clock time and a submission's 40 "
            "spinners take 40 shares of the machine, so an honest call near its limit may time out under load"
        )
    level = _level(level)
    steady = (HERE / "fair_steady.py").read_text()
    alone, loaded, beside = (tmp_path_factory.mktemp(f"fair-load-{level}-{n}") for n in ("alone", "loaded", "beside"))
    for arena in (alone, loaded):
        _class(arena, {"steady_1.py": steady, "steady_2.py": steady}, LOAD_RUBRIC)
    _class(
        beside,
        {"twin.py": CORE, "cpu_hog.py": (HERE / "fair_cpu_hog.py").read_text().replace("vchk-fair-hog", HOG)},
        LOAD_RUBRIC,
    )
    first = _run(_command(alone, level), alone)
    assert first.returncode == 0, first.stderr
    reports_alone = _reports(alone / "grades")

    started: dict[str, float] = {}

    def seen() -> tuple[int, int]:  # (spinners alive, reports of the loaded class written so far)
        return _hog_count(), len(list((loaded / "grades").glob("steady_*.json")))

    with Sampler([loaded], extra=seen) as sampler:
        # the second class first; the honest class once the hog's 40 spinners run: they go on for the 40 s the
        # hog takes to load, about three times what the honest class takes, warm worker included
        hog_class = subprocess.Popen(
            _command(beside, level),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
            env=_env(beside),
        )
        deadline = time.monotonic() + 300
        while _hog_count() < SPINNERS and hog_class.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        started["loaded"] = time.monotonic()
        honest = _run(_command(loaded, level), loaded)
        started["loaded_end"] = time.monotonic()
        _, hog_err = hog_class.communicate(timeout=600)
    extra = {
        "alone": reports_alone,
        "hog_rc": hog_class.returncode,
        "hog_stderr": hog_err,
        "hog_reports": _reports(beside / "grades"),
        "survivors": named(HOG),
        **started,
    }
    yield Graded(level, "auto", honest.returncode, honest.stderr, _reports(loaded / "grades"), sampler, loaded, extra)
    for pid in named(HOG):  # only if a group failed: they stop by themselves anyway
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def test_the_honest_class_gets_the_same_reports_under_load_as_alone(load_graded: Graded) -> None:
    g = load_graded
    alone = g.extra["alone"]
    _check_ran(0, "", alone, {"steady_1", "steady_2"}, g.level)
    _check_ran(g.rc, g.stderr, g.reports, {"steady_1", "steady_2"}, g.level)
    _twin_passes(alone["steady_1"])
    for name in ("steady_1", "steady_2"):
        assert _differences(g.reports[name], alone[name]) == [], name
        assert g.reports[name]["score"] == alone[name]["score"]
        assert g.reports[name]["errors"] == alone[name]["errors"] == [], name


def test_the_hog_and_its_classmate_get_the_honest_verdicts(load_graded: Graded) -> None:
    """The hog's 40 spinners burn its own group's CPU share, and its time limits count them: each of its calls
    is charged about 41 times the call's own CPU time (the spinners run meanwhile at the same weight). The
    lecture's calls take milliseconds, so that fits the 6 s limit, and the design gives it the twin's
    verdicts; a call of more than about call_seconds / 41 of CPU time would time out, as designed."""
    g = load_graded
    hog = g.extra["hog_reports"]
    _check_ran(g.extra["hog_rc"], g.extra["hog_stderr"], hog, {"twin", "cpu_hog"}, g.level)
    honest = g.extra["alone"]["steady_1"]
    assert _differences(hog["twin"], honest) == []  # the same functions: the same verdicts, messages, examples
    assert _differences(hog["cpu_hog"], honest) == []
    assert hog["cpu_hog"]["score"] == hog["twin"]["score"]


def test_the_honest_class_was_graded_beside_the_hog(load_graded: Graded) -> None:
    g = load_graded
    start, end = g.extra["loaded"], g.extra["loaded_end"]
    during = [sample[0] for t, sample in g.sampler.samples if start <= t <= end]
    assert len(during) > 10, "the honest class was not sampled while it was graded"
    # all of it, warm worker and every submission, beside the hog at full strength
    assert min(during) >= SPINNERS, (
        f"the hog's spinners were not all at work while the honest class was graded: {during}"
    )


def test_no_spinner_outlives_its_grading(load_graded: Graded) -> None:
    assert load_graded.extra["survivors"] == []
