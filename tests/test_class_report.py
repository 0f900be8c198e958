"""The class page (``index.html``, ``summary.md``, ``vicheck report``) on a class of hand-written reports.

The reports are written directly (no grader run): varied scores, failures whose messages differ only in
numbers, a missing function, a notebook cell error, a time limit, a grader failure, an isolation event, a
load error, a report from before the ``status``/``isolation`` fields, and hostile text. The page is parsed
with the standard library's HTML parser and its numbers are checked against the JSON files.
"""

from __future__ import annotations

import json
import re
import shlex
import statistics
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

import vicheck
from vicheck.cli import main
from vicheck.grading import class_report
from vicheck.grading.class_report import (
    NUMBER_PLACEHOLDER,
    PLOTS_HINT,
    load_reports,
    message_shape,
    write_class_report,
)
from vicheck.grading.records import GradeReport, PropertyResult
from vicheck.grading.reports import write_feedback

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
HOSTILE_MESSAGE = "<script>alert('x')</script> & off by 2"
HOSTILE_CX = "<img src=x onerror=alert(1)>"
HOSTILE_ERROR = "<b>bold</b> & </td></table> unexpected"
ODD_NAME = "o'brien <&> co"

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


def _report(
    folder: Path,
    name: str,
    outcomes: dict[str, tuple[str, str, str]] | None = None,
    *,
    errors: list[str] | None = None,
    complete: bool = True,
    isolation: str = "process",
    feedback: bool = True,
    log: bool = False,
    extra: list[PropertyResult] | None = None,
) -> GradeReport:
    """Write ``<name>.json`` (and its feedback): every property of PROPS passes unless ``outcomes`` says
    (status, message, counterexample)."""
    outcomes = outcomes or {}
    props = []
    for prop, (functions, category, weight, description) in PROPS.items():
        status, message, cx = outcomes.get(prop, ("passed", "", ""))
        props.append(
            PropertyResult(
                prop,
                list(functions),
                category,
                weight,
                passed=status == "passed",
                message=message,
                counterexample=cx,
                status=status,
                seconds=0.1,
                description=description,
            )
        )
    report = GradeReport(
        submission=f"/submissions/{name}.py",
        properties=props + list(extra or []),
        errors=list(errors or []),
        profile="grade",
        hypothesis_seed="derandomized",
        versions={"vicheck": vicheck.__version__, "torch": "2.3.0"},
        rubric="rubric.toml (sha256 0123abcd)",
        complete=complete,
        submission_sha256="0" * 64,
        isolation=isolation,
    )
    report.write(folder / f"{name}.json")
    if feedback:
        write_feedback(report, folder / f"{name}.md")
    if log:
        (folder / f"{name}.log").write_text("$ pytest ...\n")
    return report


def _not_run(why: str) -> tuple[str, str, str]:
    return ("not run", f"not run: {why} while kl1_matches_exact was running", "")


