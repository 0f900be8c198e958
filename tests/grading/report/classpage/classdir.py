"""Graded classes written by hand for the class page's tests: ``<name>.json`` reports as plain JSON (no grader
run, and nothing of vicheck imported, so the same class can be drawn by an older vicheck to compare pages).

:func:`build_class` is a class with varied scores, failures whose messages differ only in numbers, missing
functions, a notebook cell error, a time limit, a grader failure, an isolation event, a load error, a report
from before the ``status``/``isolation``/kind fields, hostile text and the odd files an output folder collects.
:func:`build_varied_class` adds a submission that did not load (with and without a recorded error), an
unfinished run, a submission that cannot be graded, hidden properties, unicode and a failure shared by a dozen
students. Each error carries its kind and each property without a verdict its reason, as the grader writes
them; the messages are the ones the grader wrote before kinds existed, so a reader of either era sees the same.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
HOSTILE_MESSAGE = "<script>alert('x')</script> & off by 2"
HOSTILE_CX = "<img src=x onerror=alert(1)>"
HOSTILE_ERROR = "<b>bold</b> & </td></table> unexpected"
ODD_NAME = "o'brien <&> co"
UNICODE_NAME = "zoë-ñ 学生"
#: the versions every report records
VERSIONS = {"vicheck": "0.1.0", "torch": "2.3.0"}
#: the contract the golden pages were drawn with (the reference's grows; the pages' bytes must not follow it)
CONTRACT = ("sigmoid", "sigmoid_prime", "kl_divergence_1", "lp_transformed", "kl_divergence_2", "prior", "integrate")

# name -> (functions, category, weight, description)
PROPS: dict[str, tuple[list[str], str, float, str]] = {
    "sigmoid_matches_logistic": (
        ["sigmoid"],
        "correctness",
        2.0,
        r":math:`\sigma(y) = e^y/(1+e^y)` elementwise. Tolerance: float32 rounding.",
    ),
    "sigmoid_prime_matches": (["sigmoid", "sigmoid_prime"], "correctness", 1.0, "The derivative of the logistic."),
    "kl1_matches_exact": (
        ["kl_divergence_1"],
        "correctness",
        3.0,
        "``kl_divergence_1(p, q, a, b)`` equals KL(p || q). Tolerance: the trapezoid bound.",
    ),
    "lp_transformed_integrates_to_one[exp-Gamma]": (
        ["lp_transformed"],
        "correctness",
        2.0,
        r":math:`\int p_Y(y)\,dy = 1`: the density integrates to one.",
    ),
    "kl2_finite": (["kl_divergence_2"], "robustness", 1.0, "KL by Monte Carlo stays finite."),
}
OFF_BY = "kl_divergence_1 is off by"  # the kl1 failures that differ only in numbers
TIME_LIMIT = "the submission's time limit was reached"

#: (status, message, counterexample, reason, missing)
Outcome = tuple[str, str, str, str, list[str]]


def failed(message: str, cx: str = "") -> Outcome:
    return ("failed", message, cx, "", [])


def lacks(*functions: str) -> Outcome:
    """The property failed because the submission defines none of ``functions``."""
    return ("failed", f"submission defines no {', '.join(f'`{f}`' for f in functions)}", "", "missing", list(functions))


def not_run(why: str, reason: str) -> Outcome:
    return ("not run", f"not run: {why} while kl1_matches_exact was running", "", reason, [])


def not_loaded(why: str) -> Outcome:
    return ("failed", f"not graded: the submission did not load ({why})", "", "not_loaded", [])


def prop_json(
    name: str,
    functions: list[str],
    category: str,
    weight: float,
    outcome: Outcome = ("passed", "", "", "", []),
    description: str = "",
    visibility: str = "visible",
) -> dict[str, Any]:
    status, message, cx, reason, missing = outcome
    return {
        "name": name,
        "functions": list(functions),
        "category": category,
        "weight": weight,
        "passed": status == "passed",
        "message": message,
        "counterexample": cx,
        "seconds": 0.1,
        "status": status,
        "visibility": visibility,
        "description": description,
        "reason": reason,
        "missing": missing,
    }


def write_report(
    folder: Path,
    name: str,
    outcomes: dict[str, Outcome] | None = None,
    *,
    errors: list[tuple[str, str]] | None = None,
    complete: bool = True,
    running: str = "",
    isolation: str = "process",
    feedback: bool = True,
    log: bool = False,
    extra: list[dict[str, Any]] | None = None,
    hidden_left_out: int = 0,
) -> dict[str, Any]:
    """Write ``<name>.json`` (and a feedback file): every property of PROPS passes unless ``outcomes`` says
    otherwise; ``errors`` are (kind, text)."""
    outcomes = outcomes or {}
    props = [
        prop_json(prop, functions, category, weight, outcomes.get(prop, ("passed", "", "", "", [])), description)
        for prop, (functions, category, weight, description) in PROPS.items()
    ]
    props += extra or []
    data = {
        "submission": f"/submissions/{name}.py",
        "score": sum(p["weight"] for p in props if p["passed"]),
        "max_score": sum(p["weight"] for p in props),
        "properties": props,
        "errors": [text for _, text in errors or []],
        "error_kinds": [kind for kind, _ in errors or []],
        "profile": "grade",
        "hypothesis_seed": "derandomized",
        "versions": dict(VERSIONS),
        "rubric": "rubric.toml (sha256 0123abcd)",
        "hidden_left_out": hidden_left_out,
        "running": running,
        "complete": complete,
        "submission_sha256": "0" * 64,
        "isolation": isolation,
    }
    (folder / f"{name}.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    if feedback:  # only its existence matters to the page (a link)
        (folder / f"{name}.md").write_text(f"# Feedback: {name}.py\n", encoding="utf-8")
    if log:
        (folder / f"{name}.log").write_text("$ pytest ...\n", encoding="utf-8")
    return data


def make_legacy(path: Path, *, strip: tuple[str, ...] = ("status", "description", "visibility")) -> None:
    """Rewrite the report in ``path`` as a vicheck before the kind fields wrote it: no ``error_kinds``, no
    ``isolation``, and no ``reason``/``missing`` (nor the fields in ``strip``) on its properties."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("error_kinds", None)
    data.pop("isolation", None)
    for p in data["properties"]:
        for key in ("reason", "missing", *strip):
            p.pop(key, None)
    path.write_text(json.dumps(data), encoding="utf-8")


