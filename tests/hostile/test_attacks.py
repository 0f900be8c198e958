"""Hostile submissions graded by ``vicheck grade`` under each isolation level, with honest expectations.

A class of eight is graded in one run: ``twin`` (the lecture's ``sigmoid`` and ``sigmoid_prime``, with a
secret comment), ``slow`` (the same, after 5 s at import: its grading ends while any daemon lives) and six
attacks (``attack_*.py`` beside this file): each is ``twin`` plus one attack, so each must get exactly
``twin``'s verdicts. Everything lives in a throw-away arena under ``tmp_path`` whose name every attack checks
before it acts (see ``_arena.py``), so a failed jail still cannot touch anything else.

What each level stops (asserted below, and in the README's table):

=====================  ==============  ======================================================
attack                 namespaces      uid
=====================  ==============  ======================================================
daemon rewrites        stopped         stopped (reports are root's; the uid's processes die)
SIGKILL parent/group   stopped         stopped (another uid)
reads classmate        stopped         LETS THROUGH (world-readable class folder, /proc)
TCP to 127.0.0.1       stopped         LETS THROUGH (no network namespace)
writes outside         stopped         stopped in class/report folders; LETS THROUGH in /tmp
fork loop              bounded, gone   bounded (RLIMIT_NPROC), gone
=====================  ==============  ======================================================
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.processes import named
from vicheck.sandbox.jail import probe

HERE = Path(__file__).parent
ATTACKS = ("daemon", "kill_parent", "reads_classmate", "tcp", "writes_outside", "fork_loop")
CORE = """import time

import torch


def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))


def sigmoid_prime(x):
    return torch.exp(x) / (1 + torch.exp(x)) ** 2
"""
RUBRIC = """# SECRET-RUBRIC: only the grader may read this line
[limits]
call_seconds = 20
load_seconds = 60
submission_seconds = 240
"""


def _arena_code() -> str:
    text = (HERE / "_arena.py").read_text()
    return text[text.index('"""', 3) + 3 :]  # without its docstring


@dataclass
class Graded:
    level: str
    arena: Path
    rc: int
    stderr: str
    reports: dict[str, dict]
    connections: int
    survivors: list[int] = field(default_factory=list)

    def passed(self, name: str) -> dict[str, bool]:
        return {p["name"]: p["passed"] for p in self.reports[name]["properties"]}


def _listener() -> tuple[socket.socket, list[int], threading.Event]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    count, stop = [0], threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                count[0] += 1
                conn.close()
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    return server, count, stop


