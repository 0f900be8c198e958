"""Children forked from a zygote (vicheck/sandbox/zygote.py, _zygote.py): each sees only its own scratch
folder (a tmpfs of the disk limit) and its own PID namespace in /proc, as a fresh child does, has no
capabilities and cannot get back what hides the others, takes every process it started with it, is in its
submission's control group from its first instruction when the grader places it, and a zygote that dies
leaves the grader starting children afresh.

tests/sandbox/test_sandbox.py runs all of its tests with both kinds of child; this module checks what is particular
to the zygote. The submissions here are the test's own, bounded in time (at most 60 s for a process left
behind, which the test kills if the jail fails), and write only below their scratch folder or where the jail
must refuse them.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.processes import ended, named
from tests.zygotes import forked_child, installed_zygote
from vicheck.implementation import SubmissionCrashed
from vicheck.sandbox import IsolatedImplementation, zygote
from vicheck.sandbox.jail import probe
from vicheck.sandbox.limits import Limits

pytestmark = pytest.mark.skipif(not probe("namespaces")[0], reason="the zygote needs the namespaces level (bwrap)")

LIMITS = Limits(call_seconds=10, load_seconds=120, submission_seconds=300)
LEFT_BEHIND = "vchk-zyg-left"  # the comm of the process a submission leaves behind

PROBE = f'''
import ctypes, errno, os, subprocess, sys

import torch

MARK = "hostile-was-here"


def sigmoid(x):
    return 1 / (1 + torch.exp(-x))


def looks():
    return {{
        "jobs": sorted(os.listdir("/jobs")),
        "proc": sorted(int(n) for n in os.listdir("/proc") if n.isdigit()),
        "listing": sorted(os.listdir("/submission")),
        "shm": sorted(os.listdir("/dev/shm")),
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "argv_fds": [int(a) for a in sys.argv[1:3]],
    }}


def writes():
    found = {{}}
    for folder in ("/dev", "/dev/shm", "/jobs", "/", "/submission", "/grader", "/usr"):
        try:
            with open(os.path.join(folder, MARK), "w") as f:
                f.write("x")
            found[folder] = "written"
        except OSError as exc:
            found[folder] = errno.errorcode.get(exc.errno, str(exc.errno))
    return found


def capabilities():
    """capget: effective, permitted and inheritable sets, as six 32-bit words."""
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    ctypes.CDLL(None, use_errno=True).capget(header, data)
    return list(data)


def mounts_tmpfs():
    libc = ctypes.CDLL(None, use_errno=True)
    os.makedirs("/submission/m", exist_ok=True)
    if libc.mount(b"tmpfs", b"/submission/m", b"tmpfs", 0, None) == 0:
        return "mounted"
    return errno.errorcode.get(ctypes.get_errno(), "?")


def unhides(path="/jobs"):
    """New user and mount namespaces of its own (every capability there): try to unmount what is mounted
    on ``path`` (what hides /jobs; the namespace's /proc over the zygote's; the cover of /proc/sys)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if libc.unshare(0x10000000 | 0x00020000) != 0:  # CLONE_NEWUSER | CLONE_NEWNS
                code = 10
            elif libc.umount2(path.encode(), 2) != 0:  # MNT_DETACH
                code = 20
            else:
                code = 30 if os.listdir(path) else 31
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return {{10: "unshare refused", 20: "umount refused", 30: "REVEALED", 31: "unmounted, nothing shown"}}.get(
        os.waitstatus_to_exitcode(status), "error"
    )


def machine():
    """What the submission's numbers may depend on besides its code."""
    import numpy

    grid = torch.linspace(0, 1, 1001, dtype=torch.float32)
    return {{
        "capability": torch.backends.cpu.get_cpu_capability(),
        "cpus": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "threads": [torch.get_num_threads(), torch.get_num_interop_threads()],
        "torch_sum": float(grid.exp().sum()),
        "numpy_sum": float(numpy.exp(grid.numpy()).sum()),
        "seeded": torch.randn(3, generator=torch.Generator().manual_seed(1)).tolist(),
        "default_generator": torch.initial_seed(),
    }}


