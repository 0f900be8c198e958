"""Warm workers (``vicheck/grading/warm.py``): a class graded by forks of one warm worker gets exactly the
reports that a fresh pytest process per submission gives; a run past the hard time limit is killed; a
worker that dies takes its runs with it and the grader notices; nothing outlives the grader."""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
from pathlib import Path

import pytest

from tests.processes import ended
from vicheck.cli import main
from vicheck.grading.run.warm import ForkServer, ForkServerUnavailable

ROOT = Path(__file__).resolve().parents[3]
SUBMISSIONS = ROOT / "tests" / "submissions"

#: a class that fails in several ways (a wrong rule, a wrong sign, bits instead of nats) beside two that
#: pass: every kind of verdict, message and counterexample the report holds
CLASS = [
    SUBMISSIONS / "lecture_4_functions.py",
    SUBMISSIONS / "correct" / "simpson.py",
    SUBMISSIONS / "wrong" / "integrate_left_riemann.py",
    SUBMISSIONS / "wrong" / "sigmoid_wrong_sign.py",
    SUBMISSIONS / "wrong" / "kl1_log2.py",
]
#: the properties of the functions those mistakes touch (a self-check of these keeps the test short)
RUBRIC = """\
[grading]
default_visibility = "hidden"
[visibility]
visible = ["sigmoid_*", "integrate_*", "kl1_*"]
"""


def _grade(*args: object) -> int:
    return main(["grade", *map(str, args)])


def _what_must_not_change(out: Path) -> dict[str, object]:
    """Each student's score, errors and, per property: status, verdict, message and counterexample."""
    found: dict[str, object] = {}
    for path in sorted(out.glob("*.json")):
        if path.name.endswith(".gradescope.json"):
            continue
        data = json.loads(path.read_text())
        props = [(p["name"], p["status"], p["passed"], p["message"], p["counterexample"]) for p in data["properties"]]
        found[path.stem] = (data["score"], data["max_score"], data["errors"], data["complete"], props)
    return found


@pytest.mark.slow
def test_warm_workers_give_the_reports_of_fresh_processes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    klass = tmp_path / "class"
    klass.mkdir()
    for path in CLASS:
        (klass / path.name).write_bytes(path.read_bytes())
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(RUBRIC)
    common = ("--rubric", rubric, "--self-check", "--profile", "grade")
    assert _grade(klass, "--out", tmp_path / "warm", "--jobs", "2", *common) == 0
    err = capsys.readouterr().err
    assert "warm worker ready" in err, err
    assert _grade(klass, "--out", tmp_path / "fresh", "--jobs", "1", "--no-warm", *common) == 0
    assert "warm worker" not in capsys.readouterr().err
    warm, fresh = _what_must_not_change(tmp_path / "warm"), _what_must_not_change(tmp_path / "fresh")
    assert sorted(warm) == sorted(p.stem for p in CLASS)
    for name in warm:
        assert warm[name] == fresh[name], name
    # the class is not trivially alike: three students fail, each with a counterexample
    failing = {n for n, r in warm.items() if any(not p[2] and p[4] for p in r[4])}  # type: ignore[index]
    assert {"integrate_left_riemann", "sigmoid_wrong_sign", "kl1_log2"} <= failing


HANGS_AT_IMPORT = """\
# Sleeps at import, forever (sleeping: it spares the CPU of the machine running the test).
import time
while True:
    time.sleep(0.2)
"""


@pytest.mark.slow
def test_a_forked_run_past_the_hard_limit_is_killed(tmp_path: Path) -> None:
    klass = tmp_path / "class"
    klass.mkdir()
    (klass / "hangs.py").write_text(HANGS_AT_IMPORT)
    (klass / "empty.py").write_text("x = 1\n")
    rubric = tmp_path / "rubric.toml"
    rubric.write_text('[grading]\ndefault_visibility = "hidden"\n[visibility]\nvisible = ["sigmoid_*"]\n')
    out = tmp_path / "out"
    before = set(Path(tempfile.gettempdir()).glob("vicheck-*"))
    # the hard limit (8 s) comes long before the load limit (default): only the grader's kill can end it
    code = _grade(klass, "--out", out, "--jobs", "2", "--time-limit", "8", "--rubric", rubric, "--self-check")
    assert code == 0
    report = json.loads((out / "hangs.json").read_text())
    assert report["complete"] and any("time limit was reached (8 s)" in e for e in report["errors"]), report["errors"]
    assert all(p["status"] == "not run" for p in report["properties"])
    assert json.loads((out / "empty.json").read_text())["complete"]
    assert "forked from the warm worker" in (out / "hangs.log").read_text()
    assert not _processes_mentioning(str(klass)), "a process of the killed run outlived it"
    # the killed run could not remove its submission's scratch folder: the grader removed it with the run's own
    left = set(Path(tempfile.gettempdir()).glob("vicheck-*")) - before
    assert not left, f"the killed run left {sorted(map(str, left))}"


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


SLEEPY_TEST = """\
import os, time

def test_sleeps():
    time.sleep(float(os.environ.get("SLEEP", "0")))
"""


def _server(tmp_path: Path) -> ForkServer:
    err = (tmp_path / "server.log").open("wb")
    server = ForkServer(sys.executable, dict(os.environ, PYTHONHASHSEED="0"), tmp_path, err)
    server.warm([], rehearse=False)
    return server


def test_fork_server_runs_pytest_and_reports_the_status(tmp_path: Path) -> None:
    (tmp_path / "test_sleepy.py").write_text(SLEEPY_TEST)
    server = _server(tmp_path)
    try:
        args = [str(tmp_path / "test_sleepy.py"), "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
        run = server.start(args, tmp_path, dict(os.environ, SLEEP="0"), tmp_path / "ok.log")
        assert run.wait(120) == 0, (tmp_path / "ok.log").read_text()
        assert "1 passed" in (tmp_path / "ok.log").read_text()
        failing = server.start([*args, "-k", "no_such_test"], tmp_path, dict(os.environ), tmp_path / "none.log")
        assert failing.wait(120) == 5  # pytest: no test collected
    finally:
        server.close()


def test_a_dead_fork_server_loses_its_runs_and_refuses_more(tmp_path: Path) -> None:
    (tmp_path / "test_sleepy.py").write_text(SLEEPY_TEST)
    server = _server(tmp_path)
    try:
        args = [str(tmp_path / "test_sleepy.py"), "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
        run = server.start(args, tmp_path, dict(os.environ, SLEEP="600"), tmp_path / "long.log")
        assert run.wait(1.0) is None
        os.kill(server.pid, signal.SIGKILL)
        # the run ends with the server (PR_SET_PDEATHSIG); 60 s is far more than the kernel needs
        assert run.wait(60) == -signal.SIGKILL and run.lost
        assert ended(run.pid, 60), "the fork outlived its server"
        with pytest.raises(ForkServerUnavailable):
            server.start(args, tmp_path, dict(os.environ), tmp_path / "more.log")
    finally:
        server.close()


def test_report_messages_hold_no_object_addresses() -> None:
    from vicheck.grading.run.verdicts import explain as _explain

    class Flaky(Exception):
        pass

    message, _ = _explain(Flaky("test(impl=<Impl object at 0x7fc190c2d490>, x=1) produced unreliable results"))
    assert message == "Flaky: test(impl=<Impl object>, x=1) produced unreliable results"
