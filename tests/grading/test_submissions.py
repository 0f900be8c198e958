"""Shards: a class splits into N stable parts by submission name, every submission in exactly one."""

from __future__ import annotations

import pytest

from vicheck.grading.submissions import parse_shard, shard_of

NAMES = [f"student_{i:03d}" for i in range(300)] + ["Alice", "bob", "carol-2", "d.e"]


@pytest.mark.parametrize("n", [1, 2, 3, 8])
def test_every_submission_is_in_exactly_one_shard(n: int) -> None:
    shards = {k: [name for name in NAMES if shard_of(name, n) == k] for k in range(1, n + 1)}
    assert sorted(name for members in shards.values() for name in members) == sorted(NAMES)
    # sha256 spreads 304 names evenly: each of n shards holds 304/n +- 5 sigma (binomial), a bound a fair
    # split breaks with probability < 1e-6
    for members in shards.values():
        expected = len(NAMES) / n
        sigma = (len(NAMES) * (1 / n) * (1 - 1 / n)) ** 0.5
        assert abs(len(members) - expected) <= 5 * sigma + 1e-9


def test_a_shard_depends_on_the_name_alone() -> None:
    before = {name: shard_of(name, 8) for name in NAMES}
    after = {name: shard_of(name, 8) for name in [*NAMES, "newcomer", "late_student"] if name in before}
    assert before == after
    assert shard_of("Alice", 8) == shard_of("alice", 8)  # output names are unique regardless of case


@pytest.mark.parametrize(("text", "expected"), [("1/1", (1, 1)), ("3/8", (3, 8))])
def test_parse_shard(text: str, expected: tuple[int, int]) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/4", "5/4", "2", "a/b", "1/0", "/"])
def test_parse_shard_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="--shard"):
        parse_shard(text)
