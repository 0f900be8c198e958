"""Finding the submissions of a class: :class:`Submission` (one student's file or folder), :class:`Outcome`
(what grading it gave), the stable shards a class splits into across machines, and the file's digest."""

from __future__ import annotations

import errno
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

from vicheck.grading.report.records import GradeReport
from vicheck.sandbox.loading import check_links, link_problem, resolve_submission_path

__all__ = [
    "SUBMISSION_SUFFIXES",
    "Outcome",
    "Submission",
    "expand_submissions",
    "file_sha256",
    "parse_shard",
    "shard_of",
    "single_submission",
]

SUBMISSION_SUFFIXES = (".py", ".ipynb")


@dataclass(frozen=True)
class Submission:
    """One student's submission: ``path`` goes to ``--impl``; ``problem`` says why it cannot be graded."""

    name: str
    path: Path
    file: Path | None
    problem: str = ""


@dataclass
class Outcome:
    """What grading one submission gave: ``state`` is graded, skipped, time limit, not gradable or grader failed."""

    name: str
    report: GradeReport
    state: str
    seconds: float = 0.0
    detail: str = ""

    @property
    def grader_failed(self) -> bool:
        return self.state == "grader failed"


def _visible_entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith((".", "__")))


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "submission"
    return cleaned


def expand_submissions(paths: list[Path], *, exclude: Path | None = None) -> tuple[list[Submission], list[str]]:
    """Submissions named by ``paths`` (files, one-submission folders, folders of submissions), unique names;
    and notes about entries passed over. ``ValueError`` for a path that names nothing gradable.

    Symbolic links: a path named here is followed (the instructor chose it). What a folder holds is not
    trusted: an entry of a folder of submissions that is itself a link (``alice.py -> ../bob/solution.py``,
    ``alice -> /elsewhere``, dangling or not) points outside the one submission it stands for, and a
    submission folder holding a link anywhere that resolves outside it is refused
    (:func:`~vicheck.sandbox.loading.check_links`): such a submission is listed with ``file`` ``None`` and a
    ``problem`` naming the link relative to the folder named here (``alice/solution.py``), so it is reported,
    not graded, and nothing behind the link is opened (not even to hash it). A link that stays inside its
    submission folder is followed."""
    found: list[tuple[str, Path, Path | None, str]] = []
    notes: list[str] = []
    excluded = exclude.resolve() if exclude is not None else None
    for path in paths:
        if not path.exists():
            raise ValueError(f"{path}: no such file or folder")
        if path.is_file():
            if path.suffix not in SUBMISSION_SUFFIXES:
                raise ValueError(f"{path}: a submission is a .py file, a .ipynb notebook, or a folder holding one")
            found.append((path.stem, path, path, ""))
            continue
        entries = [e for e in _visible_entries(path) if excluded is None or e.resolve() != excluded]
        subdirs = [e for e in entries if e.is_dir()]
        # a link named as a submission counts as one whatever it points to (a FIFO, nothing): it is refused
        files = [e for e in entries if (e.is_file() or e.is_symlink()) and e.suffix in SUBMISSION_SUFFIXES]
        if not subdirs and len(files) == 1:  # one submission in its folder
            try:
                check_links(path)
                if files[0].is_symlink() and not files[0].exists():
                    shown = f"{Path(os.path.abspath(path)).name}/{files[0].name}"
                    raise ValueError(f"`{shown}` is a symbolic link to a file that does not exist")
            except ValueError as exc:
                found.append((files[0].stem, path, None, str(exc)))
            else:
                found.append((files[0].stem, path, files[0], ""))
            continue
        if not subdirs and not files:
            raise ValueError(f"{path}: holds no .py or .ipynb file and no sub-folder: nothing to grade")
        for e in entries:
            if e.is_symlink() and (e in subdirs or e in files):
                found.append((e.name if e in subdirs else e.stem, e, None, link_problem(e.name, os.path.realpath(e))))
            elif e.is_dir():
                try:
                    found.append((e.name, e, resolve_submission_path(e), ""))
                except ValueError as exc:
                    found.append((e.name, e, None, str(exc)))
            elif e in files:
                found.append((e.stem, e, e, ""))
            else:
                notes.append(f"skipped {e} (not a .py/.ipynb file or a folder)")
    subs: list[Submission] = []
    used: set[str] = set()
    for raw, p, file, problem in found:
        base = _safe_name(raw)
        name, k = base, 2
        while name.lower() in used or name == "summary":
            name, k = f"{base}-{k}", k + 1
        used.add(name.lower())
        # a refused link is shown as itself: its target's path is none of the report's business
        where = Path(os.path.abspath(p)) if file is None and p.is_symlink() else p.resolve()
        subs.append(Submission(name, where, file.resolve() if file else None, problem))
    return subs, notes


def single_submission(path: Path) -> Submission:
    """``path`` as one submission (a file, or a folder that should hold one): what Gradescope uploads.
    A folder holding none or several, or a symbolic link out of it, is a submission that cannot be graded,
    saying why (see :func:`expand_submissions` for links)."""
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    try:
        file = resolve_submission_path(path)
    except ValueError as exc:
        if path.is_file():
            raise
        return Submission(_safe_name(path.name), path.resolve(), None, str(exc))
    return Submission(_safe_name(file.stem), path.resolve(), file.resolve())


def file_sha256(path: Path) -> str:
    """The file's sha256. ``path`` (a resolved submission file) is opened without following a symbolic link
    and without blocking (a FIFO): ``OSError`` for anything but a regular file, so that a file swapped for a
    link after :func:`expand_submissions` checked it is not read through the link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        if not S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        h = hashlib.sha256()
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` as ``(K, N)`` with ``1 <= K <= N``; ``ValueError`` saying what is wrong."""
    k_text, sep, n_text = text.partition("/")
    try:
        if not sep:
            raise ValueError
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise ValueError(f"--shard {text}: expected K/N, such as 2/8") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard {text}: K must be between 1 and N")
    return k, n


def shard_of(name: str, n: int) -> int:
    r"""The shard (1 to ``n``) that submission ``name`` belongs to: :math:`1 + (\text{sha256}(name) \bmod n)`.

    A digest of the name alone, so that a submission's shard depends on nothing else: adding, removing or
    regrading another student never moves it, and every machine of a job array computes the same split.
    Names are compared in lower case (the output folder's names are unique regardless of case)."""
    digest = hashlib.sha256(name.lower().encode("utf-8")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % n
