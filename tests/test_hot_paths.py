"""What runs many times per graded submission gives what it gave before it was made cheaper.

* Requests to the child (``vicheck.sandbox.wire.encode_request``): one holding no handle and no callback is
  pickled without the ``persistent_id`` hook, byte for byte as the full :class:`~vicheck.sandbox.wire.Pickler`
  pickles it; one holding either is pickled by the full pickler, registering each callback and binding each
  handle exactly once.
* The grade report: ``to_json`` equals the ``dataclasses.asdict`` form it replaced; the snapshot written while
  a run goes on is compact JSON of the same data, the finished report the indented form.
* Hypothesis' digest of a property (which seeds its examples under the derandomized profiles) is remembered,
  and equals a fresh computation.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributions as dist

from vicheck.grading.report.records import GradeReport, PropertyResult
from vicheck.sandbox import _codec
from vicheck.sandbox.handles import RemoteObject
from vicheck.sandbox.wire import Pickler, encode_request


class _Table:
    def __init__(self) -> None:
        self.callbacks: list[Any] = []
        self.released: list[tuple[int, int]] = []

    def register_callback(self, func: Any) -> int:
        self.callbacks.append(func)
        return len(self.callbacks)


class _Impl:
    """What the pickler uses of an IsolatedImplementation: the handle table and ``_bind``."""

    def __init__(self) -> None:
        self._handles = _Table()
        self.bound: list[RemoteObject] = []

    def _bind(self, remote: RemoteObject) -> int:
        self.bound.append(remote)
        return 40 + len(self.bound)


def _full(message: dict[str, Any], impl: _Impl) -> bytes:
    buf = io.BytesIO()
    Pickler(buf, impl).dump(message)  # type: ignore[arg-type]
    return _codec.frame(b"P", buf.getvalue())


def _square(x: torch.Tensor) -> torch.Tensor:
    return x * x


PLAIN = [
    (dist.Normal(0.5, 1.2), dist.Gamma(torch.tensor(2.0), torch.tensor(1.5)), 0.001, 19.1, 500),
    (
        dist.MixtureSameFamily(
            dist.Categorical(torch.tensor([0.4, 0.6])),
            dist.Normal(torch.tensor([-1.0, 4.0]), torch.tensor([0.75, 0.5])),
        ),
    ),
    (dist.TransformedDistribution(dist.Beta(3.0, 4.0), dist.SigmoidTransform().inv), dist.ExpTransform().inv),
    (
        torch.arange(12.0).reshape(3, 4).T,
        torch.tensor(1.5, requires_grad=True),
        torch.zeros(0, 3),
        torch.tensor([True]),
    ),
    ([1, 2.5, None, "x", b"y", {"k": (torch.float64, math.inf)}], torch.int16),
    (torch.sigmoid, math.exp, torch.distributions.constraints.positive),
]


@pytest.mark.parametrize("args", PLAIN, ids=range(len(PLAIN)))
def test_a_request_without_references_is_pickled_as_the_full_pickler_does(
    args: tuple[Any, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    message = {"op": "call", "target": "f", "args": args, "kwargs": {"N": 5}, "seed": 3, "release": [1, 2]}
    expected = _full(message, _Impl())

    def unused(self: Pickler, obj: Any) -> Any:
        raise AssertionError("the full pickler was used")

    monkeypatch.setattr(Pickler, "persistent_id", unused)
    impl = _Impl()
    assert encode_request(message, impl) == expected  # type: ignore[arg-type]
    assert impl._handles.callbacks == [] and impl.bound == []


def test_a_request_with_callbacks_and_handles_registers_each_once() -> None:
    remote = RemoteObject(_Impl(), {"id": 3, "type": "t", "name": "f", "repr": "f", "callable": True}, 0, ("lost",))  # type: ignore[arg-type]
    lam = lambda x: x + 1  # noqa: E731
    for args in [(dist.Normal(0.0, 1.0), _square, 0.0, 1.0), (torch.ones(3), remote, lam), (remote,)]:
        message = {"op": "call", "target": "integrate", "args": args, "kwargs": {}, "seed": None}
        impl, reference = _Impl(), _Impl()
        assert encode_request(message, impl) == _full(message, reference)  # type: ignore[arg-type]
        assert impl._handles.callbacks == reference._handles.callbacks
        assert impl.bound == reference.bound
        assert len(impl._handles.callbacks) + len(impl.bound) == sum(a is remote or callable(a) for a in args)


def test_a_grader_object_is_refused_as_before() -> None:
    message = {"op": "call", "target": "f", "args": (GradeReport("s"),), "kwargs": {}, "seed": None}
    with pytest.raises(TypeError, match="grader object"):
        encode_request(message, _Impl())  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ the grade report


def _report() -> GradeReport:
    props = [
        PropertyResult("kl1_matches_exact", ["kl_divergence_1"], "correctness", 3.0, True, seconds=0.25),
        PropertyResult(
            "kl2_unbiased", ["kl_divergence_2"], "correctness", 2.0, False, "biased \u2265 0", "f(1.0)", 1.5, "failed"
        ),
        PropertyResult("sigmoid_finite", ["sigmoid"], "robustness", 1.0, status="pending", description="σ(x) ∈ [0, 1]"),
    ]
    return GradeReport(
        "student.py",
        props,
        ["a load problem"],
        "grade",
        "derandomized",
        {"python": "3.11"},
        "default",
        2,
        "kl2",
        error_kinds=["load_error"],
    )


def test_report_json_is_the_asdict_form() -> None:
    report = _report()
    data = dataclasses.asdict(report)
    legacy = {
        "submission": report.submission,
        "score": report.score,
        "max_score": report.max_score,
        "properties": data.pop("properties"),
        "errors": list(report.errors),
        **{k: v for k, v in data.items() if k not in ("submission", "errors")},
    }
    got = report.to_json()
    assert list(got) == list(legacy) and got == legacy
    assert [list(p) for p in got["properties"]] == [list(p) for p in legacy["properties"]]
    got["properties"][0]["functions"].append("x")
    got["versions"]["torch"] = "x"
    assert report.properties[0].functions == ["kl_divergence_1"] and report.versions == {"python": "3.11"}


def test_a_running_report_is_compact_and_a_finished_one_indented(tmp_path: Path) -> None:
    report, path = _report(), tmp_path / "r.json"
    report.write(path, interim=True)
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(report.to_json()) + "\n" and "\n" not in text[:-1]
    assert GradeReport.from_json(json.loads(text)) == report
    report.write(path)
    assert path.read_text(encoding="utf-8") == json.dumps(report.to_json(), indent=2, sort_keys=False) + "\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


# ---------------------------------------------------------------------------------- Hypothesis' digests


def test_remembered_digests_equal_fresh_ones() -> None:
    from hypothesis import core
    from hypothesis.internal.reflection import function_digest

    import properties.test_kl as kl
    from properties._registry import _remember_function_digests

    _remember_function_digests()  # what the plugin's set_active_profile does
    assert getattr(core.function_digest, "_vicheck_memo", False)
    tests = [kl.test_kl1_matches_exact.hypothesis.inner_test, kl.test_kl2_unbiased_over_seeds.hypothesis.inner_test]
    for test in tests:
        assert core.function_digest(test) == function_digest(test) == core.function_digest(test)
    assert core.function_digest(tests[0]) != core.function_digest(tests[1])
