"""Rehearse the Gradescope autograder end to end, the way Gradescope runs it, on a bare Debian root.

1. ``vicheck gradescope-bundle --zip`` builds ``autograder.zip`` (with ``--torch-index``: see below).
2. A bare Debian root is built from Debian's own packages (``debootstrap --variant=minbase``; cached between
   runs). Gradescope's default image is Ubuntu 22.04; a Debian root is the nearest that can be built here.
3. ``autograder.zip`` is unpacked into ``/autograder/source``, ``run_autograder`` copied to ``/autograder``, and
   ``setup.sh`` runs in the root, as root, under bubblewrap: that is the image build.
4. Each submission runs in a fresh copy of that image (an overlay whose upper layer is thrown away, as Gradescope
   starts a container per submission): its files in ``/autograder/submission``, ``/autograder/run_autograder``
   run from ``/autograder``, and ``/autograder/results/results.json`` read back.
5. Each ``results.json`` is checked against Gradescope's documented format
   (:mod:`vicheck.grading.report.formats._gradescope_spec`) and against ``vicheck grade`` run here on the same
   files with the same rubric: the same score, and the same tests with the same status, points and visibility.

PyTorch's CPU index (``setup.sh``'s default) may be out of reach; by default the rehearsal serves a PEP 503 index
on 127.0.0.1 holding the torch wheel ``pip download`` finds for this machine's torch version (on this project's
machines, the local CPU build) and the packages it needs, and bundles with ``--torch-index`` pointing there.

Needs root, ``bwrap``, ``debootstrap``, ``unshare`` and ``mount`` (overlayfs), and the Debian mirror and PyPI.
Exit status 0 when every check held, 1 when one did not (each is said), 2 when the rehearsal could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import html
import http.server
import json
import os
import platform
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from vicheck.grading.report.formats import _gradescope_spec as spec  # noqa: E402

#: the Python each Debian suite ships (the torch wheel must match it)
SUITE_PYTHON = {"bookworm": "3.11", "trixie": "3.13"}
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: the fields the rehearsal requires vicheck to write (Gradescope's format leaves each optional)
TOP_REQUIRED = ("score", "execution_time", "output", "output_format", "visibility", "stdout_visibility")
TOP_REQUIRED += ("extra_data", "tests")
TEST_REQUIRED = ("score", "max_score", "status", "name", "number", "output", "output_format", "tags")
TEST_REQUIRED += ("visibility", "extra_data")
#: a test as compared with ``vicheck grade``'s own Gradescope file
COMPARED = ("name", "status", "score", "max_score", "visibility")


class Unavailable(Exception):
    """The rehearsal cannot run here (exit status 2)."""


# ------------------------------------------------------------------------------------------------ cases


@dataclass(frozen=True)
class Case:
    """One submission: its file's name in ``/autograder/submission``, how to make it, what its grade must be."""

    id: str
    filename: str
    make: Callable[[Path], bytes]
    #: further checks of its results.json beyond the format and ``vicheck grade``'s verdicts; ``[]`` when they hold
    expect: Callable[[dict[str, Any], dict[str, dict[str, Any]]], list[str]]


def _example(name: str) -> Callable[[Path], bytes]:
    return lambda root: (root / "vicheck" / "examples" / name).read_bytes()


def _attack(name: str, then_lecture: bool = False) -> Callable[[Path], bytes]:
    def make(root: Path) -> bytes:
        code = (HERE / "submissions" / name).read_bytes()
        lecture = (root / "vicheck" / "examples" / "lecture.py").read_bytes() if then_lecture else b""
        return code + b"\n" + lecture

    return make


def _graded(results: dict[str, Any], _: dict[str, dict[str, Any]]) -> list[str]:
    passed = sum(t["status"] == "passed" for t in results["tests"])
    return [] if passed > 0 else ["no test passed: the submission was not graded"]