def build_class(out: Path) -> Path:
    """A graded class in ``out`` as ``vicheck grade`` leaves it, plus the odd files a real folder collects."""
    out.mkdir(parents=True, exist_ok=True)
    write_report(out, "alice")
    off = f"{OFF_BY} 0.25 at a=-4.0\n  input: ...\n  got: 0.1"
    write_report(
        out,
        "bob",
        {"kl1_matches_exact": failed(off, "kl_divergence_1(Normal(0., 1.), Normal(1., 1.), -4.0, 4.0, 500)")},
    )
    write_report(
        out,
        "carol",
        {
            "kl1_matches_exact": failed(f"{OFF_BY} 1.5e-03 at a=-10\n  got: 2", "kl_divergence_1(N(0, 1), N(2, 1))"),
            "lp_transformed_integrates_to_one[exp-Gamma]": failed(
                "exp(lp_transformed) does not integrate to 1\n  got: 0.5",
                "lp_transformed(tensor([0.5]), Gamma(2., 1.), ExpTransform())",
            ),
        },
    )
    write_report(
        out,
        "dave",
        {
            "sigmoid_matches_logistic": lacks("sigmoid"),
            "sigmoid_prime_matches": lacks("sigmoid", "sigmoid_prime"),
            "kl1_matches_exact": failed("ValueError: boom", "kl_divergence_1(N(0, 1), N(0, 1), 1.0, 0.0)"),
        },
    )
    write_report(
        out,
        "erin",
        {"kl1_matches_exact": failed(f"{OFF_BY} 7 at a=-4", "kl_divergence_1(N(0, 1), N(9, 1))")},
        errors=[
            (
                "notebook_cell",
                "cell 3 (`plt.savefig('figs/x.png')`): FileNotFoundError: [Errno 2] No such file: 'figs/x.png'",
            )
        ],
    )
    stopped = {
        p: not_run(TIME_LIMIT, "time_limit")
        for p in ("kl1_matches_exact", "lp_transformed_integrates_to_one[exp-Gamma]", "kl2_finite")
    }
    write_report(
        out,
        "frank",
        stopped,
        errors=[
            ("time_limit", f"{TIME_LIMIT} (60 s) while kl1_matches_exact was running; the grading process was stopped")
        ],
    )
    write_report(  # the grader removes a grader failure's feedback: it is not a grade
        out,
        "grace",
        {p: not_run("the grader failed", "grader_failure") for p in PROPS},
        errors=[("grader_failure", "the grader failed: pytest exited with status 4; see /grades/grace.log")],
        complete=False,
        feedback=False,
        log=True,
    )
    write_report(
        out,
        "heidi",
        {"kl2_finite": failed("the submission's process died during kl_divergence_2(...): killed by SIGKILL")},
        errors=[
            (
                "isolation_event",
                "kl_divergence_2(Normal(0, 1), Normal(1, 1), 10) crashed the child (killed by SIGKILL); "
                "child restarted",
            )
        ],
        isolation="namespaces",
    )
    write_report(
        out,
        "ivan",
        {p: lacks(*PROPS[p][0]) for p in PROPS},
        errors=[("load_error", "line 12 (`import foo`): ModuleNotFoundError: No module named 'foo'")],
    )
    evil = prop_json(
        "evil<i>prop</i>",
        ["<svg onload=alert(3)>"],
        "correctness",
        1.0,
        failed("<iframe src=x></iframe>"),
        description="<script>bad()</script> what it checks.",
    )
    write_report(
        out,
        "mallory",
        {"kl1_matches_exact": failed(HOSTILE_MESSAGE, HOSTILE_CX)},
        errors=[("other", HOSTILE_ERROR)],
        extra=[evil],
    )
    write_report(out, ODD_NAME, {"kl2_finite": failed("KL is inf", "kl_divergence_2(N(0, 1), N(30, 1), 10)")})
    # judy: a report from before the `status`, `description`, `isolation` and kind fields
    write_report(out, "judy", {"sigmoid_matches_logistic": failed("sigmoid(100.) is nan", "sigmoid(100.)")})
    make_legacy(out / "judy.json")
    # what else lies in an output folder
    (out / "summary.csv").write_text("submission,score\nalice,9\n")
    (out / "alice.gradescope.json").write_text(json.dumps({"score": 9, "tests": []}))
    (out / "alice.junit.xml").write_text("<testsuites/>")
    (out / "notes.json").write_text("[1, 2, 3]")
    (out / "broken.json").write_text("{not json")
    (out / ".alice.json.tmp123").write_text("{")
    (out / ".vicheck").mkdir(exist_ok=True)
    (out / ".vicheck" / "alice.json").write_text(json.dumps({"submission_sha256": "0" * 64}))
    return out


