"""``index.html`` on a class of hand-written reports: the page is parsed with the standard library's HTML
parser and its numbers are checked against the JSON files; hostile report text must reach the page escaped;
and the page's bytes are those of the class page before it moved to templates (a golden page)."""

from __future__ import annotations

import dataclasses
import re
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.grading.report.classpage.classdir import (
    CONTRACT,
    HOSTILE_CX,
    HOSTILE_ERROR,
    HOSTILE_MESSAGE,
    NOW,
    ODD_NAME,
    OFF_BY,
    PROPS,
    build_varied_class,
    failed,
    not_run,
    prop_json,
    write_report,
)
from tests.grading.report.classpage.pages import (
    FakeMatch,
    card,
    not_run_in_json,
    parse,
    percent,
    props,
    reports,
    write_pages,
)
from vicheck.grading.report.classpage import NUMBER_PLACEHOLDER, PLOTS_HINT, class_statistics, render_html
from vicheck.grading.report.classpage import statistics as class_stats
from vicheck.grading.report.classpage.html import histogram_svg
from vicheck.grading.report.folder import load_reports

DATA = Path(__file__).with_name("data")
MATPLOTLIB = ("matplotlib", "matplotlib.figure", "matplotlib.ticker")


def _hide_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    for mod in MATPLOTLIB:
        monkeypatch.setitem(sys.modules, mod, None)  # `import matplotlib` now raises ImportError


def test_property_rows_match_the_json(class_dir: Path) -> None:
    page, _ = write_pages(class_dir)
    tree = parse(page)
    found = reports(class_dir)
    rows = tree.find("table", id="property-table").find_all("tr", **{"class": "prop"})
    names = {str(p["name"]) for r in found.values() for p in props(r)}
    assert {r.attrs["data-property"] for r in rows} == names
    rates = []
    for row in rows:
        name = row.attrs["data-property"]
        entries = [p for r in found.values() for p in props(r) if p["name"] == name]
        passed = sum(bool(p["passed"]) for p in entries)
        not_run = sum(not_run_in_json(p) for p in entries)
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
    page, _ = write_pages(class_dir)
    tree = parse(page)
    found = reports(class_dir)
    kl1 = [(name, p) for name, r in found.items() for p in props(r) if p["name"] == "kl1_matches_exact"]
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
    failures = [p for _, p in kl1 if not p["passed"] and not not_run_in_json(p)]
    counted = sum(int(g.attrs["data-count"]) for g in groups if g.attrs["data-status"] == "failed")
    assert counted == len(failures)
    boom = [g for g in groups if g.attrs["data-shape"] == "ValueError: boom"]
    assert len(boom) == 1 and boom[0].attrs["data-count"] == "1"
    # "not run" is shown apart from failures
    not_run = [g for g in groups if g.attrs["data-status"] == "not run"]
    assert sum(int(g.attrs["data-count"]) for g in not_run) == sum(not_run_in_json(p) for _, p in kl1)


def test_function_rows_match_the_json(class_dir: Path) -> None:
    from reference.contract import NAMES

    page, _ = write_pages(class_dir)
    tree = parse(page)
    found = reports(class_dir)
    rows = {r.attrs["data-function"]: r for r in tree.find("table", id="function-table").find_all("tr")[1:]}
    assert set(NAMES) <= set(rows)
    for fn in ("sigmoid", "sigmoid_prime", "kl_divergence_1", "lp_transformed", "kl_divergence_2"):
        mine = {name: [p for p in props(r) if fn in p["functions"]] for name, r in found.items()}
        mine = {k: v for k, v in mine.items() if v}
        missing = {k for k, v in mine.items() if any(fn in p.get("missing", []) for p in v)}
        pass_all = {k for k, v in mine.items() if all(p["passed"] for p in v)}
        row = rows[fn]
        assert int(row.attrs["data-students"]) == len(mine), fn
        assert row.find("td", **{"class": "n defined"}).text() == str(len(mine) - len(missing)), fn
        assert row.find("td", **{"class": "n pass-all"}).text() == str(len(pass_all)), fn
    assert int(rows["sigmoid"].attrs["data-defined"]) == len(found) - 2  # dave and ivan lack it
    assert rows["prior"].attrs["data-students"] == "0"  # in the contract, exercised by no property here


