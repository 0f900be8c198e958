"""Property metadata: the contract functions a property exercises, its category and weight.

``@prop(...)`` goes outermost on a property test. It records a :class:`PropertyInfo`, adds the
``correctness``/``robustness`` marker (so ``-m correctness`` selects) and a ``vicheck`` marker the plugin
reads, and fixes the number of Hypothesis examples for the active profile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, settings

from ._vocabulary import CATEGORIES, PROFILES

__all__ = [
    "CATEGORIES",
    "PropertyInfo",
    "prop",
    "REGISTRY",
    "PROFILES",
    "active_profile",
    "set_active_profile",
    "examples_for",
]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class PropertyInfo:
    name: str
    functions: tuple[str, ...]
    category: str
    weight: float
    examples: int
    description: str


REGISTRY: dict[str, PropertyInfo] = {}

_active = ["grade"]

#: Successful shrinks Hypothesis may make per failing property (its own default is 500). A count, not a
#: time, so that the reported counterexample -- the smallest found within the budget -- is the same on
#: every run and machine; 100 is several times what the corpus's mistakes need to reach their minimal
#: example (tests/grading/run/test_warm_workers.py grades them and compares with a run at Hypothesis' default).
SHRINK_BUDGET = 100
#: Hypothesis also stops shrinking after 300 s of wall-clock time, which would make a slow machine report
#: a different counterexample; the count above bounds shrinking instead.
_SHRINK_SECONDS = 10**9


def _bound_shrinking() -> None:
    """Apply :data:`SHRINK_BUDGET` to Hypothesis' engine (module constants read at every shrink)."""
    from hypothesis.internal.conjecture import engine

    if hasattr(engine, "MAX_SHRINKS") and hasattr(engine, "MAX_SHRINKING_SECONDS"):
        engine.MAX_SHRINKS = SHRINK_BUDGET
        engine.MAX_SHRINKING_SECONDS = _SHRINK_SECONDS


def _remember_function_digests() -> None:
    """Compute Hypothesis' digest of each property's source once per process instead of twice per run.

    Under the derandomized profiles the digest seeds the property's examples, and Hypothesis computes it
    again at every run (and once more for its database key) by reading and tokenizing the property's
    source: a tenth of a second per submission. A function's digest does not change while the process
    holds it, so the memo returns the same bytes; the warm worker's rehearsal fills it for every fork."""
    from hypothesis import core

    digest = getattr(core, "function_digest", None)
    if digest is None or getattr(digest, "_vicheck_memo", False):
        return
    known: dict[int, tuple[Any, bytes]] = {}  # by id, holding the function: never keyed by its __eq__

    def function_digest(function: Any) -> bytes:
        entry = known.get(id(function))
        if entry is None or entry[0] is not function:
            entry = known[id(function)] = (function, digest(function))
        return entry[1]

    function_digest._vicheck_memo = True  # type: ignore[attr-defined]
    core.function_digest = function_digest


def active_profile() -> str:
    return _active[0]


def set_active_profile(name: str) -> None:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose from {', '.join(PROFILES)}")
    _active[0] = name
    for profile in PROFILES:
        settings.register_profile(
            f"vicheck-{profile}",
            deadline=None,
            print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
            **{k: v for k, v in PROFILES[profile].items() if k != "scale"},
        )
    settings.load_profile(f"vicheck-{name}")
    _bound_shrinking()
    _remember_function_digests()


def _skipped_phases(shrink: bool) -> set[Phase]:
    """Hypothesis phases a property does not run. Never ``explain``: after shrinking it re-runs the failing
    example with each argument varied, hundreds of calls into the submission per failure (100 s of a
    146 s grading of a submission failing every property) to annotate the falsifying example with
    "# or any other generated value", which the grade report does not show (it reports the call that
    failed, see plugin._explain)."""
    skipped = {Phase.explain} if hasattr(Phase, "explain") else set()
    if not shrink:
        skipped.add(Phase.shrink)
    return skipped


def examples_for(examples: int) -> int:
    """The fixed number of examples a property runs under the active profile."""
    return max(2, round(examples * PROFILES[_active[0]]["scale"]))


def prop(
    *,
    functions: tuple[str, ...],
    category: str = "correctness",
    weight: float = 1.0,
    examples: int = 25,
    shrink: bool = True,
) -> Callable[[F], F]:
    """Declare a property: the contract ``functions`` it exercises, its ``category`` and ``weight``, and
    how many Hypothesis examples it runs under the ``grade`` profile.

    ``shrink=False`` skips Hypothesis' shrinking for properties whose every example costs hundreds of calls
    (a failing one would otherwise take minutes to minimise); the reported counterexample is then the
    first failing example, which is still the same on every run under the derandomized profiles.

    Hypothesis reports one failure per property (``report_multiple_bugs=False``): the minimal one, with its
    whole message (expected, got, note, assumes), rather than a group of "distinct failures" whose messages
    the report would not show."""
    if category not in CATEGORIES:
        raise ValueError(f"category must be one of {tuple(CATEGORIES)}, got {category!r}")

    def decorate(test: F) -> F:
        name = test.__name__.removeprefix("test_")
        doc = (test.__doc__ or "").strip()
        REGISTRY[name] = PropertyInfo(name, functions, category, weight, examples, doc.split("\n\n")[0])
        if getattr(test, "is_hypothesis_test", False):
            phases = tuple(p for p in Phase if p not in _skipped_phases(shrink))
            test = settings(max_examples=examples_for(examples), phases=phases, report_multiple_bugs=False)(test)
        test = getattr(pytest.mark, category)(test)
        return pytest.mark.vicheck(functions=functions, weight=weight, category=category)(test)  # type: ignore[no-any-return]

    return decorate
