"""``vicheck classroom-workflow DIR``: the GitHub Actions workflow that checks a student's repository on every
push and hands the visible verdicts to GitHub Classroom.

The workflow (``DIR/.github/workflows/classroom.yml``, where GitHub Classroom looks for an assignment's
autograding) installs Python and vicheck (pip, with torch's CPU wheels from https://download.pytorch.org/whl/cpu
so that no CUDA build is downloaded), runs ``vicheck check SUBMISSION --classroom-result FILE`` (the visible
properties, as grading runs them; its text report goes to the job's log), and passes the result file to
GitHub Classroom's reporter action, ``classroom-resources/autograding-grading-reporter@v1``.

How the reporter reads a result (its ``src/main.js``): for each id in its ``runners`` input, the environment
variable ``<ID>_RESULTS`` (upper case) holds the result JSON, base64-encoded; that JSON is the one
:mod:`vicheck.grading.report.formats.classroom` writes. The reporter sums the tests' ``score`` against
``max_score`` and posts it to the check run named "Autograding Tests" (so the job carries that name), and fails
the job when the result's ``status`` is ``fail`` or ``error``. The permissions, triggers and the guard against
the ``github-classroom[bot]`` actor are those of the workflows GitHub Classroom itself writes.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from vicheck import __version__

__all__ = ["CPU_WHEELS", "RUNNER_ID", "WORKFLOW", "install_spec", "workflow_text", "write_workflow"]

#: where pip finds torch's CPU-only wheels
CPU_WHEELS = "https://download.pytorch.org/whl/cpu"
#: the workflow's path in the repository
WORKFLOW = Path(".github/workflows/classroom.yml")
#: where a rubric given to the command is copied in the repository
RUBRIC = Path(".github/vicheck/rubric.toml")
#: the id of the step that runs the check, as the reporter's ``runners`` input names it
RUNNER_ID = "vicheck"
#: the reporter action
REPORTER = "classroom-resources/autograding-grading-reporter@v1"
#: the result file, in the runner's temporary folder
RESULT = "$RUNNER_TEMP/vicheck.classroom.json"


def install_spec() -> str:
    """What the workflow installs: this version of vicheck with the ``grade`` extra (pytest, Hypothesis)."""
    return f"vicheck[grade]=={__version__}"


def _yaml_string(text: str) -> str:
    """``text`` as a double-quoted YAML scalar."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def workflow_text(submission: str, rubric: str | None = None, *, python: str = "3.11", install: str = "") -> str:
    """The workflow, checking ``submission`` (a path in the repository) with ``rubric`` (a path in the
    repository, or none: every property visible)."""
    command = ["vicheck", "check", submission]
    if rubric:
        command += ["--rubric", rubric]
    check = " ".join(shlex.quote(part) for part in command) + f' --classroom-result "{RESULT}"'
    package = shlex.quote(install or install_spec())
    lines = [
        f"# Written by `vicheck classroom-workflow` (vicheck {__version__}). On every push, runs the visible",
        "# properties on the submission as grading runs them and reports the verdicts to GitHub Classroom.",
        "name: Autograding Tests",
        '"on":',
        "  - push",
        "  - repository_dispatch",
        "  - workflow_dispatch",
        "permissions:",
        "  checks: write",
        "  actions: read",
        "  contents: read",
        "jobs:",
        "  run-autograding-tests:",
        "    name: Autograding Tests",
        "    runs-on: ubuntu-latest",
        "    if: github.actor != 'github-classroom[bot]'",
        "    timeout-minutes: 30",
        "    steps:",
        "      - name: Checkout code",
        "        uses: actions/checkout@v4",
        "      - name: Set up Python",
        "        uses: actions/setup-python@v5",
        "        with:",
        f"          python-version: {_yaml_string(python)}",
        "      - name: Install vicheck (CPU torch)",
        "        run: |",
        "          python -m pip install --upgrade pip",
        f"          python -m pip install --extra-index-url {CPU_WHEELS} {package}",
        "          sudo apt-get install -y -qq bubblewrap || echo 'no bubblewrap: the check runs without namespaces'",
        "      - name: vicheck check",
        f"        id: {RUNNER_ID}",
        "        run: |",
        "          status=0",
        f"          {check} || status=$?",
        f'          echo "result=$(base64 -w 0 "{RESULT}")" >> "$GITHUB_OUTPUT"',
        '          echo "vicheck check exited with status $status"',
        "      - name: Autograding Reporter",
        f"        uses: {REPORTER}",
        "        env:",
        f'          {RUNNER_ID.upper()}_RESULTS: "${{{{ steps.{RUNNER_ID}.outputs.result }}}}"',
        "        with:",
        f"          runners: {RUNNER_ID}",
        "",
    ]
    return "\n".join(lines)


def find_submission(folder: Path) -> str:
    """The one ``.py``/``.ipynb`` at the top of ``folder`` (``ValueError`` when there is not exactly one)."""
    found = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix in (".py", ".ipynb"))
    if len(found) != 1:
        what = "no .py or .ipynb file" if not found else f"{len(found)} candidates ({', '.join(found)})"
        raise ValueError(f"{folder}: {what}; say which file students submit with --submission FILE")
    return found[0]


def write_workflow(
    folder: Path,
    submission: str | None = None,
    rubric: Path | None = None,
    *,
    python: str = "3.11",
    install: str = "",
) -> list[Path]:
    """Write the workflow into the repository ``folder`` (and copy ``rubric`` into it); the files written.
    ``ValueError`` when the submission cannot be found or is not a path inside the repository."""
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder (the assignment's template repository)")
    name = submission or find_submission(folder)
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise ValueError(f"--submission {name}: a path inside the repository, relative to its root")
    written: list[Path] = []
    rubric_in_repo: str | None = None
    if rubric is not None:
        from vicheck.grading.rubric import load_rubric

        load_rubric(rubric)  # refuses a rubric that does not read, here rather than on every push
        target = folder / RUBRIC
        target.parent.mkdir(parents=True, exist_ok=True)
        if rubric.resolve() != target.resolve():
            shutil.copyfile(rubric, target)
        written.append(target)
        rubric_in_repo = RUBRIC.as_posix()
    path = folder / WORKFLOW
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(workflow_text(name, rubric_in_repo, python=python, install=install), encoding="utf-8")
    written.append(path)
    return written
