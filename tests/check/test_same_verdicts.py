"""``vicheck check`` gives each bundled example the verdicts ``vicheck grade --self-check`` gives it (same
rubric, same profile): the same properties, statuses, scores and messages, and the same count of hidden ones."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.check.helpers import EXAMPLES, vicheck

#: the example rubric's weights and limits, the ci profile, and more hidden properties (a shorter run, and
#: more for the self-check to count without naming)
RUBRIC = (
    (EXAMPLES / "rubric.toml")
    .read_text(encoding="utf-8")
    .replace('profile = "grade"', 'profile = "ci"')
    .replace(
        'hidden = ["kl2_*"]', 'hidden = ["kl2_*", "mode_seeking_*", "mass_covering_*", "lp_transformed_interval_*"]'
    )
)
SUBMISSIONS = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".py", ".ipynb"))


def _verdicts(result: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(t["name"], t["status"], t["score"], t["message"], t["filename"]) for t in result["tests"]]


@pytest.mark.slow
def test_check_gives_the_self_checks_verdicts(tmp_path: Path) -> None:
    assert 'profile = "ci"' in RUBRIC and "mode_seeking_*" in RUBRIC and len(SUBMISSIONS) == 4
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(RUBRIC, encoding="utf-8")
    out = tmp_path / "selfcheck"
    graded = vicheck(
        "grade", *map(str, SUBMISSIONS), "--out", str(out), "--rubric", str(rubric), "--self-check", "--quiet",
        "--formats", "classroom", cwd=tmp_path, timeout=900,
    )  # fmt: skip
    assert graded.returncode == 0, graded.stdout + graded.stderr
    for submission in SUBMISSIONS:
        result = tmp_path / f"{submission.stem}.check.json"
        checked = vicheck(
            "check",
            str(submission),
            "--rubric",
            str(rubric),
            "--classroom-result",
            str(result),
            cwd=tmp_path,
            timeout=600,
        )
        assert checked.returncode in (0, 1), checked.stdout + checked.stderr
        mine = json.loads(result.read_text())
        theirs = json.loads((out / f"{submission.stem}.classroom.json").read_text())
        assert _verdicts(mine) == _verdicts(theirs), submission.name
        assert (mine["status"], mine["max_score"]) == (theirs["status"], theirs["max_score"])
        report = json.loads((out / f"{submission.stem}.json").read_text())
        assert report["profile"] == "ci" and report["hidden_left_out"] > 0
        said = re.search(r"(\d+) hidden properties run only in the final grading", checked.stdout)
        assert said and int(said.group(1)) == report["hidden_left_out"], checked.stdout
        assert checked.returncode == (0 if mine["status"] == "pass" else 1)