def test_scores_median_quartiles_and_bins(class_dir: Path) -> None:
    np = pytest.importorskip("numpy")
    page, _ = write_pages(class_dir)
    tree = parse(page)
    found = reports(class_dir)
    scored = {n: percent(r) for n, r in found.items() if r["complete"]}
    assert "grace" not in scored and len(scored) == len(found) - 1
    q1, med, q3 = np.percentile(list(scored.values()), [25, 50, 75])  # numpy's default: linear
    assert med == pytest.approx(statistics.median(scored.values()))
    assert card(tree, "median") == f"{med:.1f}%"
    assert card(tree, "quartiles") == f"{q1:.1f}% – {q3:.1f}%"
    assert card(tree, "scored") == str(len(scored))
    stats = class_statistics(load_reports(class_dir), now=NOW).scores
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


def test_needs_a_look_and_links_resolve(class_dir: Path) -> None:
    page, _ = write_pages(class_dir)
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


def test_hostile_text_is_escaped(class_dir: Path) -> None:
    page, _ = write_pages(class_dir)
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


def test_report_text_is_escaped_by_the_templates(tmp_path: Path) -> None:
    """A script in a student's name, a message, a counterexample, a function's name, a property's name, an
    error, a category and a description is text on the page, wherever it is printed (text or attribute)."""
    script = "<script>alert(1)</script>"
    name = "<script>x=1"  # a file name cannot hold the closing tag's slash
    evil = prop_json(
        f"p{script}",
        [f"fn{script}"],
        f"cat{script}",
        1.0,
        failed(f"msg{script}\nmore{script}", f"cx{script}"),
        description=f"doc{script}. More.",
    )
    write_report(
        tmp_path, name, {"kl2_finite": failed(f"kl{script}", f"call{script}")}, errors=[("other", script)], extra=[evil]
    )
    write_report(tmp_path, "alice", extra=[dict(evil, passed=True, status="passed", message="", counterexample="")])
    page, _ = write_pages(tmp_path, matches=FakeMatch(unmatched=(name,), missing=(f"Student {script}",)))
    raw = page.read_text(encoding="utf-8")
    assert "<script" not in raw and "&lt;script&gt;" in raw
    tree = parse(page)
    assert not tree.find_all("script")
    text = tree.text()
    for shown in (f"msg{script}", f"cx{script}", f"fn{script}", f"p{script}", f"cat{script}", f"call{script}"):
        assert shown in text, shown
    assert tree.find("tr", data_student=name).find("td").text() == name
    assert (
        tree.find("tr", data_property=f"p{script}")
        .find("div", **{"class": "concept"})
        .attrs["title"]
        .startswith(f"doc{script}")
    )
    assert tree.find("ul", id="roster-missing").text() == f"Student {script}"
    # a link to the student's file is a percent-encoded file name, nothing else
    assert tree.find("ul", id="roster-unmatched").find("a").attrs["href"] == "%3Cscript%3Ex%3D1.md"


def test_quotes_are_spelled_as_the_page_always_spelled_them(class_dir: Path) -> None:
    raw = write_pages(class_dir)[0].read_text()
    assert "o&#x27;brien &lt;&amp;&gt; co" in raw and "alert(&#x27;x&#x27;)" in raw
    assert "&#34;" not in raw and "&#39;" not in raw


def test_roster_section(class_dir: Path) -> None:
    """Submissions that match no student of the roster are listed (never dropped), and so are the students
    without a submission."""
    match = FakeMatch("moodle", unmatched=("bob", ODD_NAME), missing=("Doe, Jane", "Roe, Richard", "Smith, J."))
    tree = parse(write_pages(class_dir, matches=match)[0])
    assert "moodle roster: 2 submissions match no student, 3 students" in tree.find("p", id="roster-summary").text()
    unmatched = tree.find("ul", id="roster-unmatched").find_all("li")
    assert [li.text() for li in unmatched] == ["bob", ODD_NAME]
    assert unquote(unmatched[1].find("a").attrs["href"]) == f"{ODD_NAME}.md"
    assert [li.text() for li in tree.find("ul", id="roster-missing").find_all("li")] == list(match.missing)
    # the section sits between the submissions to look at and the students' table
    headings = [h.attrs["id"] for h in tree.find_all("h2")]
    assert headings.index("needs-look") < headings.index("roster") < headings.index("students")
    # nobody missing, nothing unmatched: said in words
    tree = parse(write_pages(class_dir, matches=FakeMatch())[0])
    assert not tree.find_all("ul", id="roster-unmatched")
    assert tree.find("p", id="roster-missing").text() == "Every student of the roster has a submission."


def test_no_roster_no_roster_section(class_dir: Path) -> None:
    tree = parse(write_pages(class_dir)[0])
    assert not tree.find_all(id="roster") and not tree.find_all(id="roster-summary")


