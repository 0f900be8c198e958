"""Resource control (vicheck/sandbox/resources.py) and the CPU clock (vicheck/sandbox/budget.py).

The cgroup v2 layout is checked on a fake hierarchy (files in tmp_path: what the grader writes where), since
this project's machines mount the v2 hierarchy without controllers; the kernel's behaviour (limits hit, kills
counted, CPU time, removal) is checked on whatever real level the machine has, cgroup v1 here, and skipped
saying why elsewhere. Every process a test starts is bounded: it allocates, forks or spins a fixed amount and
stops by itself, and lives in a group the test removes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from vicheck.implementation import CallTimeout, SubmissionCrashed
from vicheck.sandbox import resources
from vicheck.sandbox.budget import Deadline, TimeBudget
from vicheck.sandbox.isolated import IsolatedImplementation
from vicheck.sandbox.jail import probe
from vicheck.sandbox.limits import WALL_BACKSTOP, Limits

REAL = next((lv for lv in ("cgroup2", "cgroup1") if resources.probe_resources(lv)[0]), None)
needs_group = pytest.mark.skipif(
    REAL is None,
    reason="no control group can be made here: "
    + "; ".join(resources.probe_resources(lv)[1] for lv in ("cgroup2", "cgroup1")),
)


@pytest.fixture
def fake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fake cgroup2 hierarchy at tmp_path/cg (mountinfo and /proc/self/cgroup pointing at it)."""
    root = tmp_path / "cg"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    (root / "cgroup.procs").write_text("")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"30 22 0:26 / {root} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n")
    monkeypatch.setattr(resources, "MOUNTINFO", mountinfo)
    monkeypatch.setattr(resources, "CGROUP_FILE", tmp_path / "self-cgroup")
    resources._backend.cache_clear()
    resources._prepared.cache_clear()
    yield root
    resources._backend.cache_clear()
    resources._prepared.cache_clear()


