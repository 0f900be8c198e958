"""bubblewrap's command line for the ``namespaces`` level of :mod:`vicheck.sandbox.jail`: the namespaces,
the read-only view of the system and the interpreter, the child's scratch tmpfs (or a zygote's ``/jobs``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from vicheck.sandbox._levels import NAMESPACE_FLAGS, find_bwrap, interpreter_dirs
from vicheck.sandbox.limits import Limits

__all__ = ["JAIL_UID", "bwrap_command"]

#: the uid and gid the child has inside the namespaces jail (``nobody``)
JAIL_UID = 65534
#: the grader's packages, hidden in every site-packages folder the jail shows
_GRADER_PACKAGES = ("reference", "properties", "vicheck", "benchmarks", "tests")
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/nsswitch.conf")


def bwrap_command(
    argv: list[str],
    scratch: Path,
    files: Mapping[str, Path],
    info_fd: int,
    *,
    limits: Limits,
    zygote: bool = False,
    seeds: Sequence[tuple[int, str]] = (),
) -> list[str]:
    """bubblewrap's command line: the namespaces, the read-only view, the scratch folder (for a zygote:
    the jobs folder ``scratch`` at ``/jobs``), then ``argv``. The scratch folder is a tmpfs of the disk
    limit's size holding ``seeds`` (a descriptor to copy from and a file name, or ``-1`` and a folder
    name: see :func:`~vicheck.sandbox._scratch.scratch_seeds`)."""
    exe, _ = find_bwrap()
    cmd = [exe, *NAMESPACE_FLAGS, "--uid", str(JAIL_UID), "--gid", str(JAIL_UID), "--hostname", "sandbox"]
    cmd += ["--info-fd", str(info_fd)]
    for system in (*_SYSTEM_DIRS, *_SYSTEM_FILES):
        cmd += ["--ro-bind-try", system, system]
    for folder in interpreter_dirs():
        cmd += ["--ro-bind", str(folder), str(folder)]
        for name in _GRADER_PACKAGES:  # a non-editable install of the grader: hide its sources
            if (folder / name).is_dir():
                cmd += ["--tmpfs", str(folder / name), "--remount-ro", str(folder / name)]
    cmd += ["--proc", "/proc", "--dev", "/dev"]
    if zygote:
        # bwrap mounts --dev's devpts as uid 0 of a first user namespace and nests a second one for --uid:
        # the mount namespace would be the first's, where the zygote has no capability, and no fork could
        # mount a /proc of its own (see _zygote.py). So the zygote's /dev is made as --dev makes it, less
        # the devpts (each fork mounts its own), in one user namespace
        at = cmd.index("--dev")
        del cmd[at : at + 2]
        cmd += ["--tmpfs", "/dev"]
        for node in ("null", "zero", "full", "random", "urandom", "tty"):
            cmd += ["--dev-bind-try", f"/dev/{node}", f"/dev/{node}"]
        for name, target in (
            ("ptmx", "pts/ptmx"),
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
            ("core", "/proc/kcore"),
        ):
            cmd += ["--symlink", target, f"/dev/{name}"]
        cmd += ["--dir", "/dev/pts", "--dir", "/dev/shm", "--remount-ro", "/dev", "--cap-add", "CAP_SYS_ADMIN"]
        cmd += ["--bind", str(scratch), "/jobs", "--dir", "/submission", "--chdir", "/"]
    else:
        # bubblewrap covers /proc/sys only where its setup could write it, and behind uid 65534 stands the
        # grader's own uid: run as root, a child could open global sysctls (kernel.core_pattern) for
        # writing. A read-only view of the kernel's settings instead (a fork covers its own /proc so)
        cmd += [
            "--ro-bind",
            "/proc/sys",
            "/proc/sys",
            "--ro-bind-try",
            "/proc/sysrq-trigger",
            "/proc/sysrq-trigger",
        ]
        cmd += ["--size", str(limits.disk_mb * 2**20), "--tmpfs", "/submission"]
        for fd, name in seeds:
            cmd += ["--dir", f"/submission/{name}"] if fd < 0 else ["--file", str(fd), f"/submission/{name}"]
        cmd += ["--chdir", "/submission"]
    for name, path in files.items():
        cmd += ["--ro-bind", str(path), f"/grader/{name}"]
    return [*cmd, "--remount-ro", "/", "--", *argv]
