"""Which function to fix first: a report's failures traced to the functions where the mistakes are.

A mistake in a helper fails the helper's own properties and those of every function that calls it. The
grader calls each function itself, and the child traces, for every call, which contract functions it
reached (the submission's own call graph: :attr:`PropertyResult.reached`, of the failing example). From
that alone (never by running other code in the submission's place):

**The rule.** Take the properties that failed (``status`` failed, on values of their own or because a function
they need is missing, whose own functions are then the missing ones), one category at a time (a robustness
failure never explains a correctness one). A failing property ``P``
*reached* the set ``S(P)`` of contract names its failing example ran (functions traced at run time, data
names by the code that refers to them), with its own ``functions``, which it exercises itself.

1. Properties are taken in order of ``|S(P)|`` (fewest functions reached first, then by name). A property
   whose ``S(P)`` holds a root already found is explained by it. Otherwise its own functions become roots:
   it failed on calls that reached no failing function. Where it has several own functions, those that
   pass a property of their own that reached nothing else are left out, unless that leaves none.
2. A failing property of ``F`` whose calls reached a root ``G`` other than ``F`` *fails through* ``G``
   (probably a consequence of ``G``). When ``F`` is a root too, the property is listed under ``F`` (it may be
   ``F``'s own mistake) and under ``G`` (it went through ``G``): the trace cannot decide, so both are said.
   A property that reached no root among its own functions fails *only through* its roots (the error
   carried forward, see :func:`carry_forward`).
3. Roots are ordered by category (correctness first), then by how many failing properties they account
   for (their own and those failing through them), then by the points of those, then by name.

:func:`diagnose` is a pure function of the properties; :func:`carry_forward` applies the rubric's
``carried_forward`` choice to a report.
"""

from __future__ import annotations

from typing import Any

from vicheck.grading.report.records import GradeReport, PropertyResult

__all__ = ["carry_forward", "diagnose", "fix_first", "only_through"]

_CATEGORY_ORDER = {"correctness": 0, "robustness": 1}


def _failed(p: PropertyResult) -> bool:
    return p.status == "failed" and not p.passed and p.reason in ("", "missing")


def _reach(p: PropertyResult) -> set[str]:
    return _own(p) if p.reason == "missing" else set(p.reached) | set(p.functions)


def _own(p: PropertyResult) -> set[str]:
    return set(p.missing or p.functions) if p.reason == "missing" else set(p.functions)


def _roots(failing: list[PropertyResult], passing: list[PropertyResult]) -> set[str]:
    cleared = {next(iter(_reach(p))) for p in passing if len(_reach(p)) == 1}
    roots: set[str] = set()
    for p in sorted(failing, key=lambda q: (len(_reach(q)), q.name)):
        if _reach(p) & roots:
            continue
        own = _own(p)
        roots |= (own - cleared) or own
    return roots


def diagnose(properties: list[PropertyResult]) -> list[dict[str, Any]]:
    """The roots of the failures in ``properties`` (see the module's rule), most to fix first: each
    ``{"function", "category", "properties", "points", "through": [{"function", "properties"}, ...]}``, where
    ``properties`` are the root's own failing properties (one that also went through another root is listed
    under both), ``points`` what all the failing properties it accounts for are worth, and ``through`` the
    functions whose failing properties went through it, with those properties."""
    entries: list[dict[str, Any]] = []
    for category in sorted({p.category for p in properties}, key=lambda c: (_CATEGORY_ORDER.get(c, 9), c)):
        mine = [p for p in properties if p.category == category]
        failing = [p for p in mine if _failed(p)]
        if not failing:
            continue
        roots = _roots(failing, [p for p in mine if p.passed])
        for root in roots:
            own = [p for p in failing if root in _own(p)]
            through: dict[str, list[str]] = {}
            counted = {p.name: p.weight for p in own}
            for p in failing:
                if root in _reach(p) and root not in _own(p):
                    for f in sorted(_own(p)):
                        through.setdefault(f, []).append(p.name)
                    counted[p.name] = p.weight
            entries.append(
                {
                    "function": root,
                    "category": category,
                    "properties": [p.name for p in own],
                    "points": float(sum(counted.values())),
                    "through": [{"function": f, "properties": names} for f, names in sorted(through.items())],
                    "_count": len(counted),
                }
            )
    entries.sort(key=lambda e: (_CATEGORY_ORDER.get(e["category"], 9), -e["_count"], -e["points"], e["function"]))
    for e in entries:
        del e["_count"]
    return entries


def only_through(p: PropertyResult, diagnosis: list[dict[str, Any]]) -> list[str]:
    """The roots a failing property fails *only* through (none of its own functions is a root of its
    category), in the diagnosis' order; empty when it may be its own functions' mistake."""
    if not _failed(p):
        return []
    roots = [d["function"] for d in diagnosis if d.get("category") == p.category]
    if set(roots) & _own(p):
        return []
    return [r for r in roots if r in _reach(p)]


def carry_forward(report: GradeReport, enabled: bool) -> None:
    """Write the diagnosis into ``report`` and, when ``enabled`` (the rubric's ``carried_forward``), give each
    property that fails only through a root its points, saying so (``carried_forward: "through integrate"``)."""
    report.diagnosis = diagnose(report.properties)
    report.carried_forward = enabled
    for p in report.properties:
        through = only_through(p, report.diagnosis) if enabled else []
        p.carried_forward = "through " + _and(through) if through else ""


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def fix_first(diagnosis: list[dict[str, Any]], code: str = "`") -> list[str]:
    """The diagnosis in sentences, most to fix first: "Fix first: `integrate` (3 properties); `DKL_QP` and
    `ELBO_loss` fail through it", then "Then: ..." for each further root (a function once, at its first
    category); ``code`` quotes a name."""
    lines: list[str] = []
    said: set[str] = set()
    for root in diagnosis:
        if root["function"] in said:  # the same function again, for another category: already said
            continue
        said.add(root["function"])
        i = len(lines)
        n = len(root.get("properties", []))
        own = f" ({n} propert{'y' if n == 1 else 'ies'})" if n else ""
        through = [t["function"] for t in root.get("through", []) if t.get("function") != root["function"]]
        line = f"{'Fix first' if i == 0 else 'Then'}: {code}{root['function']}{code}{own}"
        if through:
            verb = "fails" if len(through) == 1 else "fail"
            line += f"; {_and([f'{code}{f}{code}' for f in through])} {verb} through it"
        if root.get("category") not in (None, "correctness"):
            line += f" ({root['category']})"
        lines.append(line)
    return lines