def build_varied_class(out: Path) -> Path:
    """:func:`build_class` and more: every kind of trouble the page tells apart, hidden properties, unicode."""
    build_class(out)
    load = "load: SyntaxError: invalid syntax (kim.py, line 3)"
    write_report(
        out, "kim", {p: not_loaded("SyntaxError: invalid syntax") for p in PROPS}, errors=[("load_error", load)]
    )
    # leo: the properties say it did not load, the errors do not (a report edited by hand)
    write_report(out, "leo", {p: not_loaded("RuntimeError: import-time failure") for p in PROPS})
    write_report(  # an unfinished run: the grader was killed while a property ran
        out,
        "nina",
        {
            "kl2_finite": ("pending", "", "", "", []),
            "lp_transformed_integrates_to_one[exp-Gamma]": ("pending", "", "", "", []),
        },
        complete=False,
        running="kl2_finite",
        feedback=False,
    )
    write_report(
        out,
        "olga",
        {p: not_run("cannot grade this submission", "not_run") for p in PROPS},
        errors=[("not_gradable", "cannot grade this submission: it is a PDF, not Python")],
    )
    hidden = prop_json(
        "hidden_kl_symmetry",
        ["kl_divergence_1"],
        "correctness",
        2.0,
        description="KL is not symmetric.",
        visibility="hidden",
    )
    write_report(
        out,
        UNICODE_NAME,
        {
            "sigmoid_prime_matches": failed(
                "σ′(0) ≠ ¼: got 0.3 — für alle y ≤ 0", "sigmoid_prime(tensor([0.]))  # ≈ 0.3"
            )
        },
        extra=[hidden],
        hidden_left_out=1,
    )
    for i in range(1, 12):  # a dozen students share one failure: the page folds the list, summary.md shortens it
        cx = (
            f"kl_divergence_2(N(0, 1), N({i}, 1), ``10``)\n  # second line"
            if i == 1
            else f"kl_divergence_2(N(0, 1), N({30 + i}, 1), 10)"
        )
        write_report(out, f"s{i:02d}", {"kl2_finite": failed(f"KL is inf at n={10 * i}", cx)}, extra=[hidden])
    return out