def in_own_namespaces(action, path):
    """In new user, mount and PID namespaces of its own (every capability there), as their first process:
    ``remount`` ``path`` writable, or mount a ``proc`` of its own on ``path``; the errno, or "done"."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        answer = "error"
        try:
            os.close(read)
            if libc.unshare(0x10000000 | 0x00020000 | 0x20000000) != 0:  # CLONE_NEWUSER | NEWNS | NEWPID
                answer = "unshare refused"
            else:
                inner = os.fork()
                if inner == 0:
                    if action == "remount":  # MS_REMOUNT | MS_BIND, without MS_RDONLY
                        done = libc.mount(None, path.encode(), None, 32 | 4096, None)
                    else:  # nosuid, nodev, noexec: as restrictive as the /proc it sees
                        done = libc.mount(b"proc", path.encode(), b"proc", 2 | 4 | 8, None)
                    error = errno.errorcode.get(ctypes.get_errno(), "?")
                    os.write(write, b"done" if done == 0 else error.encode())
                    os._exit(0)
                os.waitpid(inner, 0)
                answer = ""
        finally:
            if answer:
                os.write(write, answer.encode())
            os._exit(0)
    os.close(write)
    got = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    return got


def procs():
    """What /proc shows: the namespace's processes, this process's status, and whether the kernel's
    settings can be opened for writing (opened only, never written)."""
    keys = (
        "Name", "State", "PPid", "Uid", "Gid", "Groups", "NStgid", "NSpid", "NSpgid", "NSsid",
        "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp",
    )
    with open("/proc/self/status") as f:
        status = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
    refused = {{}}
    for path in ("/proc/sys/kernel/hostname", "/proc/sysrq-trigger"):
        try:
            os.close(os.open(path, os.O_WRONLY))
            refused[path] = "opened"
        except OSError as exc:
            refused[path] = errno.errorcode.get(exc.errno, str(exc.errno))
    return {{
        "pids": sorted(int(n) for n in os.listdir("/proc") if n.isdigit()),
        "self": os.readlink("/proc/self"),
        "status": {{k: status.get(k, "").strip() for k in keys}},
        "session": [os.getsid(0), os.getpgid(0)],
        "cgroup": open("/proc/self/cgroup").read(),
        "refused": refused,
    }}


def fill_submission(megabytes):
    """Write ``megabytes`` into the submission's folder: how many whole MiB were written, and the error."""
    block = bytes(1 << 20)
    written = 0
    try:
        with open("/submission/fill", "wb") as f:
            for _ in range(megabytes):
                f.write(block)
                f.flush()
                written += 1
    except OSError as exc:
        return written, errno.errorcode.get(exc.errno, "?")
    return written, ""


def fill_shared_memory(megabytes, count):
    """``count`` files of ``megabytes`` each in /dev/shm (each under the file-size limit): how many fit."""
    block = bytes(1 << 20)
    for i in range(count):
        try:
            with open(f"/dev/shm/fill-{{i}}", "wb") as f:
                for _ in range(megabytes):
                    f.write(block)
        except OSError as exc:
            return i, errno.errorcode.get(exc.errno, "?")
    return count, ""


def leave_process():
    code = "import ctypes, time; ctypes.CDLL(None).prctl(15, b'{LEFT_BEHIND}', 0, 0, 0); time.sleep(60)"
    subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    return True
