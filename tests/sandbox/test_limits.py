"""Every limit is declared once (vicheck/sandbox/limits.py): its rubric key, default and reason, validation,
application per level and the words a report uses; the rubric reads [limits] through those declarations."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from vicheck.grading.rubric import load_rubric
from vicheck.sandbox.limits import LIMIT_SPECS, Limits, parse_limit

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE_RUBRIC = Path(__file__).resolve().parents[2] / "vicheck" / "examples" / "rubric.toml"


def test_every_field_is_declared_once_with_a_reason() -> None:
    assert list(LIMIT_SPECS) == [f.name for f in fields(Limits)]
    for spec in LIMIT_SPECS.values():
        assert spec.reason, spec.key
        assert spec.parse(spec.default) == spec.default


@pytest.mark.parametrize("key", [k for k, s in LIMIT_SPECS.items() if s.kind is not str])
def test_every_number_reaches_the_rubric_and_is_validated(key: str, tmp_path: Path) -> None:
    rubric = tmp_path / "r.toml"
    value = LIMIT_SPECS[key].default * 2
    rubric.write_text(f"[limits]\n{key} = {value}\n")
    assert getattr(load_rubric(rubric).limits, key) == value
    for bad, why in (("0", "must be > 0, got 0"), ('"x"', "must be ")):
        rubric.write_text(f"[limits]\n{key} = {bad}\n")
        with pytest.raises(ValueError) as info:
            load_rubric(rubric)
        assert str(info.value).startswith(f"rubric {rubric}: [limits] {key}: {why}"), str(info.value)


def test_the_levels_a_rubric_may_require(tmp_path: Path) -> None:
    rubric = tmp_path / "r.toml"
    rubric.write_text('[limits]\nresources = "cgroup"\nisolation = "uid"\n')
    limits = load_rubric(rubric).limits
    assert (limits.resources, limits.isolation) == ("cgroup", "uid")
    rubric.write_text('[limits]\nresources = "cgroup1"\n')
    with pytest.raises(ValueError, match=r"\[limits\] resources: must be one of cgroup, rlimits, got 'cgroup1'"):
        load_rubric(rubric)
    rubric.write_text("[limits]\nswap_mb = 3\n")
    with pytest.raises(ValueError, match=r"\[limits\] swap_mb: unknown key \(known: call_seconds, "):
        load_rubric(rubric)


def test_a_limit_hit_is_said_in_the_reports_words() -> None:
    limits = Limits(memory_mb=512)
    assert LIMIT_SPECS["memory_mb"].message(limits) == (
        "out of memory: the submission and its processes used more than 512 MB"
    )
    assert LIMIT_SPECS["disk_mb"].message(limits) == "wrote more than 256 MB into its folder"
    with pytest.raises(KeyError):
        parse_limit("nonsense", 1)


def test_the_readme_and_the_example_rubric_name_every_limit() -> None:
    readme = README.read_text(encoding="utf-8")
    example = EXAMPLE_RUBRIC.read_text(encoding="utf-8")
    for key in LIMIT_SPECS:
        assert f"\n{key} = " in readme, key  # the README's [limits] example
        assert f"\n{key} = " in example or f"\n# {key} = " in example, key