def _below_lecture(results: dict[str, Any], others: dict[str, dict[str, Any]]) -> list[str]:
    lecture = others.get("lecture")
    if lecture is not None and not results["score"] < lecture["score"]:
        return [f"score {results['score']} is not below the lecture's {lecture['score']}: the mistake went unseen"]
    return []


def _all_failed(results: dict[str, Any], _: dict[str, dict[str, Any]]) -> list[str]:
    if results["score"] != 0 or any(t["status"] != "failed" for t in results["tests"]):
        return [f"score {results['score']}: a submission that never loads must fail every test"]
    return []


def _said(*words: str) -> Callable[[dict[str, Any], dict[str, dict[str, Any]]], list[str]]:
    def check(results: dict[str, Any], others: dict[str, dict[str, Any]]) -> list[str]:
        found = _all_failed(results, others)
        text = results["output"].lower()
        if not any(w in text for w in words):
            found.append(f"the output names none of {words}: {results['output'][:300]!r}")
        return found

    return check


def _lecture_score(results: dict[str, Any], others: dict[str, dict[str, Any]]) -> list[str]:
    found = []
    if "FORGED" in json.dumps(results) or results["score"] >= 1000:
        found.append("the forged results.json reached Gradescope")
    lecture = others.get("lecture")
    if lecture is not None and results["score"] != lecture["score"]:
        found.append(f"score {results['score']} differs from the lecture code's {lecture['score']}")
    return found


CASES = (
    Case("lecture", "lecture.py", _example("lecture.py"), _graded),
    Case("mistake", "forgot_jacobian.py", _example("forgot_jacobian.py"), _below_lecture),
    Case("notebook", "notebook_student.ipynb", _example("notebook_student.ipynb"), _graded),
    Case("writes-results", "forger.py", _attack("writes_results_json.py", then_lecture=True), _lecture_score),
    Case("hangs-at-import", "hangs.py", _attack("hangs_at_import.py"), _said("time limit", "took longer")),
    Case("crashes", "crashes.py", _attack("crashes_interpreter.py"), _said("signal", "crash", "sigsegv", "died")),
)


# ---------------------------------------------------------------------------------------------- helpers


def _start(argv: list[str], log: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """``argv`` started in a session of its own (so that a kill reaches what it starts), its output in ``log``."""
    with log.open("ab") as out:
        out.write(f"$ {' '.join(argv)}\n".encode())
        out.flush()
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """Its exit status; past ``timeout`` its session is killed and the status is 124."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        return 124


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
    proc.wait()


def _run(argv: list[str], *, log: Path, timeout: float, cwd: Path | None = None) -> tuple[int, float]:
    """Run ``argv`` with its output in ``log``; (exit status, seconds). A run past ``timeout`` is killed: 124."""
    start = time.monotonic()
    status = _wait(_start(argv, log, cwd), timeout)
    return status, time.monotonic() - start


def _tail(path: Path, lines: int = 25) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


HOST_CA = "/run/vicheck-host-ca.crt"


def _host_ca_bundle() -> Path | None:
    """The bundle of certificate authorities this machine's pip trusts (``PIP_CERT``, else OpenSSL's default)."""
    for candidate in (os.environ.get("PIP_CERT"), ssl.get_default_verify_paths().cafile):
        if candidate and Path(candidate).is_file():
            return Path(candidate).resolve()
    return None


def _jail(root: Path, binds: list[tuple[Path, str]], cwd: str, command: list[str]) -> list[str]:
    """bubblewrap's command to run ``command`` as root in ``root``: its own pid, IPC and host-name namespaces, the
    host's network (for apt and pip), a fresh /dev and /proc, /sys read-only as in a Docker container."""
    argv = ["bwrap", "--clearenv", "--bind", str(root), "/", "--dev", "/dev", "--proc", "/proc"]
    argv += ["--ro-bind", "/sys", "/sys"]
    argv += ["--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf"]
    # This machine's certificate authorities, for pip: where its traffic passes a TLS proxy, the root's own
    # (Debian's) would refuse PyPI. Gradescope's image needs nothing of the kind; nothing else changes.
    ca = _host_ca_bundle()
    if ca is not None:
        argv += ["--ro-bind", str(ca), HOST_CA, "--setenv", "PIP_CERT", HOST_CA, "--setenv", "SSL_CERT_FILE", HOST_CA]
    for src, dest in binds:
        argv += ["--bind", str(src), dest]
    argv += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "gradescope", "--die-with-parent"]
    argv += ["--setenv", "PATH", PATH, "--setenv", "HOME", "/root", "--setenv", "LANG", "C.UTF-8"]
    argv += ["--chdir", cwd, "--", *command]
    return argv


