"""Reading the class page back for the tests: the page parsed into a tree by the standard library's HTML
parser (which checks that every element is closed), the reports read as plain JSON (independently of the code
under test), and both class files written through their registered formats."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from tests.grading.report.classpage.classdir import NOW
from vicheck.grading.report.context import ClassContext
from vicheck.grading.report.folder import load_reports
from vicheck.grading.report.formats import class_formats


@dataclass(frozen=True)
class FakeMatch:
    """A roster match as :mod:`vicheck.grading.report.roster` gives one (only what the class page reads)."""

    kind: str = "canvas"
    unmatched: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class FakeRoster:
    """A roster whose match is known in advance."""

    matched: FakeMatch

    @property
    def kind(self) -> str:
        return self.matched.kind

    def match(self, names: list[str]) -> FakeMatch:
        return self.matched


def write_pages(folder: Path, *, now: datetime = NOW, matches: FakeMatch | None = None) -> tuple[Path, Path]:
    """Write ``index.html`` and ``summary.md`` into ``folder`` through the registered class formats."""
    roster = FakeRoster(matches) if matches is not None else None
    ctx = ClassContext(load_reports(folder), now=now, roster=roster)  # type: ignore[arg-type]
    formats = class_formats()
    page, summary = folder / "index.html", folder / "summary.md"
    formats["index.html"].write(ctx, page)
    formats["summary.md"].write(ctx, summary)
    return page, summary


def reports(folder: Path) -> dict[str, dict[str, Any]]:
    """The student reports as plain JSON, read independently of the code under test."""
    skip = {"notes.json", "broken.json"}
    return {
        p.stem: json.loads(p.read_text())
        for p in sorted(folder.glob("*.json"))
        if p.name not in skip and not p.name.endswith(".gradescope.json")
    }


def props(report: dict[str, Any]) -> list[dict[str, Any]]:
    found = report["properties"]
    assert isinstance(found, list)
    return found


def percent(report: dict[str, Any]) -> float:
    total = sum(float(p["weight"]) for p in props(report))
    score = sum(float(p["weight"]) for p in props(report) if p["passed"])
    return 100.0 * score / total


def not_run_in_json(p: dict[str, Any]) -> bool:
    return not p["passed"] and (p.get("status") != "failed") and str(p["message"]).startswith("not run")


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
