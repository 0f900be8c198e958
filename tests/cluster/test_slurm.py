"""A class graded on a Slurm cluster the way ``docs/cluster.md`` tells an instructor to.

The guide's scripts (``scripts/slurm/``, which the guide holds verbatim) are submitted to a one-node cluster
started for the test (:mod:`tests.cluster.slurm`): a job array grades a class of 12 in 3 shards and a dependent
job merges them. The merged folder must equal a single-machine run of the same class, file for file, apart
from the dates, durations, process ids and paths that differ between any two runs (:func:`normalised` says
which, and why each may differ).

The rehearsal needs root and Debian's ``slurm-wlm`` and ``munge``; elsewhere it skips saying why, unless
``VICHECK_REQUIRE_REHEARSALS=1`` (CI, having installed them), where a missing prerequisite fails.
"""

from __future__ import annotations

import base64
import difflib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.slurm import Cluster, missing_prerequisites, one_node_cluster
from tests.rehearsals import cannot_rehearse
from vicheck.grading.submissions import shard_of

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "slurm"
GUIDE = ROOT / "docs" / "cluster.md"
CORPUS = ROOT / "tests" / "submissions"

#: the class: student -> file of the corpus (4 correct, 8 with one mistake each); 4 students in each of 3 shards,
#: so that every shard grades enough submissions to start a warm worker, as the single-machine run does
CLASS = {
    "float64": "correct/float64.py",
    "posterior_heads_tails_swapped": "wrong/posterior_heads_tails_swapped.py",
    "dkl_flipped": "wrong/dkl_flipped.py",
    "integrate_left_riemann": "wrong/integrate_left_riemann.py",
    "simpson": "correct/simpson.py",
    "sigmoid_wrong_sign": "wrong/sigmoid_wrong_sign.py",
    "elbo_wrong_sign": "wrong/elbo_wrong_sign.py",
    "T_exp_transform": "wrong/T_exp_transform.py",
    "lecture_4_functions": "lecture_4_functions.py",
    "log_space": "correct/log_space.py",
    "lp_forgot_jacobian": "wrong/lp_forgot_jacobian.py",
    "integrate_step_over_N": "wrong/integrate_step_over_N.py",
}
SHARDS = 3

#: A derandomized profile, not dev: dev draws new examples on every run, so two runs of one class disagree (two
#: dev runs of a class of 12, measured: several students' scores and counterexamples differed), and no
#: comparison of two runs could hold. The self-check (--self-check) runs only the visible properties, chosen so
#: that each mistake above fails some of them, which keeps each run of the 12 to about 30 s on 2 cores.
RUBRIC = """[grading]
profile = "ci"
default_visibility = "hidden"
[visibility]
visible = ["sigmoid_*", "integrate_*", "posterior_*", "dkl_qp_*", "elbo_*", "T_*", "lp_transformed_integrates_to_one*"]
"""
GRADE_OPTIONS = "--self-check"

#: both runs of the class (about a minute on 2 cores); with the cluster's start (at most 30 s) and stop (at most
#: about 90 s), the rehearsal stays within the 8 minutes CI allows it
DEADLINE_SECONDS = 300


# --------------------------------------------------------------------------------------------- the guide


def test_the_guide_holds_the_scripts_verbatim() -> None:
    """Every script of scripts/slurm/ is in docs/cluster.md byte for byte, so the guide cannot drift from what
    the rehearsal submits."""
    guide = GUIDE.read_text(encoding="utf-8")
    blocks = dict(re.findall(r"^<!-- verbatim: (\S+) -->\n```[a-z]*\n(.*?)^```$", guide, re.MULTILINE | re.DOTALL))
    scripts = sorted(str(p.relative_to(ROOT)) for p in SCRIPTS.iterdir() if p.is_file())
    assert sorted(blocks) == scripts
    for path, text in blocks.items():
        assert text == (ROOT / path).read_text(encoding="utf-8"), f"{path} differs from its copy in {GUIDE.name}"
        assert os.access(ROOT / path, os.X_OK), f"{path} is not executable"


# --------------------------------------------------------------------------------------------- the rehearsal


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    missing = missing_prerequisites()
    if missing:
        cannot_rehearse("no Slurm cluster can start here: " + "; ".join(missing))
    with one_node_cluster(tmp_path / "slurm") as started:
        yield started


