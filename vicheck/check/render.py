"""A self-check's result for the student: plain text (a terminal, a plain Python script, terminal IPython)
and HTML (under a notebook cell).

Both show the same things: one line of totals, a table with one row per contract function (how many of the
properties exercising it passed, failed or did not run; a property exercising several functions is counted
under each), how many hidden properties exist and that they run only in the final grading (a count, never
their names or inputs: the visible run never sees them), the problems met while loading the code, then each
property that did not pass: what it checks, its message (input, expected, got, the ``assumes`` line) and the
minimal counterexample.

The HTML is drawn by the Jinja2 template ``templates/result.html.j2`` with autoescaping on, as the class page
is (:mod:`vicheck.grading.report.classpage.html`): a report's text (messages, counterexamples, load errors)
comes from the student's code and is escaped by construction; the only markup made here is
:func:`docstring_html`'s, built with :class:`markupsafe.Markup` around escaped pieces.

Formulas: the properties' docstrings write maths as reStructuredText ``:math:`...``` (LaTeX).
:func:`readable_math` turns it into Unicode text (``\\mathcal N(\\mu,\\sigma^2)`` -> ``𝒩(μ,σ²)``), which reads
the same in a terminal, a notebook and a CI log, with no MathJax needed.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Template
from markupsafe import Markup, escape

from vicheck._html import html_environment
from vicheck.grading.report.diagnosis import fix_first, only_through
from vicheck.grading.report.records import GradeReport, PropertyResult

__all__ = [
    "FunctionRow",
    "code_spans",
    "docstring_html",
    "docstring_text",
    "function_rows",
    "hidden_line",
    "readable_math",
    "render_html",
    "render_text",
    "summary",
]

TEMPLATES = Path(__file__).with_name("templates")

# ----------------------------------------------------------------------------------------------- formulas

_SYMBOLS = {
    "mu": "μ", "sigma": "σ", "theta": "θ", "alpha": "α", "beta": "β", "gamma": "γ", "lambda": "λ",
    "varepsilon": "ε", "epsilon": "ε", "pi": "π", "partial": "∂", "infty": "∞", "int": "∫", "sum": "Σ",
    "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "pm": "±", "cdot": "·", "times": "×", "approx": "≈",
    "ne": "≠", "neq": "≠", "in": "∈", "to": "→", "mid": "∣", "|": "‖", "log": "log", "exp": "exp",
    "max": "max", "min": "min", "sqrt": "√", "Sigma": "Σ", "Delta": "Δ", "nabla": "∇", "ell": "ℓ",
    ",": " ", ";": " ", "quad": " ", "!": "", " ": " ", "{": "{", "}": "}", "#": "#",
}  # fmt: skip
#: commands that are words (printed as such, apart from what precedes them)
_WORDS = frozenset({"log", "exp", "max", "min", "sin", "cos", "tan", "det", "arg", "sup", "inf", "lim", "Var", "var"})
_SUPERSCRIPTS = str.maketrans("0123456789+-n", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻ⁿ")
_CALLIGRAPHIC = {"N": "𝒩", "L": "ℒ", "U": "𝒰", "E": "ℰ", "O": "𝒪"}


def _group(text: str, start: int) -> tuple[str, int]:
    """The braced group (or single character) at ``start`` (after spaces): its content and the index after it."""
    while start < len(text) and text[start] == " ":
        start += 1
    if start >= len(text):
        return "", start
    if text[start] != "{":
        return text[start], start + 1
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1 : i], i + 1
    return text[start + 1 :], len(text)


def _operand(text: str) -> str:
    """``text`` as one side of a fraction: bare when it is one term, else in parentheses."""
    return text if re.fullmatch(r"[\w.'²³⁰¹⁴-⁹ⁿ⁺⁻]+", text) else f"({text})"


def readable_math(tex: str) -> str:
    """LaTeX maths as Unicode text: Greek letters and relations as symbols, ``\\frac{a}{b}`` as ``(a)/(b)``,
    ``x^2`` as ``x²``, ``\\mathrm{KL}`` as ``KL``. Not a TeX engine: what it does not know it leaves
    readable (a command loses its backslash)."""
    out: list[str] = []
    i = 0
    while i < len(tex):
        c = tex[i]
        if c == "\\":
            m = re.match(r"[A-Za-z]+|.", tex[i + 1 :])
            name = m.group(0) if m else ""
            i += 1 + len(name)
            if name in ("frac", "tfrac", "dfrac"):
                num, i = _group(tex, i)
                den, i = _group(tex, i)
                out.append(f"{_operand(readable_math(num))}/{_operand(readable_math(den))}")
            elif name in ("mathrm", "text", "operatorname", "mathbf", "mathit", "textrm", "mathsf", "boldsymbol"):
                body, i = _group(tex, i)
                out.append(readable_math(body))
            elif name == "mathcal":
                body, i = _group(tex, i)
                out.append(_CALLIGRAPHIC.get(body.strip(), body))
            elif name == "sqrt":
                body, i = _group(tex, i)
                out.append(f"√({readable_math(body)})" if len(body) > 1 else f"√{body}")
            elif name in ("left", "right", "big", "Big", "bigl", "bigr", "Bigl", "Bigr", "displaystyle"):
                continue
            elif name in _WORDS:
                if out and (out[-1][-1:].isalnum() or out[-1][-1:] in ")]"):
                    out.append(" ")  # 2\max|f| reads "2 max|f|"
                out.append(name)
            else:
                out.append(_SYMBOLS.get(name, name))
        elif c == "^":
            body, i = _group(tex, i + 1)
            plain = readable_math(body)
            sup = plain.translate(_SUPERSCRIPTS)
            out.append(
                sup if all(ch in "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻ⁿ" for ch in sup) else f"^({plain})" if len(plain) > 1 else f"^{plain}"
            )
        elif c == "_":
            body, i = _group(tex, i + 1)
            plain = readable_math(body)
            out.append(f"_{plain}" if len(plain) == 1 else f"_({plain})")
        elif c in "{}":
            i += 1
        else:
            out.append(c)
            i += 1
    return re.sub(r"  +", " ", "".join(out))


_ROLE = re.compile(r":math:`([^`]*)`|:(?:data|func|class|mod|attr|meth):`~?([^`]*)`|``([^`]+)``")


def docstring_text(text: str) -> str:
    """A property's description for a terminal: maths as Unicode, ``code`` and roles unmarked."""

    def one(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return readable_math(m.group(1))
        return m.group(2) if m.group(2) is not None else m.group(3)

    return " ".join(_ROLE.sub(one, text).split())


def docstring_html(text: str) -> Markup:
    """A property's description as HTML: maths as Unicode in ``<i>``, ``code`` in ``<code>``; every piece of
    text escaped."""
    pieces: list[Markup] = []
    last = 0
    text = " ".join(text.split())
    for m in _ROLE.finditer(text):
        pieces.append(escape(text[last : m.start()]))
        if m.group(1) is not None:
            pieces.append(Markup('<i class="math">{}</i>').format(readable_math(m.group(1))))
        else:
            pieces.append(Markup("<code>{}</code>").format(m.group(2) if m.group(2) is not None else m.group(3)))
        last = m.end()
    pieces.append(escape(text[last:]))
    return Markup("").join(pieces)


# ------------------------------------------------------------------------------------------------ the data


@dataclass(frozen=True)
class FunctionRow:
    """One contract function's line of the table."""

    function: str
    passed: int
    failed: int
    not_run: int
    failing: tuple[str, ...]


def _state(p: PropertyResult) -> str:
    if p.passed:
        return "passed"
    return "not run" if p.status in ("not run", "pending") else "failed"


def function_rows(report: GradeReport) -> list[FunctionRow]:
    """One row per contract function the report's properties exercise, in the contract's order."""
    from vicheck.check.run import contract_names

    order = {name: i for i, name in enumerate(contract_names())}
    functions = sorted({f for p in report.properties for f in p.functions}, key=lambda f: (order.get(f, 999), f))
    rows = []
    for f in functions:
        props = [p for p in report.properties if f in p.functions]
        states = [_state(p) for p in props]
        failing = tuple(p.name for p in props if _state(p) != "passed")
        rows.append(FunctionRow(f, states.count("passed"), states.count("failed"), states.count("not run"), failing))
    return rows


def summary(report: GradeReport) -> str:
    """The totals in one line: "38 of 44 visible properties passed, 6 failed"."""
    states = [_state(p) for p in report.properties]
    n = len(states)
    line = f"{states.count('passed')} of {n} visible propert{'y' if n == 1 else 'ies'} passed"
    if states.count("failed"):
        line += f", {states.count('failed')} failed"
    if states.count("not run"):
        line += f", {states.count('not run')} not run"
    return line


def hidden_line(report: GradeReport, functions: tuple[str, ...] = ()) -> str:
    """How many hidden properties exist (for these functions) and that they run only in final grading."""
    n = report.hidden_left_out
    if n <= 0:
        return ""
    what = "1 hidden property" if n == 1 else f"{n} hidden properties"
    scope = " exercising " + ", ".join(functions) if functions else ""
    verb = "runs" if n == 1 else "run"
    return (
        f"{what}{scope} {verb} only in the final grading and {'is' if n == 1 else 'are'} not checked here: passing "
        "every visible property is not the final grade."
    )


def failures(report: GradeReport) -> list[PropertyResult]:
    return [p for p in report.properties if not p.passed]


def counterexample_shown(p: PropertyResult) -> bool:
    """Whether the counterexample needs its own line (the message's ``input:`` line does not already say it)."""
    return bool(p.counterexample.strip()) and p.counterexample.strip() not in p.message


# ------------------------------------------------------------------------------------------------ text


def _table(rows: list[FunctionRow]) -> list[str]:
    head = ("function", "passed", "failed", "not run", "not passing")
    cells = [head] + [
        (r.function, str(r.passed), str(r.failed), str(r.not_run), ", ".join(r.failing) or "-") for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    out = []
    for c in cells:
        numbers = "  ".join(c[i].rjust(widths[i]) for i in (1, 2, 3))
        out.append(f"  {c[0].ljust(widths[0])}  {numbers}  {c[4]}")
    return out


def render_text(report: GradeReport, title: str, functions: tuple[str, ...] = ()) -> str:
    """The result as plain text."""
    lines = [f"vicheck check: {title}: {summary(report)} (profile {report.profile}, isolation {report.isolation})"]
    diagnosis = fix_first(report.diagnosis, code="")
    if diagnosis:
        lines += ["", *diagnosis]
    if not report.properties:
        lines.append("  no visible property exercises " + (", ".join(functions) if functions else "these functions"))
    else:
        lines += ["", *_table(function_rows(report))]
    hidden = hidden_line(report, functions)
    if hidden:
        lines += ["", hidden]
    if report.errors:
        lines += ["", "Problems met while loading or running the code:"]
        lines += [f"  - {' '.join(e.split())}" for e in report.errors]
    for p in failures(report):
        lines += ["", f"{_state(p).upper()}  {p.name}  ({', '.join(p.functions)})"]
        if p.description:
            lines.append(f"  checks:   {docstring_text(p.description)}")
        roots = only_through(p, report.diagnosis)
        if roots:
            lines.append(f"  probably a consequence of {', '.join(roots)}, which it calls")
        for line in p.message.rstrip().splitlines():
            lines.append(f"  {line}")
        if counterexample_shown(p):
            example = p.counterexample.rstrip().splitlines()
            lines.append(f"  minimal counterexample: {example[0]}")
            lines += [f"    {line}" for line in example[1:]]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ HTML


def code_spans(text: str) -> Markup:
    """Text with its `quoted` names in ``<code>``, every piece escaped."""
    parts = text.split("`")
    return Markup("").join(Markup("<code>{}</code>").format(t) if i % 2 else escape(t) for i, t in enumerate(parts))


def _finalize(value: object) -> object:
    return value if isinstance(value, Markup) else escape(value)


@functools.cache
def _template() -> Template:
    env = html_environment(TEMPLATES, finalize=_finalize)
    env.filters["docstring"] = docstring_html
    env.filters["code_spans"] = code_spans
    env.tests["shown_counterexample"] = counterexample_shown
    return env.get_template("result.html.j2")


def render_html(report: GradeReport, title: str, functions: tuple[str, ...] = ()) -> str:
    """The result as one HTML fragment (no script, no external resource), every value from the report
    escaped."""
    return _template().render(
        title=title,
        report=report,
        summary=summary(report),
        rows=function_rows(report),
        hidden=hidden_line(report, functions),
        failures=[(p, _state(p)) for p in failures(report)],
        diagnosis=fix_first(report.diagnosis, code="`"),
        through={p.name: only_through(p, report.diagnosis) for p in failures(report)},
        everything=[(p, _state(p)) for p in report.properties],
        functions=functions,
    )
