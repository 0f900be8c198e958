"""Which isolation levels of :mod:`vicheck.sandbox.jail` this machine provides, and the one to grade under.

:func:`probe` says what each level needs and whether it is here (a bubblewrap that can make namespaces; root,
and an interpreter that an unprivileged uid can read); :func:`choose_level` picks the level, raising
:class:`IsolationUnavailable` with one line where it cannot. Imported from :mod:`vicheck.sandbox.jail`, which
re-exports the public names.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

from vicheck.sandbox.limits import ISOLATION_LEVELS, Limits, pick_level

__all__ = [
    "NAMESPACE_FLAGS",
    "SLOT_COUNT",
    "SLOT_FIRST",
    "IsolationUnavailable",
    "choose_level",
    "find_bwrap",
    "grader_path_entries",
    "interpreter_dirs",
    "level_rank",
    "probe",
]

#: the uids of the ``uid`` level: ``SLOT_FIRST`` and the ``SLOT_COUNT - 1`` after it
SLOT_FIRST, SLOT_COUNT = 61000, 1000
#: bubblewrap's namespaces, as :func:`find_bwrap` tries them and every jail has them
NAMESPACE_FLAGS = (
    "--unshare-user",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
)


class IsolationUnavailable(Exception):
    """The isolation level asked for cannot be provided here; ``str()`` is one line saying why."""


def level_rank(level: str) -> int:
    """3 for ``namespaces`` down to 0 for ``none``."""
    return len(ISOLATION_LEVELS) - 1 - ISOLATION_LEVELS.index(level)


def grader_path_entries(root: Path | None = None) -> list[str]:
    """The ``sys.path`` entries a submission's interpreter loses: the folder holding the grader's packages
    (``root``, default this checkout's), a project folder or an editable install's. Not a site-packages folder,
    where a normal ``pip install vicheck`` puts them: the packages a submission may import (scipy) live there
    too, and there the grader's own are refused by name (``_child.BlockGraderPackages``) and hidden by a jail."""
    folder = (root if root is not None else Path(__file__).resolve().parents[2]).resolve()
    site_folders = {Path(p).resolve() for p in sys.path if p and os.path.basename(p) in _SITE_FOLDERS}
    if folder.name in _SITE_FOLDERS or folder in site_folders:
        return []
    return [str(folder)]


_SITE_FOLDERS = ("site-packages", "dist-packages")


def interpreter_dirs() -> list[Path]:
    """Folders the child's interpreter needs: its installation, the venv, and site-packages folders."""
    found: list[Path] = []
    for raw in (sys.base_prefix, sys.prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))):
        found.append(Path(raw).resolve())
    for entry in sys.path:
        if entry and os.path.isdir(entry) and os.path.basename(entry) in _SITE_FOLDERS:
            found.append(Path(entry).resolve())
    kept: list[Path] = []
    for path in sorted(set(found), key=lambda p: len(p.parts)):
        if path != Path("/") and not any(path.is_relative_to(k) for k in kept):
            kept.append(path)
    return kept


@functools.cache
def find_bwrap() -> tuple[str, str]:
    """``(path, version)`` of a working bubblewrap, or ``("", why not)``."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "", "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        trial = subprocess.run(
            [exe, *NAMESPACE_FLAGS, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"],
            capture_output=True,
            text=True,
            timeout=20,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return "", f"bwrap could not run ({type(exc).__name__}: {exc})"
    if trial.returncode != 0:
        why = (trial.stderr.strip().splitlines() or [f"exit status {trial.returncode}"])[-1]
        return "", f"bwrap cannot create namespaces here ({why}); user namespaces may be disabled"
    return exe, version or "bubblewrap"


def _readable_by(uid: int, paths: list[Path]) -> str:
    """ "" when ``uid`` can read and traverse every path; else the first path it cannot reach."""
    modes = [os.R_OK | (os.X_OK if p.is_dir() else 0) for p in paths]  # decided as the grader, who can look
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked probe only
        code = 0
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            for i, (p, mode) in enumerate(zip(paths, modes, strict=True)):
                if not os.access(p, mode):
                    code = 10 + i
                    break
        except BaseException:
            code = 1
        os._exit(min(code, 255))
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return ""
    if code == 1:
        return "changing to an unprivileged uid failed"
    return str(paths[code - 10]) if code - 10 < len(paths) else "a path"


@functools.cache
def _uid_level() -> tuple[bool, str]:
    if os.geteuid() != 0:
        return False, "the grader does not run as root, so it cannot give the child a uid of its own"
    needed = [Path(os.path.realpath(sys.executable)), *interpreter_dirs()]
    blocked = _readable_by(SLOT_FIRST + SLOT_COUNT - 1, needed)
    if blocked:
        return False, f"an unprivileged uid cannot read the interpreter or its packages ({blocked} is not reachable)"
    return True, f"uids {SLOT_FIRST}-{SLOT_FIRST + SLOT_COUNT - 1}, at most {Limits().max_processes} processes"


def probe(level: str) -> tuple[bool, str]:
    """Whether ``level`` is available here, and its detail (version, uid range) or why it is not."""
    if level == "namespaces":
        exe, detail = find_bwrap()
        return bool(exe), detail
    if level == "uid":
        return _uid_level()
    if level in ("process", "none"):
        return True, "a child process per submission" if level == "process" else "in the grader's process"
    raise ValueError(f"unknown isolation level {level!r}")


def choose_level(requested: str = "auto", minimum: str = "process") -> str:
    """The level to grade under: the strongest available for ``auto``, else ``requested`` if available
    (``none``, in the grader's own process, only where no stronger minimum is required).

    :class:`IsolationUnavailable` (one line) when ``requested`` is not available here, or when the level is
    weaker than ``minimum`` (the rubric's ``[limits] isolation``).
    """
    if requested == "none":
        # "process", the default minimum, asks for nothing; a rubric that names uid or namespaces does
        if minimum != "process":
            raise IsolationUnavailable(
                f"the rubric requires isolation level {minimum} or stronger; isolation none runs the submission "
                "in the grader's own process"
            )
        return "none"
    return pick_level(
        ISOLATION_LEVELS,
        requested,
        minimum,
        probe=probe,
        rank=level_rank,
        what="isolation level",
        required="isolation level {minimum}",
        error=IsolationUnavailable,
    )