@pytest.fixture
def class_dir(tmp_path: Path) -> Path:
    """A graded class as `vicheck grade` leaves it, plus the odd files a real folder collects."""
    out = tmp_path / "grades"
    out.mkdir()
    _report(out, "alice")
    _report(
        out,
        "bob",
        {
            "kl1_matches_exact": (
                "failed",
                f"{OFF_BY} 0.25 at a=-4.0\n  input: ...\n  got: 0.1",
                "kl_divergence_1(Normal(0., 1.), Normal(1., 1.), -4.0, 4.0, 500)",
            )
        },
    )
    _report(
        out,
        "carol",
        {
            "kl1_matches_exact": (
                "failed",
                f"{OFF_BY} 1.5e-03 at a=-10\n  got: 2",
                "kl_divergence_1(N(0, 1), N(2, 1))",
            ),
            "lp_transformed_integrates_to_one[exp-Gamma]": (
                "failed",
                "exp(lp_transformed) does not integrate to 1\n  got: 0.5",
                "lp_transformed(tensor([0.5]), Gamma(2., 1.), ExpTransform())",
            ),
        },
    )
    _report(
        out,
        "dave",
        {
            "sigmoid_matches_logistic": ("failed", "submission defines no `sigmoid`", ""),
            "sigmoid_prime_matches": ("failed", "submission defines no `sigmoid`, `sigmoid_prime`", ""),
            "kl1_matches_exact": ("failed", "ValueError: boom", "kl_divergence_1(N(0, 1), N(0, 1), 1.0, 0.0)"),
        },
    )
    _report(
        out,
        "erin",
        {"kl1_matches_exact": ("failed", f"{OFF_BY} 7 at a=-4", "kl_divergence_1(N(0, 1), N(9, 1))")},
        errors=["cell 3 (`plt.savefig('figs/x.png')`): FileNotFoundError: [Errno 2] No such file: 'figs/x.png'"],
    )
    reason = "the submission's time limit was reached"
    _report(
        out,
        "frank",
        {
            "kl1_matches_exact": _not_run(reason),
            "lp_transformed_integrates_to_one[exp-Gamma]": _not_run(reason),
            "kl2_finite": _not_run(reason),
        },
        errors=[f"{reason} (60 s) while kl1_matches_exact was running; the grading process was stopped"],
    )
    _report(  # the grader removes a grader failure's feedback: it is not a grade
        out,
        "grace",
        {p: _not_run("the grader failed") for p in PROPS},
        errors=["the grader failed: pytest exited with status 4; see /grades/grace.log"],
        complete=False,
        feedback=False,
        log=True,
    )
    _report(
        out,
        "heidi",
        {"kl2_finite": ("failed", "the submission's process died during kl_divergence_2(...): killed by SIGKILL", "")},
        errors=[
            "kl_divergence_2(Normal(0, 1), Normal(1, 1), 10) crashed the child (killed by SIGKILL); child restarted"
        ],
        isolation="namespaces",
    )
    _report(
        out,
        "ivan",
        {p: ("failed", f"submission defines no {', '.join(f'`{f}`' for f in PROPS[p][0])}", "") for p in PROPS},
        errors=["line 12 (`import foo`): ModuleNotFoundError: No module named 'foo'"],
    )
    _report(
        out,
        "mallory",
        {"kl1_matches_exact": ("failed", HOSTILE_MESSAGE, HOSTILE_CX)},
        errors=[HOSTILE_ERROR],
        extra=[
            PropertyResult(
                "evil<i>prop</i>",
                ["<svg onload=alert(3)>"],
                "correctness",
                1.0,
                status="failed",
                message="<iframe src=x></iframe>",
                description="<script>bad()</script> what it checks.",
            )
        ],
    )
    _report(out, ODD_NAME, {"kl2_finite": ("failed", "KL is inf", "kl_divergence_2(N(0, 1), N(30, 1), 10)")})
    # judy: a report from before the `status`, `description` and `isolation` fields
    legacy = _report(out, "judy", {"sigmoid_matches_logistic": ("failed", "sigmoid(100.) is nan", "sigmoid(100.)")})
    data = legacy.to_json()
    del data["isolation"]
    for p in data["properties"]:
        del p["status"], p["description"], p["visibility"]
    (out / "judy.json").write_text(json.dumps(data))
    # what else lies in an output folder
    (out / "summary.csv").write_text("submission,score\nalice,9\n")
    (out / "alice.gradescope.json").write_text(json.dumps({"score": 9, "tests": []}))
    (out / "alice.junit.xml").write_text("<testsuites/>")
    (out / "notes.json").write_text("[1, 2, 3]")
    (out / "broken.json").write_text("{not json")
    (out / ".alice.json.tmp123").write_text("{")
    (out / ".vicheck").mkdir()
    (out / ".vicheck" / "alice.json").write_text(json.dumps({"submission_sha256": "0" * 64}))
    return out


def _reports(folder: Path) -> dict[str, dict[str, Any]]:
    """The student reports as plain JSON, read independently of the code under test."""
    skip = {"notes.json", "broken.json"}
    return {
        p.stem: json.loads(p.read_text())
        for p in sorted(folder.glob("*.json"))
        if p.name not in skip and not p.name.endswith(".gradescope.json")
    }


def _props(report: dict[str, Any]) -> list[dict[str, Any]]:
    props = report["properties"]
    assert isinstance(props, list)
    return props


def _percent(report: dict[str, Any]) -> float:
    total = sum(float(p["weight"]) for p in _props(report))
    score = sum(float(p["weight"]) for p in _props(report) if p["passed"])
    return 100.0 * score / total


def _not_run_in_json(p: dict[str, Any]) -> bool:
    return not p["passed"] and (p.get("status") != "failed") and str(p["message"]).startswith("not run")


# --------------------------------------------------------------------------------------------- HTML tree