def test_provenance(class_dir: Path) -> None:
    import vicheck

    page, _ = write_pages(class_dir)
    tree = parse(page)
    rows = {r.attrs["data-key"]: r.find("td").text() for r in tree.find("table", id="provenance-table").find_all("tr")}
    assert rows["generated"] == "2024-05-01 12:00:00 UTC"
    assert rows["vicheck (this page)"] == vicheck.__version__
    assert "vicheck 0.1.0" in rows["versions in the reports"]
    assert rows["profile"] == "grade" and rows["rubric"] == "rubric.toml (sha256 0123abcd)"
    for level in ("process", "namespaces", "unknown"):  # judy's old report says nothing: unknown
        assert level in rows["isolation"]
    assert "differs between reports" in rows["isolation"]
    skipped = tree.find("ul", id="skipped").text()
    assert "notes.json" in skipped and "broken.json" in skipped and "summary" not in skipped


def test_output_is_reproducible(class_dir: Path) -> None:
    first = [p.read_bytes() for p in write_pages(class_dir)]
    second = [p.read_bytes() for p in write_pages(class_dir)]
    assert first == second
    later = write_pages(class_dir, now=datetime(2024, 5, 2, tzinfo=timezone.utc))[0].read_bytes()
    assert later != first[0]


def test_plot_from_matplotlib(class_dir: Path) -> None:
    pytest.importorskip("matplotlib")
    tree = parse(write_pages(class_dir)[0])
    figure = tree.find("figure", **{"class": "plot"})
    assert figure.find_all("svg") and not tree.find_all(id="plots-hint")


def test_works_without_matplotlib(class_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_matplotlib(monkeypatch)
    page, _ = write_pages(class_dir)
    tree = parse(page)
    assert not tree.find_all("svg")
    assert tree.find("p", id="plots-hint").text() == PLOTS_HINT and "pip install 'vicheck[plots]'" in PLOTS_HINT
    bars = [int(n.text()) for n in tree.find_all("span", **{"class": "hn"})]
    cells = [int(c.text()) for c in tree.find("table", id="bins").find_all("tr")[1].find_all("td")]
    assert bars == cells and sum(bars) == len(reports(class_dir)) - 1
    assert len(tree.find_all("tr", **{"class": "prop"})) == len(PROPS) + 1  # the tables are all there


def test_a_class_without_a_score(tmp_path: Path) -> None:
    write_report(
        tmp_path,
        "grace",
        {p: not_run("the grader failed", "grader_failure") for p in PROPS},
        complete=False,
        feedback=False,
    )
    tree = parse(write_pages(tmp_path)[0])
    assert card(tree, "median") == "–"
    assert tree.find("tr", data_student="grace").attrs["data-kinds"] == "grader failure"


# --------------------------------------------------------------------------------------------- golden page


def _golden_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """(the page drawn now, the golden page) for :func:`build_varied_class`, as ``data/make_golden.py`` drew it
    with the class page of commit 96bb2d1 (``vicheck/grading/class_report.py``, f-strings and ``html.escape``):
    contract fixed, folder and version written as placeholders."""
    monkeypatch.setattr(class_stats, "_contract_names", lambda: CONTRACT)
    folder = build_varied_class(tmp_path / "grades")
    st = class_statistics(load_reports(folder), now=NOW)
    st = dataclasses.replace(st, provenance=dataclasses.replace(st.provenance, vicheck="@VERSION@"))
    page = render_html(st).replace(str(folder), "@FOLDER@")
    return page, (DATA / "class_page.html").read_text(encoding="utf-8")


def test_page_is_byte_for_byte_the_page_before_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The golden page was drawn by the f-string page (``data/make_golden.py``, run once in a worktree of
    commit 96bb2d1, matplotlib hidden): the templates change how the page is made, not one byte of it."""
    _hide_matplotlib(monkeypatch)
    page, golden = _golden_page(tmp_path, monkeypatch)
    assert page == golden


def test_page_with_a_drawn_plot_is_the_golden_page_but_the_plot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With matplotlib, only the figure differs from the golden page (drawn without): the SVG, as drawn, in
    place of the HTML bars and the hint to install the extra. (Matplotlib's SVG differs between its versions,
    so it is not in the golden page.)"""
    pytest.importorskip("matplotlib")
    page, golden = _golden_page(tmp_path, monkeypatch)
    figure = re.compile(r'<figure class="plot">.*?</figure>\n(<p class="hint" id="plots-hint">[^\n]*</p>\n)?', re.S)
    svg = histogram_svg(class_statistics(load_reports(tmp_path / "grades"), now=NOW).scores)
    assert svg is not None and f'<figure class="plot">{svg}</figure>\n' in page
    assert figure.sub("", page) == figure.sub("", golden)
    assert len(figure.findall(golden)) == 1
