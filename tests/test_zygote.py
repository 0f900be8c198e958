"""Children forked from a zygote (vicheck/sandbox/zygote.py, _zygote.py): each sees only its own scratch
folder, has no capabilities and cannot get back what hides the others, takes every process it started with
it, and a zygote that dies leaves the grader starting children afresh.

tests/test_sandbox.py runs all of its tests with both kinds of child; this module checks what is particular
to the zygote. The submissions here are the test's own, bounded in time (at most 60 s for a process left
behind, which the test kills if the jail fails), and write only below their scratch folder or where the jail
must refuse them.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.processes import named
from tests.zygotes import installed_zygote
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
        "proc": sorted(os.listdir("/proc")),
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


def unhides_jobs():
    """New user and mount namespaces of its own (every capability there): try to unmount what hides /jobs."""
    libc = ctypes.CDLL(None, use_errno=True)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if libc.unshare(0x10000000 | 0x00020000) != 0:  # CLONE_NEWUSER | CLONE_NEWNS
                code = 10
            elif libc.umount2(b"/jobs", 2) != 0:  # MNT_DETACH
                code = 20
            else:
                code = 30 if os.listdir("/jobs") else 31
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
        assert seen["jobs"] == [] and seen["proc"] == []  # no other submission, no process of anyone's
        assert seen["listing"] == ["probe.py", "tmp"] and seen["cwd"] == "/submission"
        assert seen["shm"] == [] and seen["pid"] == 2  # under the namespace's init, as under bwrap's
        assert impl.invoke("sigmoid", torch.zeros(2)).tolist() == [0.5, 0.5]


def test_the_child_writes_only_in_its_folder_and_its_own_shared_memory(
    installed: zygote.Zygote, submission: Path, tmp_path: Path
) -> None:
    with IsolatedImplementation(submission, limits=LIMITS, isolation="namespaces") as impl:
        wrote = impl.invoke("writes")
        scratch = impl.scratch
        assert (scratch / "hostile-was-here").exists()
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
        assert impl.invoke("unhides_jobs") in ("unshare refused", "umount refused")


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
