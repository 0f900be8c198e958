"""Where a student's files go, the key that lets a finished grade be reused, and the one atomic writer.

Every file the grader writes goes through :func:`write_text_atomic` (or :func:`write_json_atomic`): a reader,
or a kill in the middle of a write, never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["STATE_DIR", "resume_key", "state_path", "write_bytes_atomic", "write_json_atomic", "write_text_atomic"]

#: the grader's own files in an output folder (resume keys, the warm worker's log), hidden from the class
STATE_DIR = ".vicheck"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # mkstemp's 0600 would hide the page and the reports from a web server or a colleague: the mode an
        # ordinary open() would have given
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8, line ends as given) to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike[str], data: Any, indent: int | None = 2) -> None:
    """Write ``data`` as JSON, atomically. ``json.dumps``, not ``json.dump``: only ``dumps`` uses the C
    encoder when not indenting, and the plugin writes its report around every property."""
    write_text_atomic(path, json.dumps(data, indent=indent) + "\n")


def state_path(out: Path, name: str) -> Path:
    """The file that holds the resume key of student ``name`` graded into ``out``."""
    return out / STATE_DIR / f"{name}.json"


def resume_key(
    *,
    submission_sha256: str,
    rubric_sha256: str,
    profile: str,
    visibility: str,
    isolation: str,
    resources: str,
) -> dict[str, str]:
    """What must be the same for a finished report to be reused instead of grading again: the file's bytes,
    the rubric, the profile, the visibility, vicheck's version, the isolation and resource levels. (Not the
    formats asked for: a student's files are drawn from the report, so a reused report writes any missing.)"""
    from vicheck import __version__

    return {
        "submission_sha256": submission_sha256,
        "rubric_sha256": rubric_sha256,
        "profile": profile,
        "visibility": visibility,
        "vicheck": __version__,
        "isolation": isolation,
        "resources": resources,
    }
