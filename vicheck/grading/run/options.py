"""The pytest run of one submission: its option names, their choices, its ini file and its argv.

The plugin (:mod:`vicheck.grading.run.plugin`) declares these options and the grader
(:mod:`vicheck.grading.batch`) passes them: both read the names and choices from here, so that one cannot
drift from the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from properties._vocabulary import CATEGORIES, PROFILES
from vicheck.sandbox.limits import ISOLATION_LEVELS, RESOURCE_LEVELS

__all__ = [
    "INI",
    "ISOLATION_CHOICES",
    "PLUGIN",
    "PROFILE_CHOICES",
    "RESOURCE_CHOICES",
    "VISIBILITY_CHOICES",
    "RunOptions",
    "run_argv",
]

#: the plugin's module, as ``-p`` names it (its entry point has the same name, so it is never loaded twice)
PLUGIN = "vicheck.grading.run.plugin"
PROFILE_CHOICES: tuple[str, ...] = tuple(PROFILES)
ISOLATION_CHOICES: tuple[str, ...] = ("auto", *ISOLATION_LEVELS)
RESOURCE_CHOICES: tuple[str, ...] = ("auto", *RESOURCE_LEVELS)
VISIBILITY_CHOICES: tuple[str, ...] = ("all", "visible")

#: the ini file of a grading run: an empty configuration, so that no pytest.ini, pyproject.toml or conftest.py
#: of the working folder or of the submission's folder is read; the markers are the property categories
INI = "\n".join(
    [
        "[pytest]",
        "# Written by `vicheck grade`: an empty configuration, so that no pytest.ini, pyproject.toml or",
        "# conftest.py of the working folder or of the submission's folder is read.",
        "markers =",
        *(f"    {name}: {text}" for name, text in CATEGORIES.items()),
        "    slow: a test that takes more than a few seconds",
        "",
    ]
)


@dataclass(frozen=True)
class RunOptions:
    """What one grading run is told: the submission, where its files go, and the class-wide settings."""

    impl: Path
    report: Path
    profile: str
    visibility: str
    isolation: str
    resources: str
    rootdir: Path
    ini: Path
    rubric: Path | None = None
    #: pytest options through which the run writes a student file itself (``--junitxml`` -> its path)
    run_files: tuple[tuple[str, Path], ...] = ()
    #: the property suite's folder (``--confcutdir``: no conftest above it is read)
    suite: Path | None = None


def run_argv(o: RunOptions, prefix: Sequence[str] = ()) -> list[str]:
    """The pytest command line of one grading run, after ``prefix`` (the command that starts pytest)."""
    cmd = [*prefix, "-p", PLUGIN, "--pyargs", "properties", "-q"]
    cmd += ["-p", "no:cacheprovider", "-p", "no:randomly", "--rootdir", str(o.rootdir), "-c", str(o.ini)]
    if o.suite is not None:
        cmd += ["--confcutdir", str(o.suite)]
    cmd += ["--impl", str(o.impl), "--grade-report", str(o.report)]
    for option, path in o.run_files:
        cmd += [option, str(path)]
    if o.rubric is not None:
        cmd += ["--vicheck-rubric", str(o.rubric)]
    cmd += ["--vicheck-profile", o.profile, "--vicheck-visibility", o.visibility]
    # the level decided once for the whole run: every student is graded under the same one, or none is
    cmd += ["--vicheck-isolation", o.isolation, "--vicheck-resources", o.resources]
    return cmd
