"""Shrinking within a budget: a count of successful shrinks (never Hypothesis' wall-clock cut-off, which
would make a slow machine report another counterexample), and no explain phase (it re-ran each failing
example hundreds of times to annotate what the report does not show)."""

from __future__ import annotations

import pytest
from hypothesis import Phase
from hypothesis.internal.conjecture import engine

from properties import _registry
from properties import test_kl as kl_properties


@pytest.mark.parametrize("profile", sorted(_registry.PROFILES))
def test_every_profile_bounds_shrinking_by_a_count(profile: str) -> None:
    before = _registry.active_profile()
    try:
        _registry.set_active_profile(profile)
        assert engine.MAX_SHRINKS == _registry.SHRINK_BUDGET
        assert engine.MAX_SHRINKING_SECONDS >= 10**6  # never the cut-off in practice
    finally:
        _registry.set_active_profile(before)


@pytest.mark.parametrize(
    "test", [kl_properties.test_kl1_matches_exact, kl_properties.test_kl2_matches_exact_within_clt_bound]
)
def test_properties_run_no_explain_phase(test: object) -> None:
    phases = test._hypothesis_internal_use_settings.phases  # type: ignore[attr-defined]
    assert Phase.explain not in phases and Phase.generate in phases