def test_cgroup2_as_root_makes_groups_under_vicheck_with_the_limits(
    fake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert resources.probe_resources("cgroup2") == (True, f"groups under {fake_root / 'vicheck'}")
    assert resources.choose_resources("cgroup2", "cgroup") == "cgroup2"
    assert (fake_root / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert (fake_root / "vicheck" / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    group = resources.create_group("cgroup2", Limits(memory_mb=512, max_processes=40, cpu_weight=100))
    assert group is not None and group.level == "cgroup2"
    folder = fake_root / "vicheck" / group.name
    assert group.folders == [folder]
    assert (folder / "memory.max").read_text() == str(512 * 2**20)
    assert (folder / "pids.max").read_text() == "40"
    assert (folder / "cpu.weight").read_text() == "100"
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n")
    (folder / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n")
    assert group.new_oom_kills() == 2 and group.new_oom_kills() == 0
    assert group.cpu_seconds() == 1.5
    pid, started = group.name.split("-")[:2]
    assert int(pid) == os.getpid() and int(started) == resources._start_time(os.getpid())


def test_cgroup2_without_controllers_is_refused_with_the_reason(
    fake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    (fake_root / "cgroup.controllers").write_text("hugetlb\n")
    ok, why = resources.probe_resources("cgroup2")
    assert not ok and why == f"the cgroup2 hierarchy at {fake_root} lacks the memory, pids, cpu controller(s)"
    with pytest.raises(resources.ResourcesUnavailable, match=r"^resource level cgroup2 is not available here: the"):
        resources.choose_resources("cgroup2")


def test_cgroup2_delegated_moves_the_grader_into_a_leaf(fake_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unprivileged grader in a delegated scope: its processes go to <scope>/grader (cgroup v2 allows
    controllers for children only in a group without processes), its groups under <scope>/vicheck."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    (fake_root / "cgroup.subtree_control").chmod(0o444)  # the root's, not ours
    scope = fake_root / "user.slice" / "run-u7.scope"
    scope.mkdir(parents=True)
    (scope / "cgroup.controllers").write_text("cpu memory pids\n")
    (scope / "cgroup.subtree_control").write_text("")
    (scope / "cgroup.procs").write_text("4242\n")
    resources.CGROUP_FILE.write_text("0::/user.slice/run-u7.scope\n")
    monkeypatch.setattr(os, "access", lambda p, mode: not str(p).startswith(str(fake_root / "cgroup.")))
    assert resources.probe_resources("cgroup2") == (True, f"groups under {scope / 'vicheck'} (delegated)")
    assert resources.choose_resources() == "cgroup2"
    assert (scope / "grader" / "cgroup.procs").read_text() == "4242"
    assert (scope / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    group = resources.create_group("cgroup2", Limits())
    assert group is not None and group.folders == [scope / "vicheck" / group.name]


def test_an_undelegated_cgroup2_says_how_to_get_one(fake_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    resources.CGROUP_FILE.write_text("0::/user.slice\n")
    (fake_root / "user.slice").mkdir()
    monkeypatch.setattr(os, "access", lambda p, mode: False)
    ok, why = resources.probe_resources("cgroup2")
    assert not ok and "systemd-run --user --scope -p Delegate=yes" in why


def test_a_rubric_requiring_a_group_stops_where_there_is_none(fake_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(os, "access", lambda p, mode: False)
    monkeypatch.setattr(resources, "MOUNTINFO", fake_root / "absent")
    assert resources.choose_resources("auto", "rlimits") == "rlimits"
    with pytest.raises(resources.ResourcesUnavailable) as info:
        resources.choose_resources("auto", "cgroup")
    assert str(info.value).startswith(
        "the rubric requires resource control by cgroup or stronger, and this grader has rlimits ("
    )
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------------------ the CPU clock


class _Clock:
    """A CPU clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_deadline_on_a_cpu_clock_ends_when_the_clock_reaches_the_limit() -> None:
    clock = _Clock()
    deadline = Deadline(1.0, clock, backstop=1000.0)
    assert 0 < deadline.left() <= 1.0
    clock.now = 0.4
    deadline._sure_until = 0.0  # as if the wall clock had moved on: read the CPU clock
    assert deadline.left() > 0 and deadline.used() == pytest.approx(0.4)
    clock.now = 1.0
    deadline._sure_until = 0.0
    assert deadline.left() <= 0
    assert not deadline.on_wall_clock()


def test_a_deadline_never_waits_past_what_the_cpu_clock_can_reach() -> None:
    """With N CPUs a group's CPU time grows at most N x as fast as the wall clock: no wait it asks for lets
    the clock pass the limit unseen (by more than the polling step)."""
    from vicheck.sandbox import budget

    clock = _Clock()
    deadline = Deadline(2.0, clock, backstop=1000.0)
    deadline._sure_until = 0.0
    wait = deadline.left()
    assert wait == pytest.approx(2.0 / budget.CPUS)


def test_a_deadline_stops_on_the_wall_clock_when_the_cpu_clock_stands_still() -> None:
    clock = _Clock()
    deadline = Deadline(0.05, clock, backstop=2.0)
    while (left := deadline.left()) > 0:
        time.sleep(left)
    assert deadline.on_wall_clock() and deadline.wall() >= 0.1 and deadline.used() == 0.0


def test_callbacks_are_excluded_from_both_clocks() -> None:
    clock = _Clock()
    deadline = Deadline(1.0, clock, backstop=2.0)
    clock.now = 0.7
    deadline.exclude(5.0, 0.5)  # 5 s of the grader's, 0.5 s of the child's on a nested call's account
    assert deadline.used() == pytest.approx(0.2) and deadline.wall() < 0


def test_the_total_budget_on_a_cpu_clock_is_bounded_in_wall_clock_time_too() -> None:
    """Calls that sleep cost no CPU: the submission's total still ends after the backstop x its limit."""
    budget = TimeBudget(Limits(submission_seconds=10), clock=_Clock())
    budget.charge(1.0, wall=2.0)
    assert budget.left == pytest.approx(9.0)  # the clock decides
    budget.charge(0.5, wall=15.0)  # 1.5 s of CPU in 17 s
    assert budget.left == pytest.approx((10 * WALL_BACKSTOP - 17.0) / WALL_BACKSTOP)
    assert TimeBudget(Limits(submission_seconds=10)).left == 10  # on the wall clock: as before


# ------------------------------------------------------------------------------------------ a real group


@pytest.fixture
def real_level() -> str:
    assert REAL is not None
    assert resources.choose_resources(REAL) == REAL
    return REAL


def _in_group(group: resources.Group, code: str) -> subprocess.CompletedProcess[str]:
    fds = group.open_procs()
    try:
        return subprocess.run(
            [sys.executable, "-I", "-c", code],
            preexec_fn=lambda: resources.join(fds),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        for fd in fds:
            os.close(fd)


@needs_group
def test_the_memory_limit_bounds_the_submission_as_a_whole(real_level: str) -> None:
    """Three processes of 100 MB each under a 200 MB group limit: the kernel kills within the group (each
    process alone is well under any rlimit), and the kill is counted."""
    group = resources.create_group(real_level, Limits(memory_mb=200))
    assert group is not None
    try:
        code = (
            "import os, time\n"
            "kids = []\n"
            "for _ in range(3):\n"
            "    pid = os.fork()\n"
            "    if pid == 0:\n"
            "        block = bytearray(100 * 2**20)\n"
            "        block[::4096] = b'x' * len(block[::4096])\n"
            "        time.sleep(3)\n"
            "        os._exit(0)\n"
            "    kids.append(pid)\n"
            "print(sorted(os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in kids))\n"
        )
        done = _in_group(group, code)
        assert done.returncode == 0, done.stderr
        codes = eval(done.stdout)  # three exit codes
        assert -9 in codes, codes
        assert group.new_oom_kills() >= 1
    finally:
        group.close()
    assert not any(folder.exists() for folder in group.folders)


@needs_group
def test_the_process_limit_counts_every_process_of_the_group(real_level: str) -> None:
    group = resources.create_group(real_level, Limits(max_processes=5))
    assert group is not None
    try:
        code = (
            "import os, time\n"
            "made = 0\n"
            "for _ in range(20):\n"  # bounded: at most 20 attempts, each child sleeps 2 s and exits
            "    try:\n"
            "        pid = os.fork()\n"
            "    except OSError:\n"
            "        continue\n"
            "    if pid == 0:\n"
            "        time.sleep(2)\n"
            "        os._exit(0)\n"
            "    made += 1\n"
            "print(made)\n"
        )
        done = _in_group(group, code)
        assert done.returncode == 0, done.stderr
        assert int(done.stdout) == 4  # the interpreter itself is the fifth
    finally:
        group.close()


@needs_group
def test_cpu_time_counts_every_process_and_close_kills_what_is_left(real_level: str) -> None:
    group = resources.create_group(real_level, Limits())
    assert group is not None
    try:
        before = group.cpu_seconds()
        code = (
            "import os, time\n"
            "if os.fork() == 0:\n"  # a daemon that outlives the parent, by at most 120 s
            "    os.setsid()\n"
            "    null = os.open(os.devnull, os.O_RDWR)\n"  # not holding the test's pipes
            "    os.dup2(null, 1)\n"
            "    os.dup2(null, 2)\n"
            "    time.sleep(120)\n"
            "    os._exit(0)\n"
            "end = time.process_time() + 0.3\n"
            "while time.process_time() < end:\n"
            "    pass\n"
        )
        done = _in_group(group, code)
        assert done.returncode == 0, done.stderr
        assert group.cpu_seconds() - before >= 0.3
        assert len({p for f in group.folders for p in group._backend.procs(f)}) == 1  # the daemon
    finally:
        group.close()
    assert not any(folder.exists() for folder in group.folders)


@needs_group
def test_leftover_groups_of_a_dead_grader_are_removed(real_level: str) -> None:
    gone = subprocess.run(["true"], check=True)
    del gone
    dead = subprocess.Popen(["true"])
    dead.wait()
    backend, _ = resources._backend(real_level)
    assert backend is not None
    name = f"{dead.pid}-1-1"  # the maker's pid and a start time that no living process has
    for folder in backend.folders(name):
        folder.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        for folder in backend.folders(name):
            (folder / "cgroup.procs").write_text(str(sleeper.pid))
        mine = resources.create_group(real_level, Limits())
        assert mine is not None
        try:
            assert name in resources.sweep_leftovers(real_level)
            assert sleeper.wait(timeout=10) == -9
            assert not any(folder.exists() for folder in backend.folders(name))
            assert all(folder.exists() for folder in mine.folders)  # a living grader's group stays
        finally:
            mine.close()
    finally:
        sleeper.kill()
        sleeper.wait()


# ------------------------------------------------------------------------------------------ a submission

SUBMISSION = """
import os, time
import torch

def sigmoid(x):
    return 1 / (1 + torch.exp(-x))

def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "spun"

def sleep(seconds):
    time.sleep(seconds)
    return "slept"

def helpers_hold_memory(count, mb):
    kids = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            block = bytearray(mb * 2**20)
            block[::4096] = b"x" * len(block[::4096])
            time.sleep(2)
            os._exit(0)
        kids.append(pid)
    return sorted(os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in kids)

def fill_folder(mb):
    for k in range(mb // 32):  # files of 32 MB: under the file-size limit
        with open(f"filler-{k}", "wb") as f:
            for _ in range(32):
                f.write(b"x" * 2**20)
    return "filled"
"""


@pytest.fixture
def submission(tmp_path: Path) -> Path:
    path = tmp_path / "fair.py"
    path.write_text(SUBMISSION)
    return path


def _isolation() -> str:
    return "namespaces" if probe("namespaces")[0] else "process"


@needs_group
def test_a_call_is_timed_on_cpu_and_a_sleeping_call_on_the_wall_clock_backstop(
    real_level: str, submission: Path
) -> None:
    limits = Limits(call_seconds=1, load_seconds=120, submission_seconds=300)
    with IsolatedImplementation(submission, limits=limits, isolation=_isolation(), resources=real_level) as impl:
        assert impl.invoke("sleep", 2.0) == "slept"  # 2 s of wall-clock time, almost no CPU: under 1 s
        start = time.monotonic()
        with pytest.raises(CallTimeout):
            impl.invoke("spin", 30.0)
        assert time.monotonic() - start < 1 + 5  # stopped near 1 s of CPU (the child's restart included)
        start = time.monotonic()
        with pytest.raises(CallTimeout):
            impl.invoke("sleep", 60.0)
        took = time.monotonic() - start
        assert WALL_BACKSTOP * 1 <= took < WALL_BACKSTOP * 1 + 5, took
        assert any("sleep" in e and "timed out" in e for e in impl.events())


@needs_group
def test_memory_held_by_its_helpers_is_reported_and_the_submission_runs_on(real_level: str, submission: Path) -> None:
    """Four helper processes of 400 MB beside the child's own ~300 MB under a 1500 MB limit (each within its
    own address-space limit): the kernel kills one, the call returns, and the report says what happened."""
    limits = Limits(memory_mb=1500, load_seconds=120)
    with IsolatedImplementation(submission, limits=limits, isolation=_isolation(), resources=real_level) as impl:
        codes = impl.invoke("helpers_hold_memory", 4, 400)
        assert -9 in codes, codes
        assert impl.invoke("sigmoid", torch.zeros(1)).tolist() == [0.5]
        assert (
            "out of memory: the submission and its processes used more than 1500 MB: "
            "the kernel killed one of its processes" in impl.events()
        )


@needs_group
@pytest.mark.skipif(not probe("namespaces")[0], reason="the scratch folder is a tmpfs (memory) under namespaces only")
def test_a_child_killed_for_memory_is_reported_as_out_of_memory(real_level: str, submission: Path) -> None:
    """The scratch folder's tmpfs is memory of the group: filling it past the memory limit kills the child,
    and the report says out of memory, not an unexplained SIGKILL."""
    limits = Limits(memory_mb=1000, disk_mb=3000, load_seconds=120)
    with IsolatedImplementation(submission, limits=limits, isolation="namespaces", resources=real_level) as impl:
        with pytest.raises(SubmissionCrashed) as info:
            impl.invoke("fill_folder", 2500)
        assert str(info.value).endswith("out of memory: the submission and its processes used more than 1000 MB")
        assert impl.invoke("sigmoid", torch.zeros(1)).tolist() == [0.5]  # a new child, in the same group