'''


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zygote.Zygote]:
    with installed_zygote(tmp_path_factory.mktemp("zygote")) as started:
        yield started


@pytest.fixture
def submission(tmp_path: Path) -> Path:
    path = tmp_path / "probe.py"
    path.write_text(PROBE)
    return path


@pytest.fixture
def scratch() -> Path:
    """A scratch folder in the zygote's jobs folder, as the grader makes one: the submission and ``tmp``."""
    folder = Path(tempfile.mkdtemp(prefix="vicheck-scratch-"))
    (folder / "probe.py").write_text(PROBE)
    (folder / "tmp").mkdir()
    return folder


@pytest.fixture
def group() -> Iterator[Path]:
    """A control group of its own (the pids hierarchy, v1 or v2), removed afterwards; skipped where none
    can be made (not root)."""
    folder = None
    for base in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
        if (base / "cgroup.procs").is_file() and os.access(base, os.W_OK):
            candidate = base / f"vicheck-test-zygote-{os.getpid()}"
            try:
                candidate.mkdir()
            except OSError:
                continue
            folder = candidate
            break
    if folder is None:
        pytest.skip("no control group can be made here")
    try:
        yield folder
    finally:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left = (folder / "cgroup.procs").read_text().split()
            if not left:
                break
            for pid in left:  # only if the test failed: the keeper, init and child it placed there
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.05)
        folder.rmdir()


def spawning_with(monkeypatch: pytest.MonkeyPatch, *, config: dict[str, Any], **extra: Any) -> None:
    """Make IsolatedImplementation's zygote.spawn calls carry ``config`` changes and ``extra`` arguments."""
    spawn = zygote.spawn

    def changed(*args: Any, **kwargs: Any) -> zygote.ForkedChild:
        kwargs.update(extra, config={**kwargs["config"], **config})
        return spawn(*args, **kwargs)

    monkeypatch.setattr(zygote, "spawn", changed)


@pytest.fixture
def no_leftovers() -> Iterator[None]:
    yield
    for pid in named(LEFT_BEHIND):  # only if the jail failed; such a process ends by itself within 60 s anyway
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def test_the_child_is_forked_from_the_zygote_and_sees_only_its_own_folder(
    installed: zygote.Zygote, submission: Path
) -> None:
    with IsolatedImplementation(submission, limits=LIMITS, isolation="namespaces") as impl:
        assert isinstance(impl._child and impl._child.jailed, zygote.ForkedChild)
        seen = impl.invoke("looks")
        assert seen["jobs"] == []  # no other submission
        assert seen["proc"] == [1, 2]  # no process of anyone's: the namespace's init and itself
        assert seen["listing"] == ["probe.py", "tmp"] and seen["cwd"] == "/submission"
        assert seen["shm"] == [] and seen["pid"] == 2  # under the namespace's init, as under bwrap's
        assert impl.invoke("sigmoid", torch.zeros(2)).tolist() == [0.5, 0.5]


def test_the_child_writes_only_in_its_folder_and_its_own_shared_memory(
    installed: zygote.Zygote, submission: Path, tmp_path: Path
) -> None:
    with IsolatedImplementation(submission, limits=LIMITS, isolation="namespaces") as impl:
        wrote = impl.invoke("writes")
        assert impl.invoke("looks")["listing"] == ["hostile-was-here", "probe.py", "tmp"]
        assert not (impl.scratch / "hostile-was-here").exists()  # its folder is a tmpfs: the host's disk untouched
    assert wrote["/submission"] == "written" and wrote["/dev/shm"] == "written"
    refused = {k: v for k, v in wrote.items() if k not in ("/submission", "/dev/shm")}
    assert set(refused.values()) <= {"EROFS", "EACCES", "EPERM"}, refused
    assert not (installed.jobs / "hostile-was-here").exists()
    # the next child gets a /dev/shm of its own: the first one's file is not there
    with IsolatedImplementation(submission, limits=LIMITS, isolation="namespaces") as impl:
        assert impl.invoke("looks")["shm"] == []


def test_shared_memory_is_bounded_by_the_file_size_limit(installed: zygote.Zygote, submission: Path) -> None:
    """/dev/shm is memory the address-space limit does not count: its tmpfs holds at most one file's worth."""
    with IsolatedImplementation(submission, limits=LIMITS, isolation="namespaces") as impl:
        assert LIMITS.file_mb == 64
        assert tuple(impl.invoke("fill_shared_memory", 30, 3)) == (2, "ENOSPC")


def test_the_child_has_no_capabilities_and_cannot_unhide_the_jobs_folder(
    installed: zygote.Zygote, submission: Path
) -> None:
    with IsolatedImplementation(submission, limits=LIMITS, isolation="namespaces") as impl:
        assert impl.invoke("capabilities") == [0] * 6
        assert impl.invoke("mounts_tmpfs") == "EPERM"
        for path in ("/jobs", "/proc", "/proc/sys"):
            assert impl.invoke("unhides", path) in ("unshare refused", "umount refused"), path
        # the covers of the kernel's settings stay read-only, and no /proc without them can be had
        assert impl.invoke("in_own_namespaces", "remount", "/proc/sys") in ("unshare refused", "EPERM")
        assert impl.invoke("in_own_namespaces", "proc", "/submission/tmp") in ("unshare refused", "EPERM")


def test_the_child_sees_its_own_pid_namespace_in_proc_as_a_fresh_one(
    installed: zygote.Zygote, submission: Path
) -> None:
    """/proc is the child's PID namespace's, with the kernel's settings read-only: what it reads there
    (its status, the processes) is what a fresh child reads."""
    with IsolatedImplementation(submission, limits=LIMITS, isolation="namespaces") as impl:
        assert isinstance(impl._child and impl._child.jailed, zygote.ForkedChild)
        forked = impl.invoke("procs")
    zygote.install(None)
    try:
        with IsolatedImplementation(submission, limits=LIMITS, isolation="namespaces") as impl:
            assert not isinstance(impl._child and impl._child.jailed, zygote.ForkedChild)
            fresh = impl.invoke("procs")
    finally:
        zygote.install(installed.address)
    assert forked["pids"] == [1, 2] and forked["self"] == "2" and forked["session"] == [1, 1]
    status = forked["status"]
    assert status["Uid"].split() == ["65534"] * 4 and status["NSpid"] == "2" and status["PPid"] == "1"
    assert status["CapEff"] == status["CapPrm"] == status["CapBnd"] == "0" * 16 and status["NoNewPrivs"] == "1"
    refused = forked.pop("refused")  # (a kernel without the magic SysRq key has no sysrq-trigger)
    assert refused["/proc/sys/kernel/hostname"] == "EROFS" and refused["/proc/sysrq-trigger"] in ("EROFS", "ENOENT")
    fresh.pop("refused")  # see the next test
    assert forked == fresh


def test_a_fresh_child_cannot_open_the_kernels_settings_for_writing(installed: zygote.Zygote, submission: Path) -> None:
    """What a forked child is refused (EROFS), a fresh one must be refused too. Opened only, never written."""
    zygote.install(None)
    try:
        with IsolatedImplementation(submission, limits=LIMITS, isolation="namespaces") as impl:
            assert not isinstance(impl._child and impl._child.jailed, zygote.ForkedChild)
            refused = impl.invoke("procs")["refused"]
    finally:
        zygote.install(installed.address)
    assert refused["/proc/sys/kernel/hostname"] == "EROFS"


def test_the_submission_folder_is_a_tmpfs_of_the_disk_limit(installed: zygote.Zygote, submission: Path) -> None:
    """A write past the disk limit fails inside the submission (ENOSPC); the host's disk gets nothing."""
    limits = Limits(call_seconds=10, load_seconds=120, submission_seconds=300, disk_mb=4)
    with IsolatedImplementation(submission, limits=limits, isolation="namespaces") as impl:
        assert isinstance(impl._child and impl._child.jailed, zygote.ForkedChild)
        written, error = impl.invoke("fill_submission", 8)
        assert error == "ENOSPC" and 2 <= written < 4  # the submission's copy takes a little of the 4 MiB
        assert impl.invoke("sigmoid", torch.zeros(1)).tolist() == [0.5]  # the child goes on
        assert not (impl.scratch / "fill").exists()


def test_without_a_disk_limit_the_scratch_folder_is_bound(
    installed: zygote.Zygote, submission: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``disk_bytes`` absent or None: /submission is the scratch folder itself, as before."""
    spawning_with(monkeypatch, config={"disk_bytes": None})
    with IsolatedImplementation(submission, limits=LIMITS, isolation="namespaces") as impl:
        assert isinstance(impl._child and impl._child.jailed, zygote.ForkedChild)
        assert impl.invoke("writes")["/submission"] == "written"
        assert (impl.scratch / "hostile-was-here").exists()


def test_a_link_in_the_scratch_folder_is_not_copied(installed: zygote.Zygote, scratch: Path, tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("the grader's")
    (scratch / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(zygote.ZygoteUnavailable, match="neither a regular file nor a folder") as caught:
        with forked_child(scratch, limits=LIMITS, disk_bytes=1 << 20):
            pass
    assert caught.value.sent


def test_the_keeper_is_placed_before_it_starts_init_and_the_child(
    installed: zygote.Zygote, scratch: Path, group: Path
) -> None:
    """place() gets the keeper's pid as the grader sees it, before the keeper makes init; init and the
    child, forked afterwards, are in the keeper's group with it."""
    placed: list[int] = []

    def place(pid: int) -> None:
        placed.append(pid)
        (group / "cgroup.procs").write_text(str(pid))

    with forked_child(scratch, limits=LIMITS, place=place) as child:
        assert child.proc.poll() is None
        members = {int(p) for p in (group / "cgroup.procs").read_text().split()}
        nspids = {}
        for pid in members:
            status = Path(f"/proc/{pid}/status").read_text()
            nspids[pid] = next(ln.split()[1:] for ln in status.splitlines() if ln.startswith("NSpid:"))
    assert len(placed) == 1 and placed[0] in members and len(members) == 3
    assert nspids[placed[0]][0] == str(placed[0]) and len(nspids[placed[0]]) == 2  # in the zygote's namespace
    # the others are the first and the second process of a PID namespace of their own
    assert sorted(ns[-1] for pid, ns in nspids.items() if pid != placed[0]) == ["1", "2"]
    deadline = time.monotonic() + 10
    while (group / "cgroup.procs").read_text().split() and time.monotonic() < deadline:
        time.sleep(0.02)  # the keeper ends just after it has reported
    assert (group / "cgroup.procs").read_text().split() == []


@pytest.mark.usefixtures("no_leftovers")
def test_a_placed_child_and_what_it_starts_stay_in_the_group(
    installed: zygote.Zygote, submission: Path, group: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A submission placed by the grader: it and the process it leaves behind are in the group, and it sees
    its group as the root of its cgroup namespace (as a fresh child placed before it starts)."""
    spawning_with(monkeypatch, config={}, place=lambda pid: (group / "cgroup.procs").write_text(str(pid)))
    with IsolatedImplementation(submission, limits=LIMITS, isolation="namespaces") as impl:
        assert isinstance(impl._child and impl._child.jailed, zygote.ForkedChild)
        seen = impl.invoke("procs")
        assert impl.invoke("leave_process") is True
        deadline = time.monotonic() + 10
        while not named(LEFT_BEHIND) and time.monotonic() < deadline:
            time.sleep(0.05)
        members = {int(p) for p in (group / "cgroup.procs").read_text().split()}
        assert named(LEFT_BEHIND) and set(named(LEFT_BEHIND)) <= members and len(members) == 4
    assert all(line.endswith(":/") for line in seen["cgroup"].splitlines()), seen["cgroup"]


def test_a_child_that_cannot_be_placed_is_not_started(installed: zygote.Zygote, scratch: Path) -> None:
    """place() raises: the keeper ends before it makes anything, spawn says why (sent: the descriptors were
    handed over), and the zygote forks the next child as before."""
    placed: list[int] = []

    def place(pid: int) -> None:
        placed.append(pid)
        raise PermissionError("no such group")

    with pytest.raises(zygote.ZygoteUnavailable, match="could not be placed: PermissionError") as caught:
        with forked_child(scratch, limits=LIMITS, place=place):
            pass
    assert caught.value.sent and len(placed) == 1
    # ended (a zombie: the zygote reaps it within a second)
    assert ended(placed[0], 10), "the keeper that could not be placed did not end"
    with forked_child(scratch, limits=LIMITS, place=lambda pid: None) as child:
        assert child.proc.poll() is None


def test_a_forked_child_computes_as_a_fresh_one(installed: zygote.Zygote, submission: Path) -> None:
    """Same instruction set, threads and random streams: the same float32 results, bit for bit."""
    with IsolatedImplementation(submission, limits=LIMITS, isolation="namespaces") as impl:
        assert isinstance(impl._child and impl._child.jailed, zygote.ForkedChild)
        forked = impl.invoke("machine")
    zygote.install(None)
    try:
        with IsolatedImplementation(submission, limits=LIMITS, isolation="namespaces") as impl:
            assert not isinstance(impl._child and impl._child.jailed, zygote.ForkedChild)
            fresh = impl.invoke("machine")
    finally:
        zygote.install(installed.address)
    assert forked == fresh


def test_the_childs_descriptors_are_the_ones_it_is_told(installed: zygote.Zygote, submission: Path) -> None:
    """A fresh child learns its pipes from argv; so does a forked one (tests/hostile/protocol_forgery.py
    writes on the descriptor it reads there)."""
    with IsolatedImplementation(submission, limits=LIMITS, isolation="namespaces") as impl:
        fd_in, fd_out = impl.invoke("looks")["argv_fds"]
        assert fd_in != fd_out and min(fd_in, fd_out) >= 3


@pytest.mark.usefixtures("no_leftovers")
def test_every_process_the_child_started_dies_with_it(installed: zygote.Zygote, submission: Path) -> None:
    impl = IsolatedImplementation(submission, limits=LIMITS, isolation="namespaces")
    try:
        assert impl.invoke("leave_process") is True
        deadline = time.monotonic() + 10
        while not named(LEFT_BEHIND) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert named(LEFT_BEHIND), "the submission's process did not start"
    finally:
        impl.close()
    assert named(LEFT_BEHIND) == []  # gone when close() returns: the keeper waits for the namespace to empty


def test_a_dead_zygote_leaves_the_grader_starting_children_afresh(tmp_path: Path, submission: Path) -> None:
    with installed_zygote(tmp_path / "own") as started:
        impl = IsolatedImplementation(submission, limits=LIMITS, isolation="namespaces")
        try:
            assert isinstance(impl._child and impl._child.jailed, zygote.ForkedChild)
            assert impl.invoke("sigmoid", torch.zeros(1)).tolist() == [0.5]
            started.close()  # kills the zygote's namespace: the child with it
            with pytest.raises(SubmissionCrashed):
                impl.invoke("sigmoid", torch.zeros(1))
            # the next child cannot be forked: it is started afresh, and the zygote is not asked again
            assert impl.invoke("sigmoid", torch.zeros(1)).tolist() == [0.5]
            assert not isinstance(impl._child and impl._child.jailed, zygote.ForkedChild)
            assert zygote.installed() is None
        finally:
            impl.close()


def test_a_warm_workers_zygote_has_the_rubrics_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The warm worker builds the zygote's jail with the limits of the rubric its runs name, not defaults."""
    from vicheck.grading.run import warm

    rubric = tmp_path / "rubric.toml"
    rubric.write_text("[limits]\nmemory_mb = 777\ndisk_mb = 9\n")
    jails: list[Any] = []

    class Recorded:
        def __init__(self, jail: Any, jobs: Path, env: dict[str, str]) -> None:
            jails.append(jail)

    monkeypatch.setattr(zygote, "Zygote", Recorded)
    for args in (["-q", "--vicheck-rubric", str(rubric)], [f"--vicheck-rubric={rubric}"], ["-q"]):
        assert isinstance(warm._start_zygote(str(tmp_path), args), Recorded)
    assert [(j.limits.memory_mb, j.limits.disk_mb) for j in jails[:2]] == [(777, 9), (777, 9)]
    assert jails[2].limits == Limits()  # no rubric: the defaults, as the runs have
    rubric.write_text("[limits]\nmemory_mb = 'lots'\n")  # a rubric that cannot be read: no zygote, said why
    assert warm._start_zygote(str(tmp_path), ["--vicheck-rubric", str(rubric)]) is None
