"""The oracle cache (``properties/_memo.py``): keys tell bit-different arguments apart, and every value the
suite cached while grading the reference equals a fresh computation from the same arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
import torch.distributions as dist

from properties._memo import Uncacheable, cache_key, oracle_cache

ROOT = Path(__file__).resolve().parents[2]

#: every function the suite caches (a new one must be added here, and so is checked below)
EXPECTED = {
    "properties._oracles.cdf",
    "properties._oracles.kl_exact",
    "properties._oracles.log_ratio_moments",
    "properties._oracles.window",
    "properties.test_coin.dkl_exact",
    "properties.test_coin.elbo_loss_exact",
    "properties.test_fits._float32_domain",
    "properties.test_fits._local_optimum",
    "properties.test_fits._mass_covering_exact",
    "properties.test_fits._mode_seeking_exact",
    "properties.test_kl._window_and_tolerance",
}


def test_keys_are_exact() -> None:
    assert cache_key(0.0) != cache_key(-0.0)
    assert cache_key(1.0) != cache_key(1.0 + 2**-52)
    assert cache_key(1) != cache_key(1.0)
    assert cache_key((1.0, 2.0)) != cache_key([1.0, 2.0])
    f32, f64 = torch.tensor([0.1]), torch.tensor([0.1], dtype=torch.float64)
    assert cache_key(f32) != cache_key(f64)
    assert cache_key(torch.zeros(2, 3)) != cache_key(torch.zeros(3, 2))
    assert cache_key(dist.Normal(0.0, 1.0)) == cache_key(dist.Normal(0.0, 1.0))
    assert cache_key(dist.Normal(0.0, 1.0)) != cache_key(dist.Normal(0.0, 1.5))
    assert cache_key(dist.Normal(0.0, 1.0)) != cache_key(dist.Laplace(0.0, 1.0))
    mix = dist.MixtureSameFamily(dist.Categorical(torch.tensor([0.3, 0.7])), dist.Normal(torch.zeros(2), torch.ones(2)))
    other = dist.MixtureSameFamily(
        dist.Categorical(torch.tensor([0.7, 0.3])), dist.Normal(torch.zeros(2), torch.ones(2))
    )
    assert cache_key(mix) != cache_key(other)
    exp = dist.TransformedDistribution(dist.Normal(0.0, 1.0), [dist.transforms.ExpTransform()])
    inv = dist.TransformedDistribution(dist.Normal(0.0, 1.0), [dist.transforms.ExpTransform().inv])
    assert cache_key(exp) != cache_key(inv)
    for bad in (lambda x: x, object()):
        try:
            cache_key(bad)
        except Uncacheable:
            pass
        else:
            raise AssertionError(f"{bad!r} was given a key")


def test_unkeyable_arguments_are_computed_each_time() -> None:
    calls = []

    @oracle_cache
    def twice(f, x):  # type: ignore[no-untyped-def]
        calls.append(x)
        return 2 * f(x)

    assert twice(lambda x: x, 1.0) == 2.0 and twice(lambda x: x, 1.0) == 2.0
    assert len(calls) == 2

    @oracle_cache
    def square(x):  # type: ignore[no-untyped-def]
        calls.append(x)
        return x * x

    assert square(3.0) == square(3.0) == 9.0
    assert len(calls) == 3


CHECK = r"""
import json, math, sys
import pytest
code = pytest.main(["-p", "vicheck.grading.run.plugin", "--pyargs", "properties", "-q", "-p", "no:cacheprovider",
                    "-p", "no:randomly", "--vicheck-profile", "dev", "--hypothesis-seed", "0", "-x",
                    "--no-header", "--tb=line"])
from properties._memo import CACHED

def same(a, b):
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b

found = {}
for name, func in CACHED.items():
    entries = list(func.cache.values())
    wrong = [repr(args)[:300] for value, args, kwargs in entries if not same(value, func.uncached(*args, **kwargs))]
    found[name] = {"entries": len(entries), "wrong": wrong}
print("RESULT " + json.dumps({"code": int(code), "functions": found}))
"""


def test_every_cached_value_equals_a_fresh_computation(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)},
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["code"] == 0, run.stdout[-3000:]
    assert set(result["functions"]) == EXPECTED
    for name, found in result["functions"].items():
        assert found["entries"] > 0, f"{name}: the suite never called it"
        assert not found["wrong"], f"{name}: cached values differ from fresh ones for {found['wrong'][:3]}"
