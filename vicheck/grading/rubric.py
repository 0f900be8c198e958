"""The grading rubric: which properties count, how much, which stay hidden, and the submission's limits.

A rubric is a TOML file (see ``vicheck/examples/rubric.toml``)::

    [grading]
    profile = "grade"                          # Hypothesis profile: dev, ci or grade
    categories = ["correctness", "robustness"] # property categories that count for the score
    default_visibility = "visible"             # visible or hidden
    formats = ["json", "log", "md", "junit", "gradescope", "summary.csv", "summary.md", "index.html"]
                                               # the files `vicheck grade` writes (default: these)
    carried_forward = false                    # true: a property failing only through a root is given its points

    [weights]                                  # fnmatch patterns over property names -> points
    "kl1_*" = 3

    [visibility]
    hidden = ["kl2_*"]                         # properties students do not see before grading

    [aliases]                                  # contract name -> the name the submission uses
    kl_divergence_2 = "kl_mc"

    [limits]                   # the time limits' defaults: a figure measured on the lecture's own code x a margin
    call_seconds = 6           # 30 x the lecture's slowest call (0.158 s); 6 x adaptive quadrature's (0.248 s)
                               # and 6 x a first call's import of scipy (0.87 s)
    submission_seconds = 400   # load_seconds + 6 x the slowest correct submission's calls in all (25.8 s)
    load_seconds = 200         # 6 x the lecture notebook's own run, brute-force fits included (25.8 s)
    memory_mb = 2048
    isolation = "namespaces"   # the weakest isolation level grading may run under (namespaces, uid, process)

The time limits' margins: x6 for a grading machine 3x slower than the one measured on (2 CPU cores) and loaded
with a job per core; x5 more for a student's correct but slower code (on the lecture's calls only).
``python scripts/derive_limits.py`` measures the figures again and prints the limits they give (the
comments in :class:`~vicheck.sandbox.limits.Limits` record the run they come from).

Every table and key is optional. Unknown tables or keys and values of the wrong type are refused with a
one-line :class:`ValueError` naming the file, the table and the key.
"""

from __future__ import annotations

import fnmatch
import hashlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from properties._vocabulary import CATEGORIES
from properties._vocabulary import PROFILES as _PROFILES
from vicheck.sandbox.limits import LIMIT_SPECS, Limits, parse_limit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["DEFAULT_CATEGORIES", "PROFILES", "VISIBILITIES", "Rubric", "load_rubric"]

PROFILES: tuple[str, ...] = tuple(_PROFILES)
VISIBILITIES: tuple[str, ...] = ("visible", "hidden")
DEFAULT_CATEGORIES: frozenset[str] = frozenset(CATEGORIES)

#: table -> the keys it may hold (``None``: any key, checked by the table's own reader)
_TABLES: dict[str, tuple[str, ...] | None] = {
    "grading": ("profile", "categories", "default_visibility", "formats", "carried_forward"),
    "weights": None,
    "visibility": ("hidden", "visible"),
    "aliases": None,
    "limits": tuple(LIMIT_SPECS),
}


def _matches(name: str, pattern: str) -> bool:
    """``name`` (or its base, without the ``[param]`` part) equals ``pattern`` or matches it as a glob."""
    base = name.split("[", 1)[0]
    if pattern in (name, base):
        return True
    return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(base, pattern)


@dataclass(frozen=True)
class Rubric:
    """A loaded rubric; :func:`load_rubric` builds it, ``Rubric()`` is the default one."""

    source: str = "default"
    profile: str = "grade"
    categories: frozenset[str] = DEFAULT_CATEGORIES
    weights: dict[str, float] = field(default_factory=dict)
    hidden: tuple[str, ...] = ()
    default_visibility: str = "visible"
    aliases: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    #: patterns shown even when ``default_visibility`` is ``"hidden"`` (``hidden`` wins over them)
    visible: tuple[str, ...] = ()
    #: SHA-256 of the rubric file's bytes ("" for the default rubric): provenance, and the resume key
    sha256: str = ""
    #: the output formats ``vicheck grade`` writes (``None``: the default ones); ``--formats`` overrides it
    formats: tuple[str, ...] | None = None
    #: "error carried forward": a property that fails only through a function found to be the root of its
    #: failure (``vicheck.grading.report.diagnosis``) is given its points
    carried_forward: bool = False

    def weight_for(self, name: str, default: float = 1.0) -> float:
        """The weight of property ``name``: an exact name (with or without its ``[param]`` part) wins;
        otherwise the last matching glob in the file; otherwise ``default``."""
        base = name.split("[", 1)[0]
        for exact in (name, base):
            if exact in self.weights:
                return float(self.weights[exact])
        found: float | None = None
        for pattern, weight in self.weights.items():
            if _matches(name, pattern):
                found = float(weight)
        return default if found is None else found

    def visibility_for(self, name: str) -> str:
        """``"hidden"`` when a ``hidden`` pattern matches, ``"visible"`` when a ``visible`` one does,
        else ``default_visibility``."""
        if any(_matches(name, p) for p in self.hidden):
            return "hidden"
        if any(_matches(name, p) for p in self.visible):
            return "visible"
        return self.default_visibility

    def counts(self, category: str) -> bool:
        """Whether properties of ``category`` count for the score."""
        return category in self.categories

    def describe(self) -> str:
        """One line for provenance: where the rubric came from and its digest."""
        return self.source if not self.sha256 else f"{self.source} (sha256 {self.sha256})"


