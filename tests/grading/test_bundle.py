"""``vicheck gradescope-bundle``: the files, their contents, the zip, and that the bundled source installs."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from vicheck.cli import main
from vicheck.grading import bundle


def test_bundle_files_and_contents(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bundle"
    assert main(["gradescope-bundle", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    for name in ("setup.sh", "run_autograder"):
        mode = (out / name).stat().st_mode
        assert mode & stat.S_IXUSR and mode & stat.S_IXOTH, name
        assert (out / name).read_text().startswith("#!/usr/bin/env bash\n")
    setup = (out / "setup.sh").read_text()
    assert "python3 -m venv /autograder/venv" in setup
    assert "--index-url https://download.pytorch.org/whl/cpu torch" in setup
    assert "pip install ./src" in setup
    run = (out / "run_autograder").read_text()
    assert "/autograder/submission/." in run and "mktemp -d" in run
    assert '--gradescope-results "$RESULTS"' in run and "RESULTS=/autograder/results/results.json" in run
    assert "vicheck grade" in run and '--rubric "$SOURCE/rubric.toml"' in run
    assert run.rstrip().endswith("exit 0")
    assert (out / "rubric.toml").read_bytes() == bundle.EXAMPLE_RUBRIC.read_bytes()
    src = out / "src"
    for pkg in bundle.PACKAGES:
        assert (src / pkg / "__init__.py").is_file(), pkg
    assert (src / "properties" / "plugin.py").is_file()
    assert (src / "vicheck" / "grading" / "batch.py").is_file()
    assert (src / "vicheck" / "examples" / "rubric.toml").is_file()
    assert not list(src.rglob("__pycache__"))
    pyproject = (src / "pyproject.toml").read_text()
    assert 'name = "vicheck"' in pyproject and '"hypothesis' in pyproject and '"pytest' in pyproject
    assert 'vicheck = "vicheck.cli:main"' in pyproject and "tomli" in pyproject
    for line in run.splitlines() + setup.splitlines():  # the scripts check with bash -n
        assert "\r" not in line
    assert subprocess.run(["bash", "-n", str(out / "run_autograder")]).returncode == 0
    assert subprocess.run(["bash", "-n", str(out / "setup.sh")]).returncode == 0


def test_bundle_zip_and_given_rubric(tmp_path: Path) -> None:
    rubric = tmp_path / "mine.toml"
    rubric.write_text("[weights]\n'kl1_*' = 4\n")
    out = tmp_path / "bundle"
    assert main(["gradescope-bundle", str(out), "--rubric", str(rubric), "--zip"]) == 0
    assert (out / "rubric.toml").read_text() == rubric.read_text()
    with zipfile.ZipFile(out / "autograder.zip") as zf:
        names = zf.namelist()
        assert "setup.sh" in names and "run_autograder" in names and "rubric.toml" in names
        assert "src/pyproject.toml" in names and "src/properties/plugin.py" in names
        assert not any(n.startswith("autograder.zip") for n in names)
        for script in ("setup.sh", "run_autograder"):
            assert (zf.getinfo(script).external_attr >> 16) & 0o111 == 0o111
        assert zf.read("rubric.toml") == rubric.read_bytes()
    # rebuilding replaces the bundle's own files and keeps working
    assert main(["gradescope-bundle", str(out), "--zip"]) == 0


def test_bad_rubric_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rubric = tmp_path / "bad.toml"
    rubric.write_text("[weights]\n'kl1_*' = 'x'\n")
    assert main(["gradescope-bundle", str(tmp_path / "b"), "--rubric", str(rubric)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "kl1_*" in err
    assert not (tmp_path / "b").exists()


def test_bundled_source_installs(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    bundle.build_bundle(out)
    target = tmp_path / "site"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INDEX": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(out / "src"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for pkg in bundle.PACKAGES:
        assert (target / pkg / "__init__.py").is_file(), pkg
    assert (target / "properties" / "plugin.py").is_file()
    assert (target / "vicheck" / "examples" / "rubric.toml").is_file()
    code = "import vicheck.grading.batch, properties, reference.contract, vicheck; print(vicheck.__file__)"
    check = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(target)},
        cwd=tmp_path,
    )
    assert check.returncode == 0, check.stderr[-2000:]
    assert check.stdout.strip().startswith(str(target))


FAKE_RUNNER = r"""
import argparse, sys
from vicheck.grading.report.records import GradeReport, PropertyResult
p = argparse.ArgumentParser()
p.add_argument("--grade-report"); p.add_argument("--vicheck-gradescope"); p.add_argument("--impl")
a, _ = p.parse_known_args()
if "broken" in open(a.impl if a.impl.endswith(".py") else a.impl + "/student.py").read():
    sys.exit(3)
r = GradeReport(a.impl, [PropertyResult("kl1_x", ["kl_divergence_1"], "correctness", 2.0, True, status="passed")],
                complete=True)
r.write(a.grade_report)
"""


@pytest.mark.parametrize("case", ["one", "two", "broken"])
def test_run_autograder_in_a_fake_gradescope(tmp_path: Path, case: str) -> None:
    """run_autograder, its /autograder paths moved under tmp_path, with a fake property run."""
    import json

    root = tmp_path / "autograder"
    bundle.build_bundle(root / "source")
    (root / "venv").symlink_to(Path(sys.executable).parent.parent)
    script = (root / "source" / "run_autograder").read_text().replace("/autograder", str(root))
    (root / "run_autograder").write_text(script)
    sub = root / "submission"
    sub.mkdir()
    (sub / "student.py").write_text("broken = 1\n" if case == "broken" else "x = 1\n")
    if case == "two":
        (sub / "other.py").write_text("y = 2\n")
    runner = tmp_path / "runner.py"
    runner.write_text(FAKE_RUNNER)
    env = {**os.environ, "VICHECK_GRADE_RUNNER": f"{sys.executable} {runner}"}
    proc = subprocess.run(["bash", str(root / "run_autograder")], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((root / "results" / "results.json").read_text())
    if case == "one":
        assert results["score"] == 2.0 and results["tests"][0]["name"] == "kl1_x"
    elif case == "two":
        assert results["score"] == 0.0 and "exactly one" in results["output"]
    else:
        assert results["score"] == 0.0 and results["tests"] == []
    assert (sub / "student.py").exists() and not (sub / "grades").exists()


def test_torch_index_option(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    index = "http://127.0.0.1:8765/simple?token=a&b=1"
    assert main(["gradescope-bundle", str(out), "--torch-index", index]) == 0
    setup = (out / "setup.sh").read_text()
    assert f"--index-url '{index}' torch" in setup  # quoted: the shell sees one word, & and ? included
    assert "download.pytorch.org" not in setup
    # the shell reads back the very URL
    line = next(ln for ln in setup.splitlines() if "--index-url" in ln)
    echoed = subprocess.run(
        ["bash", "-c", f'set -- {line.split("--index-url ", 1)[1]}; echo "$1"'],
        text=True,
        capture_output=True,
        check=True,
    )
    assert echoed.stdout.strip() == index


@pytest.mark.parametrize(
    "index",
    [
        "download.pytorch.org/whl/cpu",
        "ftp://mirror/simple",
        "https://x/simple'; rm -rf /",
        "https://x/$HOME",
        "http://",
    ],
    ids=["no-scheme", "ftp", "quote", "dollar", "no-host"],
)
def test_a_torch_index_pip_or_the_shell_cannot_take_is_refused(
    tmp_path: Path, index: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gradescope-bundle", str(tmp_path / "b"), "--torch-index", index]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--torch-index" in err
    assert not (tmp_path / "b").exists()