class Node:
    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag, self.attrs = tag, attrs
        self.children: list[Node | str] = []

    def iter(self) -> Iterator[Node]:
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.iter()
            if (tag is None or n.tag == tag) and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def find(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag}> with {attrs}"
        return found[0]

    def text(self) -> str:
        return " ".join("".join(c if isinstance(c, str) else c.text() for c in self.children).split())


class TreeBuilder(HTMLParser):
    VOID = frozenset({"meta", "br", "img", "hr", "input", "link"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        tags = [n.tag for n in self.stack]
        assert tag in tags, f"</{tag}> closes nothing"
        while self.stack.pop().tag != tag:
            pass

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(path: Path) -> Node:
    builder = TreeBuilder()
    builder.feed(path.read_text(encoding="utf-8"))
    builder.close()
    assert [n.tag for n in builder.stack] == ["#document"], "unclosed elements"
    return builder.root


def card(tree: Node, key: str) -> str:
    """The value shown on one of the page's summary cards."""
    return tree.find("div", id=f"card-{key}").find("div", **{"class": "v"}).text()


# --------------------------------------------------------------------------------------------- tests


def test_message_shape_replaces_numbers_only() -> None:
    shape = message_shape("kl_divergence_1 off by 1e-06 at x=-3.5 (float32, 7 points, .5)\n  input: 99")
    assert shape == f"kl_divergence_1 off by {'<n>'} at x={'<n>'} (float32, {'<n>'} points, {'<n>'})"
    assert message_shape(f"{OFF_BY} 0.25 at a=-4.0") == message_shape(f"{OFF_BY} 7 at a=-4")
    assert message_shape("a 2.5E+3 b") == f"a {NUMBER_PLACEHOLDER} b"


def test_load_reports_skips_what_is_not_a_report(class_dir: Path) -> None:
    loaded = load_reports(class_dir)
    names = [s.name for s in loaded.students]
    assert names == sorted(_reports(class_dir))
    assert "summary" not in names and "alice.gradescope" not in names and "notes" not in names
    assert len(loaded.skipped) == 2
    assert any(n.startswith("notes.json") for n in loaded.skipped)
    assert any(n.startswith("broken.json") for n in loaded.skipped)
    judy = next(s.report for s in loaded.students if s.name == "judy")
    statuses = {p.name: p.status for p in judy.properties}
    assert statuses["sigmoid_matches_logistic"] == "failed" and statuses["kl2_finite"] == "passed"
    with pytest.raises(FileNotFoundError):
        load_reports(class_dir / "missing")


def test_property_rows_match_the_json(class_dir: Path) -> None:
    page, _ = write_class_report(class_dir, now=NOW)
    tree = parse(page)
    reports = _reports(class_dir)
    rows = tree.find("table", id="property-table").find_all("tr", **{"class": "prop"})
    names = {str(p["name"]) for r in reports.values() for p in _props(r)}
    assert {r.attrs["data-property"] for r in rows} == names
    rates = []
    for row in rows:
        name = row.attrs["data-property"]
        entries = [p for r in reports.values() for p in _props(r) if p["name"] == name]
        passed = sum(bool(p["passed"]) for p in entries)
        not_run = sum(_not_run_in_json(p) for p in entries)
        assert int(row.attrs["data-graded"]) == len(entries), name
        assert int(row.attrs["data-passed"]) == passed, name
        assert int(row.attrs["data-not-run"]) == not_run, name
        assert int(row.attrs["data-failed"]) == len(entries) - passed - not_run, name
        rate = row.find("span", **{"class": "rate-text"}).text()
        assert rate == f"{passed} / {len(entries)} ({100 * passed / len(entries):.0f}%)"
        rates.append(passed / len(entries))
    assert rates == sorted(rates)  # hardest first
    # the concept is the first sentence of the docstring's first paragraph, without markup
    kl1 = tree.find("tr", data_property="kl1_matches_exact")
    assert kl1.find("div", **{"class": "concept"}).text() == "kl_divergence_1(p, q, a, b) equals KL(p || q)."
    sig = tree.find("tr", data_property="sigmoid_matches_logistic")
    assert sig.find("div", **{"class": "concept"}).text() == "σ(y) = e^y/(1+e^y) elementwise."


def test_failure_groups_by_shape(class_dir: Path) -> None:
    page, _ = write_class_report(class_dir, now=NOW)
    tree = parse(page)
    reports = _reports(class_dir)
    kl1 = [(name, p) for name, r in reports.items() for p in _props(r) if p["name"] == "kl1_matches_exact"]
    off_by = [(name, p) for name, p in kl1 if str(p["message"]).startswith(OFF_BY)]
    assert len(off_by) >= 2  # the fixture's point: messages that differ only in numbers
    box = tree.find("tr", data_for="kl1_matches_exact")
    groups = box.find_all("div", **{"class": "group"})
    first = groups[0]  # the most common shape comes first
    assert NUMBER_PLACEHOLDER in first.attrs["data-shape"] and first.attrs["data-shape"].startswith(OFF_BY)
    assert int(first.attrs["data-count"]) == len(off_by)
    assert all(int(first.attrs["data-count"]) >= int(g.attrs["data-count"]) for g in groups)
    # its counterexample is the shortest of the group, ties broken by name
    _, rep = min(off_by, key=lambda np: (len(str(np[1]["counterexample"])), np[0]))
    assert first.find("pre").text() == " ".join(str(rep["counterexample"]).split())
    # every failed (not "not run") kl1 result is in exactly one group
    failed = [p for _, p in kl1 if not p["passed"] and not _not_run_in_json(p)]
    counted = sum(int(g.attrs["data-count"]) for g in groups if g.attrs["data-status"] == "failed")
    assert counted == len(failed)
    boom = [g for g in groups if g.attrs["data-shape"] == "ValueError: boom"]
    assert len(boom) == 1 and boom[0].attrs["data-count"] == "1"
    # "not run" is shown apart from failures
    not_run = [g for g in groups if g.attrs["data-status"] == "not run"]
    assert sum(int(g.attrs["data-count"]) for g in not_run) == sum(_not_run_in_json(p) for _, p in kl1)


def test_function_rows_match_the_json(class_dir: Path) -> None:
    from reference.contract import NAMES

    page, _ = write_class_report(class_dir, now=NOW)
    tree = parse(page)
    reports = _reports(class_dir)
    rows = {r.attrs["data-function"]: r for r in tree.find("table", id="function-table").find_all("tr")[1:]}
    assert set(NAMES) <= set(rows)
    for fn in ("sigmoid", "sigmoid_prime", "kl_divergence_1", "lp_transformed", "kl_divergence_2"):
        mine = {name: [p for p in _props(r) if fn in p["functions"]] for name, r in reports.items()}
        mine = {k: v for k, v in mine.items() if v}
        missing = {k for k, v in mine.items() if any(f"`{fn}`" in str(p["message"]) for p in v)}
        pass_all = {k for k, v in mine.items() if all(p["passed"] for p in v)}
        row = rows[fn]
        assert int(row.attrs["data-students"]) == len(mine), fn
        assert row.find("td", **{"class": "n defined"}).text() == str(len(mine) - len(missing)), fn
        assert row.find("td", **{"class": "n pass-all"}).text() == str(len(pass_all)), fn
    assert int(rows["sigmoid"].attrs["data-defined"]) == len(reports) - 2  # dave and ivan lack it
    assert rows["prior"].attrs["data-students"] == "0"  # in the contract, exercised by no property here


def test_scores_median_quartiles_and_bins(class_dir: Path) -> None:
    np = pytest.importorskip("numpy")
    page, summary = write_class_report(class_dir, now=NOW)
    tree = parse(page)
    reports = _reports(class_dir)
    scored = {n: _percent(r) for n, r in reports.items() if r["complete"]}
    assert "grace" not in scored and len(scored) == len(reports) - 1
    q1, med, q3 = np.percentile(list(scored.values()), [25, 50, 75])  # numpy's default: linear
    assert med == pytest.approx(statistics.median(scored.values()))
    assert card(tree, "median") == f"{med:.1f}%"
    assert card(tree, "quartiles") == f"{q1:.1f}% – {q3:.1f}%"
    assert card(tree, "scored") == str(len(scored))
    stats = class_report.class_statistics(load_reports(class_dir), now=NOW).scores
    assert (stats.q1, stats.median, stats.q3) == pytest.approx((q1, med, q3))
    bins = [0] * 10
    for pct in scored.values():
        bins[min(9, int(pct // 10))] += 1
    cells = tree.find("table", id="bins").find_all("tr")[1].find_all("td")
    assert [int(c.text()) for c in cells] == bins
    notes = [p.text() for p in tree.find("h2", id="scores").find_all("p")] + [
        p.text() for p in tree.find_all("p", **{"class": "note"})
    ]
    assert any(n.startswith("Not in the distribution") and "grace" in n for n in notes)
    md = summary.read_text()
    assert f"| {med:.1f}% | {q1:.1f}% | {q3:.1f}% |" in md


def test_needs_a_look_and_links_resolve(class_dir: Path) -> None:
    page, summary = write_class_report(class_dir, now=NOW)
    tree = parse(page)
    rows = {r.attrs["data-student"]: r for r in tree.find("table", id="needs-look-table").find_all("tr")[1:]}
    kinds = {name: set(r.attrs["data-kinds"].split(";")) for name, r in rows.items()}
    assert kinds == {
        "grace": {"grader failure"},
        "frank": {"time limit"},
        "erin": {"notebook cell"},
        "ivan": {"load error"},
        "heidi": {"isolation event"},
        "mallory": {"other error"},
    }
    hrefs = {a.attrs["href"] for a in tree.find_all("a")}
    assert hrefs, "the page links nothing"
    for href in hrefs:
        parts = urlsplit(href)
        assert not parts.scheme and not parts.netloc, f"not a relative link: {href}"
        assert (class_dir / unquote(parts.path)).is_file(), f"broken link: {href}"
    links = {a.text(): unquote(a.attrs["href"]) for a in rows["erin"].find_all("a")}
    assert links["feedback"] == "erin.md" and links["JSON"] == "erin.json"
    grace = {a.text(): unquote(a.attrs["href"]) for a in rows["grace"].find_all("a")}
    assert "feedback" not in grace and grace["JSON"] == "grace.json" and grace["log"] == "grace.log"
    assert unquote(tree.find("tr", data_student=ODD_NAME).find("a").attrs["href"]) == f"{ODD_NAME}.md"
    for target in re.findall(r"\]\(([^)]+)\)", summary.read_text()):
        assert (class_dir / unquote(target)).is_file(), f"broken link in summary.md: {target}"


def test_hostile_text_is_escaped(class_dir: Path) -> None:
    page, summary = write_class_report(class_dir, now=NOW)
    raw = page.read_text()
    for bad in ("<script>", "<img", "<b>bold", "<iframe", "<svg onload", "<i>prop"):
        assert bad not in raw, bad
    tree = parse(page)
    assert not tree.find_all("script") and not tree.find_all("img") and not tree.find_all("iframe")
    assert not [n for n in tree.iter() if any(k.startswith("on") for k in n.attrs)]
    text = tree.text()
    assert HOSTILE_CX in text and HOSTILE_MESSAGE in text and "<script>bad()</script> what it checks." in text
    assert HOSTILE_CX in text and HOSTILE_ERROR in text and ODD_NAME in text
    assert tree.find("tr", data_property="evil<i>prop</i>").find("code").text() == "evil<i>prop</i>"
    # markdown: every table row has as many unescaped pipes as its header
    md = summary.read_text()
    for table in re.findall(r"(?:^\|.*\|$\n?)+", md, flags=re.M):
        lines = table.strip().splitlines()
        width = len(re.findall(r"(?<!\\)\|", lines[0]))
        assert all(len(re.findall(r"(?<!\\)\|", line)) == width for line in lines), table
    assert r"KL(p \|\| q)" in md


def test_provenance(class_dir: Path) -> None:
    page, summary = write_class_report(class_dir, now=NOW)
    tree = parse(page)
    rows = {r.attrs["data-key"]: r.find("td").text() for r in tree.find("table", id="provenance-table").find_all("tr")}
    assert rows["generated"] == "2024-05-01 12:00:00 UTC"
    assert rows["vicheck (this page)"] == vicheck.__version__
    assert f"vicheck {vicheck.__version__}" in rows["versions in the reports"]
    assert rows["profile"] == "grade" and rows["rubric"] == "rubric.toml (sha256 0123abcd)"
    for level in ("process", "namespaces", "unknown"):  # judy's old report says nothing: unknown
        assert level in rows["isolation"]
    assert "differs between reports" in rows["isolation"]
    skipped = tree.find("ul", id="skipped").text()
    assert "notes.json" in skipped and "broken.json" in skipped and "summary" not in skipped
    assert "2024-05-01 12:00:00 UTC" in summary.read_text()


def test_output_is_reproducible(class_dir: Path) -> None:
    first = [p.read_bytes() for p in write_class_report(class_dir, now=NOW)]
    second = [p.read_bytes() for p in write_class_report(class_dir, now=NOW)]
    assert first == second
    later = write_class_report(class_dir, now=datetime(2024, 5, 2, tzinfo=timezone.utc))[0].read_bytes()
    assert later != first[0]


def test_plot_from_matplotlib(class_dir: Path) -> None:
    pytest.importorskip("matplotlib")
    tree = parse(write_class_report(class_dir, now=NOW)[0])
    figure = tree.find("figure", **{"class": "plot"})
    assert figure.find_all("svg") and not tree.find_all(id="plots-hint")


def test_works_without_matplotlib(class_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for mod in ("matplotlib", "matplotlib.figure", "matplotlib.ticker"):
        monkeypatch.setitem(sys.modules, mod, None)  # `import matplotlib` now raises ImportError
    page, _ = write_class_report(class_dir, now=NOW)
    tree = parse(page)
    assert not tree.find_all("svg")
    assert tree.find("p", id="plots-hint").text() == PLOTS_HINT and "pip install 'vicheck[plots]'" in PLOTS_HINT
    bars = [int(n.text()) for n in tree.find_all("span", **{"class": "hn"})]
    cells = [int(c.text()) for c in tree.find("table", id="bins").find_all("tr")[1].find_all("td")]
    assert bars == cells and sum(bars) == len(_reports(class_dir)) - 1
    assert len(tree.find_all("tr", **{"class": "prop"})) == len(PROPS) + 1  # the tables are all there


def test_a_class_without_a_score(tmp_path: Path) -> None:
    _report(tmp_path, "grace", {p: _not_run("the grader failed") for p in PROPS}, complete=False, feedback=False)
    tree = parse(write_class_report(tmp_path, now=NOW)[0])
    assert card(tree, "median") == "–"
    assert tree.find("tr", data_student="grace").attrs["data-kinds"] == "grader failure"


def test_report_command(class_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (class_dir / "index.html").unlink(missing_ok=True)
    assert main(["report", str(class_dir), "--date", "2024-05-01T12:00:00+00:00"]) == 0
    assert str(class_dir / "index.html") in capsys.readouterr().out
    assert "2024-05-01 12:00:00 UTC" in (class_dir / "index.html").read_text()
    assert (class_dir / "summary.md").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "summary.csv").write_text("submission\n")
    for folder in (empty, tmp_path / "missing"):
        assert main(["report", str(folder)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("vicheck report: ") and str(folder) in err
        assert not (folder / "index.html").exists()
    assert main(["report", str(class_dir), "--date", "yesterday"]) == 2
    assert "ISO 8601" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- the hook

RUNNER = r"""
import argparse
from pathlib import Path
from vicheck.grading.records import GradeReport, PropertyResult
from vicheck.grading.reports import write_feedback

p = argparse.ArgumentParser()
for opt in ("--impl", "--grade-report", "--vicheck-feedback"):
    p.add_argument(opt)
a, _ = p.parse_known_args()
ok = Path(a.impl).name.startswith("good")
prop = PropertyResult("sigmoid_matches_logistic", ["sigmoid"], "correctness", 1.0, ok,
                      status="passed" if ok else "failed", message="" if ok else "sigmoid is off by 0.5")
report = GradeReport(submission=a.impl, properties=[prop], complete=True)
report.write(a.grade_report)
write_feedback(report, a.vicheck_feedback)
"""


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two submissions and a stand-in for the pytest process (``VICHECK_GRADE_RUNNER``)."""
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    monkeypatch.setenv("VICHECK_GRADE_RUNNER", shlex.join([sys.executable, str(script)]))
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "good.py").write_text("x = 1\n")
    (subs / "bad.py").write_text("x = 2\n")
    return subs


def test_grade_writes_the_class_page(runner: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "grades"
    assert main(["grade", str(runner), "--out", str(out), "--jobs", "1"]) == 0
    assert f"class page in {out / 'index.html'}" in capsys.readouterr().out
    tree = parse(out / "index.html")
    row = tree.find("tr", data_property="sigmoid_matches_logistic")
    assert (row.attrs["data-passed"], row.attrs["data-graded"]) == ("1", "2")
    assert (out / "summary.md").is_file()


def test_grade_survives_a_failing_page(
    runner: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> tuple[Path, Path]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(class_report, "write_class_report", broken)
    out = tmp_path / "grades"
    assert main(["grade", str(runner), "--out", str(out), "--jobs", "1"]) == 0
    captured = capsys.readouterr()
    assert "vicheck grade: could not write index.html: disk on fire\n" in captured.err
    assert "class page" not in captured.out and (out / "summary.csv").is_file()
    assert not (out / "index.html").exists()