def _open_path(path: Path) -> None:
    """Let other uids traverse (not list) every folder from ``/`` down to ``path``: a class folder in a
    real course is readable like this, and the ``uid`` child must reach its scratch folder under it."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode & 0o7777
        if not mode & 0o001:
            folder.chmod(mode | 0o001)


@pytest.fixture(scope="module", params=["namespaces", "uid"])
def graded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Graded]:
    level = request.param
    available, why = probe(level)
    if not available:
        pytest.skip(f"isolation level {level} is not available on this machine: {why}")
    arena = tmp_path_factory.mktemp(f"hostile-arena-{level}")
    klass, out, tmp = arena / "class", arena / "grades", arena / "tmp"
    klass.mkdir()
    tmp.mkdir()
    tmp.chmod(0o1777)  # like /tmp
    server, count, stop = _listener()
    port = server.getsockname()[1]
    (klass / "twin.py").write_text(f"# SECRET-TWIN: a classmate's own work\n{CORE}")
    (klass / "slow.py").write_text(f"{CORE}\ntime.sleep(5)\n")
    for name in ATTACKS:
        text = (HERE / f"attack_{name}.py").read_text()
        (klass / f"attack_{name}.py").write_text(text.replace("# @ARENA@", _arena_code()).replace("@PORT@", str(port)))
    rubric = arena / "rubric.toml"
    rubric.write_text(RUBRIC)
    for path in [arena, klass, *klass.iterdir(), rubric]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    _open_path(arena)
    env = {**os.environ, "TMPDIR": str(tmp)}
    cmd = [sys.executable, "-m", "vicheck", "grade", str(klass), "--out", str(out), "--rubric", str(rubric)]
    cmd += ["--isolation", level, "--jobs", "2", "--quiet"]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
        survivors = named("vchk-hostile")
        reports = {
            p.stem: json.loads(p.read_text()) for p in out.glob("*.json") if not p.name.endswith(".gradescope.json")
        }
        yield Graded(level, arena, proc.returncode, proc.stderr, reports, count[0], survivors)
    finally:
        stop.set()
        server.close()
        for pid in named("vchk-hostile"):  # only if a jail failed: they are bounded in time anyway
            try:
                os.kill(pid, 9)
            except OSError:
                pass


def test_the_grader_worked_and_recorded_the_level(graded: Graded) -> None:
    assert graded.rc == 0, graded.stderr
    assert set(graded.reports) == {"twin", "slow", *(f"attack_{a}" for a in ATTACKS)}
    for name, report in graded.reports.items():
        assert report["isolation"] == graded.level, name
        assert report["complete"] and not any("grader failed" in e for e in report["errors"]), (name, report["errors"])


def test_the_twin_is_graded_as_the_lecture_code(graded: Graded) -> None:
    passed = graded.passed("twin")
    assert passed["sigmoid_matches_logistic"] and passed["sigmoid_prime_matches_derivative"]
    assert not passed["kl1_matches_exact"]  # not defined: the credit is the twin's functions' only


def test_classmates_get_their_normal_grades(graded: Graded) -> None:
    assert graded.passed("slow") == graded.passed("twin")
    assert graded.reports["slow"]["score"] == graded.reports["twin"]["score"]


@pytest.mark.parametrize("attack", ["daemon", "kill_parent", "tcp", "writes_outside", "fork_loop"])
def test_each_attack_gets_exactly_the_credit_it_earns(graded: Graded, attack: str) -> None:
    assert graded.passed(f"attack_{attack}") == graded.passed("twin")


def test_the_daemon_rewrote_no_report(graded: Graded) -> None:
    for name, report in graded.reports.items():
        assert report["score"] < report["max_score"], name  # nobody has full marks: no forged report


def test_no_process_of_a_submission_is_left(graded: Graded) -> None:
    assert graded.survivors == []


def test_reading_a_classmate(graded: Graded) -> None:
    leaked = json.dumps(graded.reports["attack_reads_classmate"])
    feedback = (graded.arena / "grades" / "attack_reads_classmate.md").read_text()
    if graded.level == "namespaces":
        assert "SECRET-" not in leaked and "SECRET-" not in feedback
        assert graded.passed("attack_reads_classmate") == graded.passed("twin")
    else:  # uid: the class folder and the rubric are world-readable, /proc shows where they are
        assert "SECRET-TWIN" in leaked and "SECRET-RUBRIC" in leaked and "SECRET-TWIN" in feedback
    for name in graded.reports:
        if name != "attack_reads_classmate":
            assert "SECRET-" not in (graded.arena / "grades" / f"{name}.json").read_text()


def test_tcp_connections(graded: Graded) -> None:
    if graded.level == "namespaces":
        assert graded.connections == 0
    else:  # uid: no network namespace
        assert graded.connections > 0


def test_writing_outside_the_scratch_folder(graded: Graded) -> None:
    marks = sorted(p.relative_to(graded.arena) for p in graded.arena.rglob("hostile-was-here"))
    assert not any(p.parts[0] in ("class", "grades") for p in marks)
    if graded.level == "namespaces":
        assert marks == []
    else:  # uid: a world-writable folder such as /tmp stays writable
        assert marks == [Path("tmp/hostile-was-here")]
