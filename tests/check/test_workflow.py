"""``vicheck classroom-workflow DIR``: a valid GitHub Actions workflow that installs vicheck with CPU torch, runs
the check on each push and hands its result to GitHub Classroom's reporter."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.check.helpers import EXAMPLES, vicheck
from vicheck.check.workflow import CPU_WHEELS, write_workflow

yaml = pytest.importorskip("yaml")


def _steps(workflow: dict[str, object]) -> list[dict[str, object]]:
    jobs = workflow["jobs"]
    assert isinstance(jobs, dict) and len(jobs) == 1
    (job,) = jobs.values()
    assert job["name"] == "Autograding Tests"  # the check run the reporter posts the points to
    assert job["runs-on"] == "ubuntu-latest" and "github-classroom[bot]" in job["if"]
    return list(job["steps"])


def test_the_workflow_is_valid_yaml_naming_the_command(tmp_path: Path) -> None:
    repo = tmp_path / "template"
    repo.mkdir()
    (repo / "lecture_4.ipynb").write_text("{}")
    run = vicheck("classroom-workflow", str(repo), "--rubric", str(EXAMPLES / "rubric.toml"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    path = repo / ".github" / "workflows" / "classroom.yml"
    assert f"wrote {path}" in run.stdout
    workflow = yaml.safe_load(path.read_text())
    assert workflow["name"] == "Autograding Tests"
    assert set(workflow["on"]) >= {"push"}  # "on" quoted: YAML 1.1 would read a bare on as true
    assert workflow["permissions"] == {"checks": "write", "actions": "read", "contents": "read"}
    steps = _steps(workflow)
    install = next(s for s in steps if "pip install" in str(s.get("run", "")))
    assert f"--extra-index-url {CPU_WHEELS}" in str(install["run"]) and "vicheck[grade]==" in str(install["run"])
    check = next(s for s in steps if s.get("id") == "vicheck")
    command = str(check["run"])
    assert "vicheck check lecture_4.ipynb --rubric .github/vicheck/rubric.toml --classroom-result" in command
    assert "GITHUB_OUTPUT" in command and "base64" in command
    reporter = steps[-1]
    assert reporter["uses"] == "classroom-resources/autograding-grading-reporter@v1"
    assert reporter["with"] == {"runners": "vicheck"}
    assert reporter["env"] == {"VICHECK_RESULTS": "${{ steps.vicheck.outputs.result }}"}
    # the rubric travels with the repository, where the workflow names it
    assert (repo / ".github" / "vicheck" / "rubric.toml").read_bytes() == (EXAMPLES / "rubric.toml").read_bytes()


def test_paths_are_quoted_for_the_shell(tmp_path: Path) -> None:
    (path,) = write_workflow(tmp_path, "my notebook's.ipynb", install="git+https://example.org/vicheck.git")
    steps = _steps(yaml.safe_load(path.read_text()))
    command = str(next(s for s in steps if s.get("id") == "vicheck")["run"])
    assert """vicheck check 'my notebook'"'"'s.ipynb' --classroom-result""" in command


def test_the_submission_must_be_found(tmp_path: Path) -> None:
    run = vicheck("classroom-workflow", str(tmp_path), cwd=tmp_path)
    assert run.returncode == 2 and "--submission" in run.stderr
    run = vicheck("classroom-workflow", str(tmp_path), "--submission", "../escape.py", cwd=tmp_path)
    assert run.returncode == 2 and "inside the repository" in run.stderr
