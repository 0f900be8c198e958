"""``vicheck gradescope-bundle DIR``: write a Gradescope autograder into DIR (and ``autograder.zip`` with ``--zip``).

The bundle holds:

* ``setup.sh`` - run once by Gradescope when it builds the image: a Python 3 virtual environment in
  ``/autograder/venv``, torch's CPU wheel, then vicheck from ``src/`` with its grading dependencies;
* ``run_autograder`` - run for each submission: copies ``/autograder/submission`` into a temporary folder
  and grades it like ``vicheck grade``, writing ``/autograder/results/results.json`` itself (stdout is
  only the log, hidden from students);
* ``rubric.toml`` - the rubric given with ``--rubric``, or vicheck's example rubric;
* ``src/`` - the ``reference``, ``properties`` and ``vicheck`` packages and a minimal ``pyproject.toml``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shlex
import shutil
import stat
import urllib.parse
import zipfile
from pathlib import Path

from vicheck.grading.rubric import load_rubric

__all__ = ["PACKAGES", "build_bundle"]

#: the packages a bundle carries, in its ``src/`` folder
PACKAGES: tuple[str, ...] = ("reference", "properties", "vicheck")
EXAMPLE_RUBRIC = Path(__file__).resolve().parents[1] / "examples" / "rubric.toml"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
_FALLBACK_DEPENDENCIES = (
    "torch>=2.1",
    "numpy>=1.24",
    "scipy>=1.10",
    "hypothesis>=6.100",
    "pytest>=8",
    "nbformat>=5.7",
    "ipython>=8.12",
    "jinja2>=3.1",
)
_IGNORE = shutil.ignore_patterns(
    "__pycache__", "*.pyc", "*.pyo", ".mypy_cache", ".pytest_cache", ".ruff_cache", "*.egg-info", ".hypothesis"
)

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (written by vicheck {version}).
set -euxo pipefail
cd "$(dirname "$0")"    # /autograder/source: where Gradescope unpacks autograder.zip

export DEBIAN_FRONTEND=noninteractive
apt-get update
# bubblewrap jails each submission (isolation level "namespaces"); where the container forbids user
# namespaces the grader falls back to a uid of the submission's own (it runs as root) and records that level.
apt-get install -y --no-install-recommends python3 python3-venv python3-pip bubblewrap

python3 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
# torch's CPU-only wheel: much smaller than the default CUDA build, and Gradescope has no GPU
# (the index is vicheck gradescope-bundle's --torch-index).
/autograder/venv/bin/python -m pip install --index-url {torch_index} torch
# vicheck (reference, property suite, grader) with its grading dependencies (hypothesis, pytest, ...).
/autograder/venv/bin/python -m pip install ./src
/autograder/venv/bin/python -c "import reference, vicheck.grading.run.plugin; print('vicheck', vicheck.__version__)"
/autograder/venv/bin/vicheck grade --help > /dev/null
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission (written by vicheck {version}). The grade goes to
# /autograder/results/results.json, written by the grader itself; this script's output is only a log,
# which results.json marks hidden from students.
set -uo pipefail
SOURCE=/autograder/source
RESULTS=/autograder/results/results.json
mkdir -p /autograder/results
rm -f "$RESULTS"

# Grade a copy, in a folder of our own: nothing the submission writes ends up in /autograder/submission.
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/submission"
cp -R /autograder/submission/. "$WORK/submission/"
cd "$WORK"

# Its first line names the isolation level it got (also in results.json's extra_data and the JSON report).
/autograder/venv/bin/vicheck grade "$WORK/submission" --out "$WORK/grades" --rubric "$SOURCE/rubric.toml" \\
    --jobs 1 --force --gradescope-results "$RESULTS" > "$WORK/grade.out" 2>&1
status=$?
cat "$WORK/grade.out"

for log in "$WORK"/grades/*.log; do
    [ -f "$log" ] && cat "$log"
done
cat "$WORK"/grades/*.md 2>/dev/null || true

if [ ! -s "$RESULTS" ]; then
    # The grader itself failed: tell the student so, rather than leave Gradescope without results.
    /autograder/venv/bin/python - "$RESULTS" "$status" <<'PY'
import json, sys
path, status = sys.argv[1], sys.argv[2]
message = ("The autograder could not grade this submission (grader exit status " + status + "). "
           "This is not a verdict on your code: please tell your instructor.")
with open(path, "w", encoding="utf-8") as fh:
    json.dump({{"score": 0.0, "output": message, "stdout_visibility": "hidden", "tests": []}}, fh)
PY
fi
exit 0
"""