# ------------------------------------------------------------------------------------------ debian root


def debian_root(cache: Path, suite: str, mirror: str, log: Path) -> tuple[Path, float]:
    """The cached bare root of ``suite`` (built now when missing); (its folder, seconds spent building it)."""
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
    root = cache / "roots" / f"{suite}-minbase-{arch or platform.machine()}"
    if (root / ".vicheck-complete").is_file():
        return root, 0.0
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    status, seconds = _run(["debootstrap", "--variant=minbase", suite, str(partial), mirror], log=log, timeout=900)
    if status != 0:
        raise Unavailable(f"debootstrap {suite} from {mirror} failed (exit {status}):\n{_tail(log)}")
    (partial / ".vicheck-complete").write_text(f"debootstrap --variant=minbase {suite} {mirror}\n")
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    return root, seconds


# -------------------------------------------------------------------------------------------- the index


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def build_index(cache: Path, python: str, log: Path) -> Path:
    """A PEP 503 ``simple/`` index of this machine's torch wheel for ``python`` and the wheels it needs."""
    import torch

    version = torch.__version__
    wheels = cache / "wheels" / f"torch-{version}-py{python}"
    if not (wheels / ".vicheck-complete").is_file():
        wheels.mkdir(parents=True, exist_ok=True)
        pip = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--dest", str(wheels)]
        pip += ["--only-binary=:all:", "--python-version", python]
        status, _ = _run([*pip, "--no-deps", f"torch=={version}"], log=log, timeout=900)
        found = sorted(wheels.glob("torch-*.whl"))
        if status != 0 or not found:
            raise Unavailable(f"pip could not find a torch {version} wheel for Python {python}:\n{_tail(log)}")
        status, _ = _run([*pip, str(found[0])], log=log, timeout=900)
        if status != 0:
            raise Unavailable(f"pip could not download what torch {version} needs:\n{_tail(log)}")
        (wheels / ".vicheck-complete").write_text("")
    index = cache / "index" / wheels.name
    shutil.rmtree(index, ignore_errors=True)
    projects: dict[str, list[Path]] = {}
    for wheel in sorted(wheels.glob("*.whl")):
        projects.setdefault(_normalize(wheel.name.split("-", 1)[0]), []).append(wheel)
    (index / "simple").mkdir(parents=True)
    links = "".join(f'<a href="{p}/">{p}</a>\n' for p in projects)
    (index / "simple" / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
    for project, files in projects.items():
        folder = index / "simple" / project
        folder.mkdir()
        anchors = []
        for wheel in files:
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            (folder / wheel.name).symlink_to(wheel)
            anchors.append(f'<a href="{html.escape(wheel.name)}#sha256={digest}">{html.escape(wheel.name)}</a>\n')
        (folder / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{''.join(anchors)}</body></html>\n")
    return index


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on 127.0.0.1 (a free port) for as long as the context lasts; yields its URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------------------------------- the image


def _unzip(archive: Path, dest: Path) -> None:
    """Unpack as Gradescope does, keeping each file's mode (zipfile alone drops the executable bit)."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, dest))
            mode = (info.external_attr >> 16) & 0o777
            if mode and path.is_file():
                path.chmod(mode)


def build_image(base: Path, work: Path, archive: Path, log: Path) -> tuple[Path, float]:
    """A copy of the bare root with the autograder set up in it; (its folder, setup.sh's seconds)."""
    image = work / "image"
    status, _ = _run(["cp", "-a", "--reflink=auto", str(base), str(image)], log=log, timeout=300)
    if status != 0:
        raise Unavailable(f"could not copy the root {base}:\n{_tail(log)}")
    source = image / "autograder" / "source"
    source.mkdir(parents=True)
    _unzip(archive, source)
    shutil.copy2(source / "run_autograder", image / "autograder" / "run_autograder")
    for folder in ("submission", "results"):
        (image / "autograder" / folder).mkdir()
    command = _jail(image, [], "/autograder/source", ["bash", "./setup.sh"])
    status, seconds = _run(command, log=log, timeout=900)
    if status != 0:
        raise SetupFailed(f"setup.sh failed (exit {status}) after {seconds:.0f} s:\n{_tail(log, 40)}")
    return image, seconds


class SetupFailed(Exception):
    """setup.sh failed: the rehearsal found what it is for (exit status 1)."""


@dataclass
class Outcome:
    case: str
    seconds: float
    exit_status: int
    results: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)


def run_submission(image: Path, work: Path, case: Case, content: bytes) -> Outcome:
    """``run_autograder`` in a fresh overlay of ``image`` with ``content`` as the submission."""
    box = work / "runs" / case.id
    for sub in ("upper", "overlay-work", "merged", "submission", "results"):
        (box / sub).mkdir(parents=True)
    (box / "submission" / case.filename).write_bytes(content)
    overlay = f"lowerdir={image},upperdir={box / 'upper'},workdir={box / 'overlay-work'}"
    jail = _jail(
        box / "merged",
        [(box / "submission", "/autograder/submission"), (box / "results", "/autograder/results")],
        "/autograder",
        ["/autograder/run_autograder"],
    )
    # the overlay lives in a mount namespace of its own: it goes when the run ends, however it ends
    script = 'mount -t overlay overlay -o "$1" "$2" && shift 2 && exec "$@"'
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", overlay, str(box / "merged")]
    stdout = box / "stdout"  # Gradescope keeps run_autograder's output in /autograder/results/stdout
    status, seconds = _run([*command, *jail], log=stdout, timeout=600)
    outcome = Outcome(case.id, seconds, status, None)
    path = box / "results" / "results.json"
    if status != 0:
        outcome.problems.append(f"run_autograder exited {status}:\n{_tail(stdout)}")
    if not path.is_file():
        outcome.problems.append(f"no /autograder/results/results.json:\n{_tail(stdout)}")
        return outcome
    try:
        outcome.results = spec.parse(path.read_bytes())
    except ValueError as exc:
        outcome.problems.append(f"results.json is not JSON: {exc}")
        return outcome
    outcome.problems += [f"format: {p}" for p in spec.problems(outcome.results)]
    return outcome


# --------------------------------------------------------------------------------------- the comparison


class GradeHere:
    """``vicheck grade`` on this machine, on the same files and rubric, started at once and read at the end: it
    runs on one core while the image is built (mostly waiting on the mirror and PyPI) instead of after it."""

    def __init__(self, work: Path, rubric: Path, files: dict[str, tuple[str, bytes]], log: Path) -> None:
        subs = work / "here" / "submissions"
        subs.mkdir(parents=True)
        for case_id, (filename, content) in files.items():
            (subs / case_id).mkdir()
            (subs / case_id / filename).write_bytes(content)
        self.cases, self.out, self.log = list(files), work / "here" / "grades", log
        command = [sys.executable, "-m", "vicheck", "grade", str(subs), "--out", str(self.out), "--rubric", str(rubric)]
        command += ["--formats", "gradescope", "--jobs", "1", "-q"]
        self.proc = _start(command, log)

    def stop(self) -> None:
        """Kill it (and what it started) if it still runs."""
        _kill(self.proc)

    def results(self, timeout: float = 900) -> dict[str, dict[str, Any]]:
        """Each case's Gradescope file, once the run ended; ``Unavailable`` when it failed."""
        status = _wait(self.proc, timeout)
        if status != 0:
            raise Unavailable(f"vicheck grade on this machine failed (exit {status}):\n{_tail(self.log)}")
        graded: dict[str, dict[str, Any]] = {}
        for case_id in self.cases:
            path = self.out / f"{case_id}.gradescope.json"
            if path.is_file():
                graded[case_id] = spec.parse(path.read_bytes())
        return graded


def compare(outcome: Outcome, here: dict[str, Any] | None) -> list[str]:
    """How results.json departs from ``vicheck grade``'s verdicts on the same file."""
    results = outcome.results
    if results is None:
        return []
    if here is None:
        return ["vicheck grade wrote no Gradescope file for it here"]
    found = []
    if results.get("score") != here.get("score"):
        found.append(f"score {results.get('score')} on Gradescope, {here.get('score')} here")
    mine = {t.get("name"): tuple(t.get(k) for k in COMPARED) for t in results.get("tests", [])}
    theirs = {t.get("name"): tuple(t.get(k) for k in COMPARED) for t in here.get("tests", [])}
    for name in sorted(set(mine) | set(theirs), key=str):
        if mine.get(name) != theirs.get(name):
            found.append(
                f"test {name}: {dict(zip(COMPARED, mine.get(name) or (), strict=False))} on Gradescope, "
                f"{dict(zip(COMPARED, theirs.get(name) or (), strict=False))} here"
            )
    return found


def required_fields(results: dict[str, Any]) -> list[str]:
    found = [f"no top-level {k}" for k in TOP_REQUIRED if k not in results]
    for i, test in enumerate(results.get("tests") or []):
        found += [f"tests[{i}] has no {k}" for k in TEST_REQUIRED if isinstance(test, dict) and k not in test]
    return found


# ------------------------------------------------------------------------------------------------- main


def machine_problem() -> str:
    """Why this machine cannot rehearse (no root, a missing tool), or ``""``; the test asks it too."""
    if os.geteuid() != 0:
        return "the rehearsal runs setup.sh as root in a Debian root: it needs root"
    for tool in ("bwrap", "debootstrap", "unshare", "mount", "dpkg"):
        if shutil.which(tool) is None:
            return f"the rehearsal needs `{tool}` (Debian: apt-get install bubblewrap debootstrap)"
    return ""


def rehearse(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    logs = work / "logs"
    logs.mkdir(parents=True)
    python = SUITE_PYTHON.get(args.suite)
    if python is None:
        raise Unavailable(f"unknown suite {args.suite}: one of {', '.join(SUITE_PYTHON)}")
    summary: dict[str, Any] = {"work": str(work), "suite": args.suite, "submissions": []}
    files = {case.id: (case.filename, case.make(ROOT)) for case in CASES}
    with contextlib.ExitStack() as stack:
        grading_here = GradeHere(work, args.rubric, files, logs / "here.log")
        stack.callback(grading_here.stop)
        root_log = logs / "debootstrap.log"
        base, summary["debootstrap_seconds"] = debian_root(args.cache, args.suite, args.mirror, root_log)
        index = args.torch_index
        if index is None:
            index = stack.enter_context(serve(build_index(args.cache, python, logs / "index.log"))) + "/simple"
        summary["torch_index"] = index
        bundle = work / "bundle"
        bundle_cmd = [sys.executable, "-m", "vicheck", "gradescope-bundle", str(bundle), "--zip"]
        status, _ = _run(
            [*bundle_cmd, "--rubric", str(args.rubric), "--torch-index", index], log=logs / "bundle.log", timeout=120
        )
        if status != 0:
            raise Unavailable(f"vicheck gradescope-bundle failed:\n{_tail(logs / 'bundle.log')}")
        image, summary["setup_seconds"] = build_image(base, work, bundle / "autograder.zip", logs / "setup.log")
        here = grading_here.results()
    outcomes = [run_submission(image, work, case, files[case.id][1]) for case in CASES]
    graded = {o.case: o.results for o in outcomes if o.results is not None}
    for case, outcome in zip(CASES, outcomes, strict=True):
        if outcome.results is not None:
            outcome.problems += required_fields(outcome.results)
            outcome.problems += compare(outcome, here.get(case.id))
            if not spec.problems(outcome.results) and not required_fields(outcome.results):
                outcome.problems += case.expect(outcome.results, graded)
        extra = (outcome.results or {}).get("extra_data", {})
        summary["submissions"].append(
            {
                "case": case.id,
                "file": case.filename,
                "seconds": round(outcome.seconds, 1),
                "score": (outcome.results or {}).get("score"),
                "max_score": sum(t.get("max_score", 0) for t in (outcome.results or {}).get("tests", [])),
                "isolation": extra.get("isolation"),
                "resources": extra.get("resources"),
                "problems": outcome.problems,
            }
        )
    return summary


def _drop_images(work: Path) -> None:
    """Remove the image and each submission's overlay layers: gigabytes, of use only to look into a failure."""
    shutil.rmtree(work / "image", ignore_errors=True)
    for box in (work / "runs").glob("*"):
        for layer in ("upper", "overlay-work", "merged"):
            shutil.rmtree(box / layer, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/gradescope-rehearsal", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rubric", type=Path, default=HERE / "rubric.toml", help="the rubric to bundle")
    parser.add_argument("--suite", default="bookworm", help="the Debian suite of the root (default bookworm)")
    parser.add_argument("--mirror", default="http://deb.debian.org/debian", help="the Debian mirror")
    parser.add_argument("--torch-index", metavar="URL", help="bundle with this torch index instead of a local one")
    default_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vicheck" / "rehearsal"
    parser.add_argument("--cache", type=Path, default=default_cache, help=f"roots and wheels (default {default_cache})")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR and keep it (default: a removed folder)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the summary here as JSON")
    parser.add_argument(
        "--keep-image", action="store_true", help="with --keep: keep the image (1.6 GB) even when every check held"
    )
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        problem = machine_problem()
        if problem:
            raise Unavailable(problem)
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=False)
        with contextlib.ExitStack() as stack:
            work = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vicheck-gradescope-")))
            summary = rehearse(args, work.resolve())
    except Unavailable as exc:
        print(f"gradescope-rehearsal: cannot rehearse: {exc}", file=sys.stderr)
        return 2
    except SetupFailed as exc:
        print(f"gradescope-rehearsal: {exc}", file=sys.stderr)
        return 1
    summary["seconds"] = round(time.monotonic() - start, 1)
    failed = any(row["problems"] for row in summary["submissions"])
    if args.keep is not None and not failed and not args.keep_image:
        _drop_images(args.keep.resolve())  # the reports, logs and results stay
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"debootstrap {summary['debootstrap_seconds']:.0f} s (0: cached), setup.sh {summary['setup_seconds']:.0f} s")
    for row in summary["submissions"]:
        verdict = "ok" if not row["problems"] else f"{len(row['problems'])} problem(s)"
        print(
            f"{row['case']:>16}  {row['score']!s:>5} / {row['max_score']:<4g} {row['seconds']:6.1f} s  "
            f"{row['isolation']}/{row['resources']}  {verdict}"
        )
        for problem in row["problems"]:
            print(f"{'':>18}- {problem}")
    print(f"total {summary['seconds']:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