class _Reader:
    """Checks one rubric file's values, raising one-line errors that name file, table and key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, table: str, key: str | None, why: str) -> ValueError:
        where = f"[{table}]" if key is None else f"[{table}] {key}"
        return ValueError(f"rubric {self.path}: {where}: {why}")

    def table(self, data: Mapping[str, Any], name: str) -> dict[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(name, None, f"must be a table, got {_kind(value)}")
        allowed = _TABLES[name]
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    raise self.fail(name, key, f"unknown key (known: {', '.join(allowed)})")
        return value

    def string(self, table: str, key: str, value: Any, choices: tuple[str, ...] | None = None) -> str:
        if not isinstance(value, str):
            raise self.fail(table, key, f"must be a string, got {_kind(value)}")
        if choices is not None and value not in choices:
            raise self.fail(table, key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def strings(self, table: str, key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(table, key, f"must be a list of non-empty strings, got {_kind(value)}")
        return tuple(value)

    def number(self, table: str, key: str, value: Any, *, positive: bool) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(table, key, f"must be a number, got {_kind(value)}")
        if value < 0 or (positive and value == 0) or value != value:
            raise self.fail(table, key, f"must be {'> 0' if positive else '>= 0'}, got {value!r}")
        return float(value)


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def load_rubric(path: str | Path | None) -> Rubric:
    """The rubric in TOML file ``path`` (``None``: the default rubric); ``ValueError`` when it is invalid."""
    if path is None:
        return Rubric()
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"rubric {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"rubric {path}: not valid TOML: {str(exc).splitlines()[0]}") from None
    r = _Reader(path)
    for name in data:
        if name not in _TABLES:
            raise ValueError(f"rubric {path}: [{name}]: unknown table (known: {', '.join(_TABLES)})")

    grading = r.table(data, "grading")
    profile = r.string("grading", "profile", grading.get("profile", "grade"), PROFILES)
    categories = frozenset(r.strings("grading", "categories", grading.get("categories", sorted(DEFAULT_CATEGORIES))))
    default_visibility = r.string(
        "grading", "default_visibility", grading.get("default_visibility", "visible"), VISIBILITIES
    )
    formats = tuple(r.strings("grading", "formats", grading["formats"])) if "formats" in grading else None
    if formats is not None:
        from vicheck.grading.report.formats import class_formats, student_formats

        known = [*student_formats(), *class_formats()]
        unknown = [f for f in formats if f not in known]
        if unknown:
            raise r.fail("grading", "formats", f"unknown format {unknown[0]!r} (known: {', '.join(known)})")

    carried_forward = grading.get("carried_forward", False)
    if not isinstance(carried_forward, bool):
        raise r.fail("grading", "carried_forward", f"must be true or false, got {_kind(carried_forward)}")

    weights: dict[str, float] = {}
    for pattern, value in r.table(data, "weights").items():
        weights[pattern] = r.number("weights", repr(pattern), value, positive=False)

    visibility = r.table(data, "visibility")
    hidden = r.strings("visibility", "hidden", visibility.get("hidden", []))
    visible = r.strings("visibility", "visible", visibility.get("visible", []))

    aliases: dict[str, str] = {}
    from reference.contract import NAMES

    for name, value in r.table(data, "aliases").items():
        if name not in NAMES:
            raise r.fail("aliases", name, "not a contract name")
        target = r.string("aliases", name, value)
        if not all(part.isidentifier() for part in target.split(".")):
            raise r.fail("aliases", name, f"must be a Python name, got {target!r}")
        aliases[name] = target

    lim = r.table(data, "limits")
    values: dict[str, Any] = {}
    for key, value in lim.items():
        try:
            values[key] = parse_limit(key, value)
        except ValueError as exc:
            raise r.fail("limits", key, str(exc).removeprefix(f"{key} ")) from None
    limits = Limits(**values)
    return Rubric(
        source=str(path),
        profile=profile,
        categories=categories,
        weights=weights,
        hidden=hidden,
        default_visibility=default_visibility,
        aliases=aliases,
        limits=limits,
        visible=visible,
        sha256=hashlib.sha256(raw).hexdigest(),
        formats=formats,
        carried_forward=carried_forward,
    )