PYPROJECT = """\
# A minimal build file for the vicheck sources bundled with this autograder (written by vicheck {version}).
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "vicheck"
version = "{version}"
description = "Reference implementation, property suite and grader for the lecture on variational inference"
requires-python = ">=3.10"
dependencies = [
{dependencies}
]

[project.scripts]
vicheck = "vicheck.cli:main"

[tool.setuptools.packages.find]
include = ["reference*", "properties*", "vicheck*"]

[tool.setuptools.package-data]
"*" = ["py.typed", "*.toml", "*.json", "*.txt", "*.md", "*.csv", "*.ipynb"]
vicheck = ["py.typed", "examples/*", "examples/**/*", "grading/report/classpage/templates/*", "check/templates/*"]
"""


def _dependencies() -> list[str]:
    """vicheck's own dependencies plus its ``grade`` extra, from the installed metadata when there is one."""
    try:
        requires = importlib.metadata.requires("vicheck") or []
    except importlib.metadata.PackageNotFoundError:
        requires = []
    deps: list[str] = []
    for req in requires:
        spec, _, marker = req.partition(";")
        marker = marker.strip()
        if not marker:
            deps.append(spec.strip())
        elif marker.replace("'", '"').replace(" ", "") == 'extra=="grade"':
            deps.append(spec.strip())
    if not deps:
        deps = list(_FALLBACK_DEPENDENCIES)
    deps.append("tomli>=2; python_version < '3.11'")
    seen: dict[str, None] = {}
    for d in deps:
        seen.setdefault(d, None)
    return list(seen)


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ValueError(f"cannot find the package `{name}` to bundle (is vicheck installed?)")
    if spec.origin is not None and spec.origin not in ("namespace", "built-in"):
        return Path(spec.origin).resolve().parent
    locations = list(spec.submodule_search_locations or [])
    if not locations:
        raise ValueError(f"cannot find the package `{name}` to bundle (is vicheck installed?)")
    return Path(locations[0]).resolve()


def _write_script(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _check_index(url: str) -> str:
    """``url`` when pip can use it as an index and the shell script can hold it; ``ValueError`` says why not."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https", "file") or not (parsed.netloc or parsed.scheme == "file"):
        raise ValueError(f"--torch-index {url!r}: an index is an http://, https:// or file:// URL")
    if any(c.isspace() or c in "'\"\\$`" for c in url):
        raise ValueError(f"--torch-index {url!r}: the URL holds a space, quote, backslash, $ or backquote")
    return url


def build_bundle(
    out: Path, rubric: Path | None = None, *, make_zip: bool = False, torch_index: str | None = None
) -> list[Path]:
    """Write the bundle into ``out``; returns the top-level paths written. ``ValueError`` says why not.

    ``torch_index`` is the package index ``setup.sh`` installs torch from (default :data:`TORCH_CPU_INDEX`): a
    PEP 503 index holding torch and the packages it needs, as PyTorch's indexes do."""
    from vicheck import __version__

    index = _check_index(torch_index if torch_index is not None else TORCH_CPU_INDEX)

    rubric_path = rubric if rubric is not None else EXAMPLE_RUBRIC
    load_rubric(rubric_path)  # refuse an invalid rubric now, not on Gradescope
    out = out.resolve()
    sources = {name: _package_dir(name) for name in PACKAGES}
    for name, src in sources.items():
        if out == src or src in out.parents:
            raise ValueError(f"{out}: the bundle cannot go inside the package it copies ({name} at {src})")
        if not (src / "__init__.py").is_file():
            raise ValueError(f"{src}: the package `{name}` has no __init__.py")
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "setup.sh", out / "run_autograder", out / "rubric.toml", out / "src"]
    _write_script(out / "setup.sh", SETUP_SH.format(version=__version__, torch_index=shlex.quote(index)))
    _write_script(out / "run_autograder", RUN_AUTOGRADER.format(version=__version__))
    shutil.copyfile(rubric_path, out / "rubric.toml")
    src_root = out / "src"
    if src_root.exists():
        shutil.rmtree(src_root)
    src_root.mkdir()
    for name, src in sources.items():
        shutil.copytree(src, src_root / name, ignore=_IGNORE)
    deps = ",\n".join(f'    "{d}"' for d in _dependencies())
    (src_root / "pyproject.toml").write_text(PYPROJECT.format(version=__version__, dependencies=deps), encoding="utf-8")
    if make_zip:
        archive = out / "autograder.zip"
        _zip(out, archive, [p for p in written])
        written.append(archive)
    return written


def _zip(root: Path, archive: Path, entries: list[Path]) -> None:
    """``archive`` with ``entries`` (files, folders) at its root; scripts keep their executable bit."""
    tmp = archive.with_name(f".{archive.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for entry in entries:
            files = [entry] if entry.is_file() else sorted(p for p in entry.rglob("*") if p.is_file())
            for file in files:
                info = zipfile.ZipInfo(file.relative_to(root).as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
                mode = 0o755 if os.access(file, os.X_OK) and file.parent == root else 0o644
                info.external_attr = (stat.S_IFREG | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, file.read_bytes())
    os.replace(tmp, archive)