def test_a_class_graded_in_shards_on_slurm_equals_one_machine(cluster: Cluster, tmp_path: Path) -> None:
    """scripts/slurm/submit grades a class of 12 in 3 shards and merges them; the merged folder is the one
    `vicheck grade` writes for the same class on one machine."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    subs = tmp_path / "submissions"
    subs.mkdir()
    for name, source in CLASS.items():
        shutil.copyfile(CORPUS / source, subs / f"{name}.py")
    split = {k: sorted(n for n in CLASS if shard_of(n, SHARDS) == k) for k in range(1, SHARDS + 1)}
    assert all(len(names) == 4 for names in split.values()), split
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(RUBRIC)
    vicheck = [sys.executable, "-m", "vicheck"]

    out = tmp_path / "cluster"
    env = {
        **cluster.env,
        "VICHECK": " ".join(vicheck),
        "VICHECK_RUBRIC": str(rubric),
        "VICHECK_GRADE_OPTIONS": GRADE_OPTIONS,
        "VICHECK_CPUS": "1",  # two shards at once on this 2-core node, one submission each
    }
    submit = [str(SCRIPTS / "submit"), str(subs), str(out), str(SHARDS)]
    submitted = subprocess.run(submit, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert submitted.returncode == 0, cluster.error(f"submit failed: {submitted.stdout}{submitted.stderr}")
    grade_job, merge_job = re.findall(r"^\w+: job (\d+)", submitted.stdout, re.MULTILINE)

    # the same class on this machine meanwhile: the cluster's tasks use one core each, and the last runs alone
    single = tmp_path / "single" / "class"
    local_log = tmp_path / "single.log"
    command = [*vicheck, "grade", str(subs), "--out", str(single), "--rubric", str(rubric), GRADE_OPTIONS, "-q"]
    with local_log.open("wb") as log:
        local = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        jobs = cluster.wait_for_jobs(deadline)
        local.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if local.poll() is None:  # its session: the warm worker and the runs it forked go with it
            os.killpg(local.pid, signal.SIGKILL)
            local.wait()
    assert local.returncode == 0, local_log.read_text()[-3000:]

    states = {_job_name(j, grade_job, merge_job): (j["JobState"], j["ExitCode"]) for j in jobs}
    expected = {f"task {k}": ("COMPLETED", "0:0") for k in split} | {"merge": ("COMPLETED", "0:0")}
    assert states == expected, cluster.error(f"jobs: {states}\n{_job_logs(out)}")

    # each task graded its shard, and only it
    for k, names in split.items():
        folder = out / f"shard-{k}-of-{SHARDS}"
        assert sorted(p.name.removesuffix(".junit.xml") for p in folder.glob("*.junit.xml")) == names, _job_logs(out)
    merged = out / "class"
    _assert_same_class(merged, single)


# --------------------------------------------------------------------------------------------- comparison

#: written by one `vicheck grade` run (its warm worker's stderr), not by or for any student: each shard folder
#: keeps its own, and a merge, being no grading run, has none
RUN_FILES = {".vicheck/warm-worker.log"}


def _assert_same_class(merged: Path, single: Path) -> None:
    files = {folder: _files(folder) for folder in (merged, single)}
    assert files[merged] == files[single]
    different = []
    for rel in sorted(files[merged]):
        a, b = (normalised(rel, (folder / rel).read_text(encoding="utf-8"), folder) for folder in (merged, single))
        if a != b:
            different.append(rel + "\n" + _diff(a, b))
    assert not different, f"{len(different)} files differ:\n" + "\n".join(different[:5])


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - RUN_FILES


def _diff(a: object, b: object) -> str:
    def lines(x: object) -> list[str]:
        return (x if isinstance(x, str) else json.dumps(x, indent=1, sort_keys=True)).splitlines()

    return "\n".join(list(difflib.unified_diff(lines(a), lines(b), "merged", "single", lineterm="", n=1))[:40])


#: an object's address in a repr (pytest prints the `impl` fixture's): where the allocator put it in that process
_ADDRESS = re.compile(r" object at 0x[0-9a-f]+")


def normalised(rel: str, text: str, folder: Path) -> Any:
    """``text`` of file ``rel`` of ``folder``, with each value that legitimately differs between two runs of one
    class replaced by a placeholder; nothing else. A JSON file is compared as its data."""
    name = rel.rsplit("/", 1)[-1]
    if rel.startswith(".vicheck/") or name == "summary.csv" or (name.endswith(".md") and name != "summary.md"):
        return text  # the resume keys, the summary and the feedback hold no date, duration or path of a run
    if name.endswith(".gradescope.json"):
        data = json.loads(text)
        data["execution_time"] = "<seconds>"  # how long the run took
        return data
    if name.endswith(".json"):
        data = json.loads(text)
        data["graded_at"] = "<date>"  # when grading finished
        for prop in data["properties"]:
            prop["seconds"] = "<seconds>"  # how long each property took
        return data
    if name.endswith(".junit.xml"):
        # pytest's run and test durations and start time, and object addresses in its failure texts
        text = re.sub(r' (time|timestamp)="[^"]*"', r' \1="<t>"', _ADDRESS.sub(" object at <address>", text))
        return re.sub(r'(<property name="hypothesis-statistics-[^"]*" value=")([^"]*)"', _statistics, text)
    if name.endswith(".log"):
        text = _ADDRESS.sub(" object at <address>", text)
        # the pytest command: its run folder is a fresh temporary folder, and it wrote into the folder graded into
        # (a shard's, for a report merged from it)
        text = re.sub(r"(--rootdir|-c) /\S+", r"\1 <run folder>", text)
        text = re.sub(r"(--grade-report|--junitxml) /\S+/", r"\1 <out>/", text)
        text = re.sub(r"\(pid \d+\) as pid \d+", "(pid <pid>) as pid <pid>", text)  # the processes forked
        return re.sub(r" in \d+\.\d+s\b", " in <seconds>s", text)  # pytest's closing line: how long it took
    if name in ("index.html", "summary.md"):
        # when the class files were drawn, and from which folder
        text = re.sub(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\b", "<date> UTC", text)
        return text.replace(str(folder), "<out>")
    return text


def _statistics(match: re.Match[str]) -> str:
    """Hypothesis's statistics for one property (base64 in the JUnit XML), less the phases' durations."""
    stats = base64.b64decode(match.group(2)).decode()
    stats = re.sub(r"\(\d+\.\d+ seconds\)", "(<seconds> seconds)", stats)
    stats = re.sub(r"Typical runtimes: .*", "Typical runtimes: <seconds>", stats)
    return match.group(1) + stats + '"'


def _job_name(job: dict[str, str], grade_job: str, merge_job: str) -> str:
    if job.get("ArrayJobId") == grade_job:
        return f"task {job['ArrayTaskId']}"
    return "merge" if job["JobId"] == merge_job else f"job {job['JobId']}"


def _job_logs(out: Path, lines: int = 30) -> str:
    parts = []
    for path in sorted((out / "logs").glob("*.out")):
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"--- {path.name} (last {len(tail)} lines)\n" + "\n".join(tail))
    return "\n".join(parts) or f"(no job log in {out / 'logs'})"
