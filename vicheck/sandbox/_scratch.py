"""A child's private scratch folder under the ``namespaces`` and ``uid`` levels of :mod:`vicheck.sandbox.jail`:
a tmpfs of the disk limit's size, holding a copy of what the grader put in the host's scratch folder, so that
what the child writes never reaches the host's disk.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["private_scratch", "scratch_entries", "scratch_seeds"]


def scratch_entries(scratch: Path) -> list[tuple[str, bool]]:
    """``(name, is a folder)`` of each folder and regular file in ``scratch``, by name; links and anything else
    left out (never followed): what a child's private scratch folder starts with."""
    with os.scandir(scratch) as entries:
        return sorted(
            (e.name, e.is_dir(follow_symlinks=False))
            for e in entries
            if e.is_dir(follow_symlinks=False) or e.is_file(follow_symlinks=False)
        )


def scratch_seeds(scratch: Path) -> list[tuple[int, str]]:
    """What the child's tmpfs starts with: ``(descriptor, name)`` for each regular file of ``scratch`` (open
    for reading: bubblewrap copies it in) and ``(-1, name)`` for each folder (made empty). Links are not
    followed: the grader put only a copy of the submission and an empty ``tmp`` there."""
    seeds: list[tuple[int, str]] = []
    try:
        for name, folder in scratch_entries(scratch):
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
            seeds.append((-1, name) if folder else (os.open(scratch / name, flags), name))
    except BaseException:
        for fd, _ in seeds:
            if fd >= 0:
                os.close(fd)
        raise
    return seeds


_CLONE_NEWNS, _MS_REC, _MS_PRIVATE, _MS_NOSUID, _MS_NODEV = 0x00020000, 16384, 1 << 18, 2, 4


def private_scratch(scratch: Path, size: int, uid: int) -> Callable[[], None]:
    """The ``uid`` level's scratch folder: between fork and exec, still root, the child enters a mount
    namespace of its own, mounts a tmpfs of ``size`` bytes owned by ``uid`` over ``scratch`` and copies in
    what the grader had put there. The tmpfs goes with the child's last process; the host's disk is
    untouched."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    contents = [(name, None if folder else (scratch / name).read_bytes()) for name, folder in scratch_entries(scratch)]
    target = str(scratch).encode()
    options = f"size={size},mode=0700,uid={uid},gid={uid}".encode()

    def private() -> None:  # pragma: no cover - runs between fork and exec
        if libc.unshare(_CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
        if libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
            raise OSError(ctypes.get_errno(), "making the mounts private")
        if libc.mount(b"tmpfs", target, b"tmpfs", _MS_NOSUID | _MS_NODEV, options) != 0:
            raise OSError(ctypes.get_errno(), "mounting the scratch tmpfs")
        for name, data in contents:
            path = os.path.join(scratch, name)
            if data is None:
                os.mkdir(path, 0o700)
            else:
                with open(path, "wb") as f:
                    f.write(data)
            os.chown(path, uid, uid)
        os.chdir(scratch)  # the cwd Popen set is the host folder under the new mount

    return private
