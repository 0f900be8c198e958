"""Tests of ``vicheck.sandbox``: the wire format, the child process, remote handles and callbacks, and
hostile submissions (``tests/hostile/``) that exit, hang, crash, lie, print fake summaries, write files,
monkeypatch libraries or import the grader.

Starting a child costs about 2 s (importing torch), so every child is started once per module, all at
the same time (loading goes on in the background), and tests share them.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
import torch
import torch.distributions as dist

from reference.contract import NAMES
from tests.processes import ended, named
from tests.zygotes import installed_zygote
from vicheck.implementation import (
    CallFailed,
    CallTimeout,
    LoadProblem,
    MissingName,
    SubmissionCrashed,
    TimeLimitExhausted,
    seed_everything,
)
from vicheck.sandbox import IsolatedImplementation, RemoteAttributeError, RemoteObject, _codec
from vicheck.sandbox._child import BLOCKED_MESSAGE
from vicheck.sandbox.jail import choose_level
from vicheck.sandbox.limits import Limits
from vicheck.sandbox.loading import load_implementation, load_module_in_process, load_notebook_in_process
from vicheck.sandbox.wire import Pickler as _Pickler

HERE = Path(__file__).resolve().parents[1]  # tests/
HOSTILE = HERE / "hostile"
# In-repo copies of ../shared/seed's lecture files, so the tests run where ../shared is absent.
LECTURE_PY = HERE / "submissions" / "lecture_4_functions.py"
LECTURE_NB = HERE / "data" / "lecture_4.ipynb"
FAST = Limits(call_seconds=3, load_seconds=150, submission_seconds=300)
#: the strongest isolation level this machine provides: the tests exercise the jail graders get here
LEVEL = choose_level()

PROBE = """
import os, resource, sys
import torch

def echo(x):
    return x

def logp(d, x):
    return d.log_prob(x)

def apply(f, *args):
    return f(*args)

def env_report():
    return {
        "isolated": sys.flags.isolated, "cwd": os.getcwd(), "env": dict(os.environ),
        "threads": torch.get_num_threads(), "rlimit_as": resource.getrlimit(resource.RLIMIT_AS)[0],
        "rlimit_fsize": resource.getrlimit(resource.RLIMIT_FSIZE)[0], "stdin": sys.stdin.read(),
        "listing": sorted(os.listdir(".")), "pid": os.getpid(),
    }

def ping():
    return None
"""

SMALL_NB_CELLS = [
    ("markdown", "# A student's notebook"),
    ("code", "%matplotlib inline\nimport torch\nimport matplotlib.pyplot as plt\n!ls -la"),
    ("code", "def sigmoid(x):\n    return torch.exp(x) / (1 + torch.exp(x))"),
    ("code", "undefined_name + 1"),
    ("code", "%%time\nraise RuntimeError('raised under %%time')"),  # they run, as in Jupyter
    (
        "code",
        "def sigmoid_prime(x):\n    %time y = 1\n    return sigmoid(x) * (1 - sigmoid(x))\n"
        "plt.plot([1, 2])\nplt.show()",
    ),
]


# what Jupyter would do with SMALL_NB_CELLS: the shell escape is refused (and recorded), the %%time cell runs
SMALL_NB_PROBLEMS = [
    LoadProblem("cell 1", "ShellEscapeRefused", "shell escapes are not run by the grader: !ls -la", "!ls -la"),
    LoadProblem("cell 3", "NameError", "name 'undefined_name' is not defined", "undefined_name + 1"),
    LoadProblem("cell 4", "RuntimeError", "raised under %%time", "%%time"),
]


def _write_notebook(path: Path, cells: list[tuple[str, str]]) -> Path:
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        nb.cells.append(nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source))
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(scope="module", params=["fresh", "zygote"])
def start(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """How children start: afresh, or (namespaces only) forked by a zygote, as in a warm grading run.
    Every test of this module runs both ways."""
    if request.param == "fresh":
        yield "fresh"
        return
    if LEVEL != "namespaces":
        pytest.skip(f"children are forked from a zygote under the namespaces level only; this machine has {LEVEL}")
    with installed_zygote(tmp_path_factory.mktemp("zygote")):
        yield "zygote"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, start: str) -> Path:
    return tmp_path_factory.mktemp(f"sandbox-{start}")


@pytest.fixture(autouse=True)
def _every_test_both_ways(start: str) -> None:
    """Makes each test of this module depend on :func:`start`."""


@pytest.fixture(scope="module")
def children(folder: Path, start: str) -> Iterator[dict[str, IsolatedImplementation]]:
    """Every shared child, started at once so that they load side by side."""
    probe = folder / "probe.py"
    probe.write_text(PROBE)
    small_nb = _write_notebook(folder / "small.ipynb", SMALL_NB_CELLS)
    specs: dict[str, tuple[Path, Limits] | tuple[Path, Limits, dict[str, str]]] = {
        "lecture_nb": (LECTURE_NB, Limits(call_seconds=10, load_seconds=200)),
        "lecture": (LECTURE_PY, FAST),
        "probe": (probe, Limits(call_seconds=10), {"sigmoid": "echo", "sigmoid_prime": "logp"}),
        "misbehaving": (HOSTILE / "misbehaving_calls.py", Limits(call_seconds=2, load_seconds=150)),
        "budget": (HOSTILE / "misbehaving_calls.py", Limits(call_seconds=60, submission_seconds=5)),
        "monkeypatches": (HOSTILE / "monkeypatches.py", FAST),
        "liars": (HOSTILE / "liars.py", FAST),
        "imports_grader": (HOSTILE / "imports_grader.py", FAST),
        "protocol": (HOSTILE / "protocol_forgery.py", FAST),
        "small_nb": (small_nb, FAST),
    }
    started = {
        key: IsolatedImplementation(
            spec[0], limits=spec[1], aliases=dict(spec[2:][0] if spec[2:] else {}), isolation=LEVEL
        )
        for key, spec in specs.items()
    }
    yield started
    for impl in started.values():
        impl.close()


@pytest.fixture(scope="module")
def lecture(children: dict[str, IsolatedImplementation]) -> IsolatedImplementation:
    return children["lecture"]


@pytest.fixture(scope="module")
def probe(children: dict[str, IsolatedImplementation]) -> IsolatedImplementation:
    return children["probe"]


@pytest.fixture(scope="module")
def lecture_module() -> Any:
    module, problems = load_module_in_process(LECTURE_PY)
    assert problems == []
    return module


# ------------------------------------------------------------------------------------------ wire format


def _roundtrip(values: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    kept: list[Any] = []

    def register(obj: Any) -> dict[str, Any]:
        kept.append(obj)
        return {"$": "h", "id": len(kept), "type": type(obj).__qualname__, "callable": callable(obj)}

    data = _codec.encode_message({"op": "ret"}, values, register)
    kind, length = _codec.HEADER.unpack_from(data, 0)
    assert kind == b"J" and length == len(data) - _codec.HEADER.size
    body = _codec.decode_message(bytearray(data[_codec.HEADER.size :]), lambda info, path: ("handle", info, path))
    return body, kept


def test_codec_round_trips_plain_data() -> None:
    value = [
        None, True, 0, -(2**80), 1.5, math.nan, math.inf, -math.inf, "tëxt\udc80", (1, (2.0, [3])),
        {"a": 1, "b": [None]}, 2 + 3j, b"\x00raw", torch.float64, np.float32(0.5), np.int64(7), np.bool_(True),
    ]  # fmt: skip
    body, kept = _roundtrip({"value": value})
    out = body["value"]
    assert kept == []
    assert out[:5] == value[:5] and math.isnan(out[5]) and out[6:8] == [math.inf, -math.inf]
    assert out[8:14] == value[8:14] and out[14:] == [0.5, 7, True]
    assert [type(x) for x in out[14:]] == [float, int, bool]


@pytest.mark.parametrize("dtype", list(_codec.DTYPES.values()))
def test_codec_round_trips_tensors_of_every_dtype(dtype: torch.dtype) -> None:
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6) - 5
    t = base.to(dtype) if dtype != torch.bool else base > 0
    cases = [t, t.T, t[1:3, ::2], t[0, 0], t[:0], t.reshape(2, 3, 4)]
    body, _ = _roundtrip({"value": cases})
    for sent, got in zip(cases, body["value"], strict=True):
        assert type(got) is torch.Tensor and got.dtype == dtype and got.shape == sent.shape
        assert torch.equal(got, sent) and got.is_contiguous()


def test_codec_sends_subclasses_and_numpy_as_plain_values_and_other_objects_as_handles() -> None:
    class Sneaky(torch.Tensor):
        def __eq__(self, other: object) -> bool:  # type: ignore[override]
            return True

    class LyingFloat(float):
        def __eq__(self, other: object) -> bool:
            return True

        def __float__(self) -> float:
            return 99.0

    sub = torch.ones(3).as_subclass(Sneaky)
    param = torch.nn.Parameter(torch.zeros(2))
    values = [sub, param, np.arange(3, dtype=np.uint16), LyingFloat(1.5), dist.Normal(0.0, 1.0), len, {1: 2}]
    body, kept = _roundtrip({"value": values})
    out = body["value"]
    assert type(out[0]) is torch.Tensor and torch.equal(out[0], torch.ones(3))
    assert type(out[1]) is torch.Tensor and not out[1].requires_grad
    assert out[2].dtype == torch.int64 and out[2].tolist() == [0, 1, 2]
    assert type(out[3]) is float and out[3] == 1.5
    assert [o[0] for o in out[4:]] == ["handle"] * 3 and kept[0] is values[4]
    assert out[5][1]["callable"] is True and out[4][1]["callable"] is False


def _payload(header: dict[str, Any] | str, blobs: bytes = b"") -> bytearray:
    head = header.encode() if isinstance(header, str) else __import__("json").dumps(header).encode()
    return bytearray(_codec.JSON_LEN.pack(len(head)) + head + blobs)


@pytest.mark.parametrize(
    "payload",
    [
        _payload('{"op": "ret", "value": NaN, "blobs": []}'),
        _payload({"op": "ret", "value": 1, "blobs": [4]}),
        _payload({"op": "ret", "value": {"$": "T", "d": "float32", "s": [1000], "b": 0}, "blobs": [8]}, b"\0" * 8),
        _payload({"op": "ret", "value": {"$": "T", "d": "object", "s": [1], "b": 0}, "blobs": [8]}, b"\0" * 8),
        _payload({"op": "ret", "value": {"$": "T", "d": "float32", "s": [-2, -2], "b": 0}, "blobs": [16]}, b"\0" * 16),
        _payload({"op": "ret", "value": {"$": "pickle", "v": "gASVAAAAAAAAAAB9lC4="}, "blobs": []}),
        _payload({"op": "ret", "value": {"$": "h", "id": "1; rm -rf /"}, "blobs": []}),
        _payload(
            {
                "op": "ret",
                "value": [
                    [
                        [
                            [
                                [
                                    [
                                        [
                                            [
                                                [
                                                    [
                                                        [
                                                            [
                                                                [
                                                                    [
                                                                        [
                                                                            [
                                                                                [
                                                                                    [
                                                                                        [
                                                                                            [
                                                                                                [
                                                                                                    [
                                                                                                        [
                                                                                                            [
                                                                                                                [
                                                                                                                    [
                                                                                                                        [
                                                                                                                            [
                                                                                                                                [
                                                                                                                                    [
                                                                                                                                        [
                                                                                                                                            [
                                                                                                                                                [
                                                                                                                                                    [
                                                                                                                                                        [
                                                                                                                                                            [
                                                                                                                                                                [
                                                                                                                                                                    [
                                                                                                                                                                        [
                                                                                                                                                                            [
                                                                                                                                                                                [
                                                                                                                                                                                    [
                                                                                                                                                                                        [
                                                                                                                                                                                            [
                                                                                                                                                                                                [
                                                                                                                                                                                                    [
                                                                                                                                                                                                        [
                                                                                                                                                                                                            [
                                                                                                                                                                                                                [
                                                                                                                                                                                                                    [
                                                                                                                                                                                                                        [
                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                    [
                                                                                                                                                                                                                                        1
                                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                ]
                                                                                                                                                                                                            ]
                                                                                                                                                                                                        ]
                                                                                                                                                                                                    ]
                                                                                                                                                                                                ]
                                                                                                                                                                                            ]
                                                                                                                                                                                        ]
                                                                                                                                                                                    ]
                                                                                                                                                                                ]
                                                                                                                                                                            ]
                                                                                                                                                                        ]
                                                                                                                                                                    ]
                                                                                                                                                                ]
                                                                                                                                                            ]
                                                                                                                                                        ]
                                                                                                                                                    ]
                                                                                                                                                ]
                                                                                                                                            ]
                                                                                                                                        ]
                                                                                                                                    ]
                                                                                                                                ]
                                                                                                                            ]
                                                                                                                        ]
                                                                                                                    ]
                                                                                                                ]
                                                                                                            ]
                                                                                                        ]
                                                                                                    ]
                                                                                                ]
                                                                                            ]
                                                                                        ]
                                                                                    ]
                                                                                ]
                                                                            ]
                                                                        ]
                                                                    ]
                                                                ]
                                                            ]
                                                        ]
                                                    ]
                                                ]
                                            ]
                                        ]
                                    ]
                                ]
                            ]
                        ]
                    ]
                ],
                "blobs": [],
            }
        ),
        _payload({"op": "ret", "blobs": []}, b"trailing bytes"),
        bytearray(b"\xff" * 40),
        bytearray(pickle.dumps({"op": "ret", "value": 1})),
    ],
)
def test_codec_rejects_malformed_messages(payload: bytearray) -> None:
    with pytest.raises(_codec.ProtocolError):
        _codec.decode_message(payload, lambda info, path: None)


DISTRIBUTIONS = [
    dist.Normal(0.5, 2.0),
    dist.Beta(3.0, 4.0),
    dist.Gamma(2.0, 1.5),
    dist.Laplace(0.0, 1.0),
    dist.Uniform(-1.0, 3.0),
    dist.MixtureSameFamily(
        dist.Categorical(torch.tensor([0.4, 0.6])), dist.Normal(torch.tensor([-1.0, 4.0]), torch.tensor([0.75, 0.5]))
    ),
    dist.TransformedDistribution(dist.Beta(3.0, 4.0), dist.SigmoidTransform().inv),
    dist.TransformedDistribution(dist.Gamma(2.0, 1.0), dist.ExpTransform().inv),
    dist.TransformedDistribution(dist.Uniform(0.0, 1.0), dist.AffineTransform(-0.5, 2.0)),
    dist.TransformedDistribution(dist.Normal(0.0, 1.0), [dist.AffineTransform(1.0, 2.0), dist.SigmoidTransform()]),
]
TRANSFORMS = [
    dist.SigmoidTransform(), dist.SigmoidTransform().inv, dist.ExpTransform(), dist.ExpTransform().inv,
    dist.AffineTransform(1.0, 3.0), dist.AffineTransform(1.0, 3.0).inv,
    dist.transform_to(dist.constraints.unit_interval).inv,
]  # fmt: skip
POINTS = torch.tensor([0.1, 0.4, 0.75])


def _pickle_round_trip(obj: Any) -> Any:
    buf = io.BytesIO()
    _Pickler(buf, None).dump(obj)  # type: ignore[arg-type]
    return pickle.loads(buf.getvalue())


@pytest.mark.parametrize("d", DISTRIBUTIONS, ids=lambda d: type(d).__name__)
def test_request_pickler_round_trips_distributions(d: dist.Distribution) -> None:
    back = _pickle_round_trip(d)
    assert torch.equal(back.log_prob(POINTS), d.log_prob(POINTS))


@pytest.mark.parametrize("t", TRANSFORMS, ids=str)
def test_request_pickler_round_trips_transforms_and_inverses(t: dist.transforms.Transform) -> None:
    back = _pickle_round_trip(t)
    assert torch.equal(back(POINTS), t(POINTS)) and torch.equal(back.inv(t(POINTS)), t.inv(t(POINTS)))


def test_request_pickler_round_trips_tensors() -> None:
    t = torch.arange(12.0).reshape(3, 4)
    cases = [t, t.T, t[::2, 1:], t.to(torch.float16), torch.tensor(1.5, requires_grad=True), torch.zeros(0, 3)]
    cases += [t > 4, (t + 1j).conj(), t.to(torch.bfloat16), t.to(torch.int16)]
    back = _pickle_round_trip(cases)
    for sent, got in zip(cases, back, strict=True):
        assert type(got) is torch.Tensor and got.dtype == sent.dtype and torch.equal(got, sent)
        assert got.requires_grad == sent.requires_grad
    assert torch.equal(back[2], t[::2, 1:])


# --------------------------------------------------------------------------------------- the lecture's code


def test_lecture_loads_with_every_contract_name(lecture: IsolatedImplementation) -> None:
    assert lecture.names() == frozenset(NAMES)
    assert lecture.load_problems() == [] and lecture.events() == []
    assert lecture.label == str(LECTURE_PY)


def test_values_come_back_as_fresh_plain_data(lecture: IsolatedImplementation, lecture_module: Any) -> None:
    x = torch.linspace(-3, 3, 7)
    got = lecture.invoke("sigmoid", x)
    assert type(got) is torch.Tensor and torch.equal(got, lecture_module.sigmoid(x))
    flips = lecture.get("flips")
    assert type(flips) is torch.Tensor and flips.tolist() == [0.0, 1.0, 1.0, 0.0, 0.0]
    flips[0] = 7.0  # a fresh copy: changing it changes nothing in the child
    assert lecture.get("flips")[0] == 0.0
    assert lecture.invoke("log_evidence").item() == pytest.approx(math.log(1 / 60), abs=1e-3)


def test_seeded_calls_are_reproducible_bit_for_bit(lecture: IsolatedImplementation, lecture_module: Any) -> None:
    p, q = dist.Normal(0.0, 1.0), dist.Normal(1.0, 2.0)
    first = lecture.invoke("kl_divergence_2", p, q, N=1000, seed=5)
    second = lecture.invoke("kl_divergence_2", p, q, N=1000, seed=5)
    other = lecture.invoke("kl_divergence_2", p, q, N=1000, seed=6)
    state = torch.get_rng_state()
    seed_everything(5)
    local = lecture_module.kl_divergence_2(p, q, N=1000)
    torch.set_rng_state(state)
    assert torch.equal(first, second) and torch.equal(first, local) and not torch.equal(first, other)


def test_errors_name_the_function_and_the_input(lecture: IsolatedImplementation) -> None:
    with pytest.raises(CallFailed) as info:
        lecture.invoke("kl_divergence_2", dist.Normal(0.0, 1.0), "q", N=1000)
    err = info.value
    assert err.call == "kl_divergence_2(Normal(loc=0.0, scale=1.0), 'q', N=1000)"
    assert err.exc_type == "AttributeError" and "log_prob" in err.exc_message and "\n" not in str(err)
    assert "kl_divergence_2" in err.traceback
    with pytest.raises(MissingName):
        lecture.invoke("no_such_function", 1)
    with pytest.raises(MissingName):
        lecture.get("no_such_data")


def test_remote_objects_call_and_read_attributes_in_the_child(lecture: IsolatedImplementation) -> None:
    y = torch.tensor([0.2, 0.5, 0.9])
    T = lecture.get("T")
    assert type(T) is RemoteObject and T.is_callable and "SigmoidTransform" in T.type_name
    assert torch.allclose(T(torch.tensor([0.0])), torch.tensor([0.5]))
    assert torch.allclose(T.inv(y), torch.logit(y)) and torch.allclose(lecture.invoke("T.inv", y), torch.logit(y))
    assert torch.equal(lecture.invoke(T.inv, y), lecture.invoke("T.inv", y))
    posterior = lecture.get("posterior")
    assert torch.equal(posterior.concentration1, torch.tensor(3.0))
    assert torch.equal(posterior.log_prob(y), dist.Beta(3.0, 4.0).log_prob(y))
    assert torch.equal(lecture.invoke("posterior.log_prob", y), dist.Beta(3.0, 4.0).log_prob(y))
    with pytest.raises(RemoteAttributeError):
        posterior.no_such_attribute  # noqa: B018
    assert not hasattr(posterior, "no_such_attribute")
    assert repr(posterior).startswith("<RemoteObject posterior")


def test_remote_objects_passed_back_arrive_as_the_childs_own_objects(lecture: IsolatedImplementation) -> None:
    xs = torch.linspace(-3, 3, 5)
    got = lecture.invoke("lp_transformed", xs, lecture.get("posterior"), lecture.get("T"))
    assert torch.allclose(
        got, dist.TransformedDistribution(dist.Beta(3.0, 4.0), dist.SigmoidTransform().inv).log_prob(xs)
    )
    loss = lecture.invoke("mode_seeking_loss", DISTRIBUTIONS[5])
    assert type(loss) is RemoteObject and loss.is_callable
    value = loss(torch.tensor([4.0, 0.5]))
    assert type(value) is torch.Tensor and value.item() == pytest.approx(0.5108, abs=2e-3)
    assert torch.equal(lecture.invoke(loss, (4.0, 0.5)), loss((4.0, 0.5)))


def test_grader_functions_become_callbacks(lecture: IsolatedImplementation) -> None:
    seen: list[Any] = []

    def square(x: torch.Tensor) -> torch.Tensor:
        seen.append(x)
        return x**2

    assert lecture.invoke("integrate", square, 0.0, 1.0, 500).item() == pytest.approx(1 / 3, abs=1e-5)
    assert type(seen[0]) is torch.Tensor and seen[0].shape == (500,)
    assert lecture.invoke("integrate", lambda x: torch.ones_like(x), 0.0, 2.0).item() == pytest.approx(2.0)

    def nested(x: torch.Tensor) -> torch.Tensor:  # calls back into the child while the child waits
        return lecture.invoke("sigmoid", x)

    assert lecture.invoke("integrate", nested, -5.0, 5.0, 1001).item() == pytest.approx(5.0, abs=1e-4)

    def broken(x: torch.Tensor) -> torch.Tensor:
        raise ValueError("the integrand refuses")

    with pytest.raises(CallFailed) as info:
        lecture.invoke("integrate", broken, 0.0, 1.0)
    assert info.value.exc_type == "CallbackError" and "ValueError: the integrand refuses" in info.value.exc_message


def test_round_trip_overhead_is_well_under_a_millisecond(lecture: IsolatedImplementation) -> None:
    x = torch.randn(100)
    for _ in range(50):
        lecture.invoke("sigmoid", x)
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(100):
            lecture.invoke("sigmoid", x)
        best = min(best, (time.perf_counter() - start) / 100)
    print(f"round trip of sigmoid(randn(100)): {best * 1e6:.0f} us")
    assert best < 2e-3  # about 0.1-0.3 ms on an idle machine; generous for loaded CI runners


@pytest.mark.parametrize("d", DISTRIBUTIONS, ids=lambda d: type(d).__name__)
def test_distributions_round_trip_into_the_child(probe: IsolatedImplementation, d: dist.Distribution) -> None:
    assert torch.equal(probe.invoke("sigmoid_prime", d, POINTS), d.log_prob(POINTS))  # alias of logp
    back = probe.invoke("sigmoid", d)  # alias of echo: a distribution comes back as a handle
    assert type(back) is RemoteObject and torch.equal(back.log_prob(POINTS), d.log_prob(POINTS))


@pytest.mark.parametrize("t", TRANSFORMS, ids=str)
def test_transforms_round_trip_into_the_child(probe: IsolatedImplementation, t: dist.transforms.Transform) -> None:
    assert torch.equal(probe.invoke("apply", t, POINTS), t(POINTS))
    assert torch.equal(probe.invoke("apply", t.inv, t(POINTS)), t.inv(t(POINTS)))


def test_aliases_and_names(probe: IsolatedImplementation) -> None:
    assert probe.names() == frozenset({"sigmoid", "sigmoid_prime"})
    assert probe.invoke("sigmoid", 3) == 3 and probe.invoke("echo", [1, (2,)]) == [1, (2,)]


def test_child_runs_isolated_with_limits(probe: IsolatedImplementation) -> None:
    report = probe.invoke("env_report")
    assert report["isolated"] == 1 and report["threads"] == 1 and report["stdin"] == ""
    inside = probe.child_scratch  # the scratch folder as the child sees it (/submission in the jail)
    assert report["cwd"] == inside and report["listing"] == ["probe.py", "tmp"]
    env = report["env"]
    assert env["HOME"] == inside and env["TMPDIR"] == f"{inside}/tmp"
    assert env["MPLBACKEND"] == "Agg" and env["OMP_NUM_THREADS"] == "1"
    assert not any(k.startswith("PYTHON") for k in env) and "VIRTUAL_ENV" not in env
    assert report["rlimit_as"] == 2048 * 2**20 and report["rlimit_fsize"] == 64 * 2**20
    if LEVEL == "namespaces":  # its own PID namespace, under bwrap's init
        assert report["pid"] == 2
    else:  # a session of its own
        assert report["pid"] != os.getpid() and os.getpgid(report["pid"]) == report["pid"]


# ------------------------------------------------------------------------------------ hostile submissions


def test_system_exit_keyboard_interrupt_and_input_in_calls_are_call_failures(
    children: dict[str, IsolatedImplementation],
) -> None:
    impl = children["misbehaving"]
    for name, exc_type in [("integrate", "SystemExit"), ("kl_divergence_1", "KeyboardInterrupt")]:
        with pytest.raises(CallFailed) as info:
            impl.invoke(name, None, None, 0.0, 1.0)
        assert info.value.exc_type == exc_type
    with pytest.raises(CallFailed) as info:
        impl.invoke("likelihood", torch.tensor([0.5]))
    assert info.value.exc_type == "EOFError"
    assert impl.events() == []  # the child survived all three


def test_ten_gigabytes_fail_in_the_child_only(children: dict[str, IsolatedImplementation]) -> None:
    impl = children["misbehaving"]
    for name, args in [("log_evidence", ()), ("derivative_lp", (None, None))]:
        with pytest.raises((CallFailed, SubmissionCrashed)) as info:
            impl.invoke(name, *args)
        assert "memory" in str(info.value).lower()
    assert impl.invoke("sigmoid", torch.zeros(1)).tolist() == [0.5]
    assert torch.ones(10).sum() == 10  # the grader is unaffected


def test_crashes_are_reported_and_the_next_call_restarts_the_child(children: dict[str, IsolatedImplementation]) -> None:
    impl = children["misbehaving"]
    sigmoid = impl.get("sigmoid")  # a handle from before the crash
    with pytest.raises(SubmissionCrashed) as info:
        impl.invoke("sigmoid_prime", torch.zeros(3))
    assert "exit status 0" in str(info.value) and info.value.call == "sigmoid_prime(tensor([0.0, 0.0, 0.0]))"
    with pytest.raises(SubmissionCrashed, match="SIGSEGV"):
        impl.invoke("lp_transformed", None, None, None)
    assert torch.equal(sigmoid(torch.zeros(2)), torch.full((2,), 0.5))  # re-created in the fresh child
    events = impl.events()
    assert any("sigmoid_prime" in e and "crashed" in e for e in events)
    assert any(e.startswith("child restarted") for e in events)


def test_a_hanging_call_times_out_and_the_next_call_works(children: dict[str, IsolatedImplementation]) -> None:
    impl = children["misbehaving"]
    grandchild = impl.invoke("spawn_grandchild")  # a process the submission forked, in the child's group
    deadline = time.monotonic() + 5
    while not named("vchk-grandchild") and time.monotonic() < deadline:
        time.sleep(0.02)
    alive = named("vchk-grandchild")
    assert alive
    start = time.monotonic()
    with pytest.raises(CallTimeout) as info:
        impl.invoke("kl_divergence_2", dist.Normal(0.0, 1.0), dist.Normal(30.0, 1.0), N=1000)
    assert 1.9 < time.monotonic() - start < 5
    assert info.value.call == "kl_divergence_2(Normal(loc=0.0, scale=1.0), Normal(loc=30.0, scale=1.0), N=1000)"
    assert "kl_divergence_2(Normal(loc=0.0, scale=1.0), Normal(loc=30.0, scale=1.0), N=1000) timed out after 2 s" in (
        "\n".join(impl.events())
    )
    assert grandchild > 0 and all(ended(pid, 5.0) for pid in alive)  # everything the child started was killed
    assert impl.invoke("sigmoid", torch.zeros(1)).tolist() == [0.5]


def test_the_submission_time_budget_stops_all_later_calls(children: dict[str, IsolatedImplementation]) -> None:
    impl = children["budget"]  # 5 s in all, loading included
    with pytest.raises(TimeLimitExhausted):
        impl.invoke("kl_divergence_2", None, None)
    assert impl.seconds_spent >= 4.9
    start = time.monotonic()
    with pytest.raises(TimeLimitExhausted):
        impl.invoke("sigmoid", torch.zeros(1))
    assert time.monotonic() - start < 0.1
    assert any("exhausted" in e for e in impl.events())


def test_fake_summaries_stay_in_the_log(folder: Path, capfd: pytest.CaptureFixture[str]) -> None:
    impl = IsolatedImplementation(HOSTILE / "fake_summary.py", limits=FAST, isolation=LEVEL)
    with impl:
        assert impl.names() == frozenset({"sigmoid", "DKL_QP"})
        assert impl.invoke("sigmoid", torch.zeros(1)).tolist() == [0.5]
        log = impl.log_text()
        # printing 100 MiB costs nothing: the child prints into a pipe (no file size limit), whose first and
        # last 64 KiB are kept
        assert impl.invoke("DKL_QP", (0.0, 1.0)) == 0.0
        flooded = impl.log_text()
        assert impl.invoke("sigmoid", torch.zeros(1)).tolist() == [0.5]  # the same child
        assert impl.events() == []
    out, err = capfd.readouterr()
    assert "passed" not in out + err and "GRADE" not in out + err and "xxxx" not in out + err
    assert "40 passed in 1.0s" in log and "GRADE: 100/100" in log and "PASSED tests/" in log
    dropped = len(log.encode()) + 100 * 2**20 - 2 * 65536
    assert flooded == log + "x" * (65536 - len(log.encode())) + f"\n[... {dropped} bytes not kept ...]\n" + "x" * 65536
    assert impl.events() == ["fake_summary.py printed 105 MB; kept the first and last 64 KiB of its output"]


def test_files_are_written_in_the_scratch_folder_only(folder: Path) -> None:
    original = folder / "writer"
    original.mkdir()
    shutil.copy(HOSTILE / "writes_files.py", original)
    impl = IsolatedImplementation(original / "writes_files.py", limits=FAST, isolation=LEVEL)
    scratch = impl.scratch
    seen = [Path(p) for p in impl.invoke("likelihood", None)]  # as the child sees them
    assert all(p.is_relative_to(impl.child_scratch) for p in seen)
    written = [scratch / p.relative_to(impl.child_scratch) for p in seen]
    if LEVEL in ("namespaces", "uid"):  # the child's folder is a tmpfs of its own: nothing reaches the host's disk
        assert not any(p.exists() for p in written)
        assert sorted(p.name for p in scratch.iterdir()) == ["tmp", "writes_files.py"]
    else:
        assert all(p.exists() for p in written)
        assert (scratch / "written_at_import.txt").read_text() == "hello"
    with pytest.raises(SubmissionCrashed, match="file size limit"):
        impl.invoke("log_evidence")
    assert sorted(p.name for p in original.iterdir()) == ["writes_files.py"]
    impl.close()
    assert not scratch.exists()
    with pytest.raises(SubmissionCrashed, match="closed"):
        impl.invoke("sigmoid", torch.zeros(1))


def test_global_state_changed_by_the_submission_stays_in_the_child(children: dict[str, IsolatedImplementation]) -> None:
    dtype, threads, rng = torch.get_default_dtype(), torch.get_num_threads(), torch.get_rng_state()
    impl = children["monkeypatches"]
    assert impl.load_problems() == []
    assert impl.invoke("log_evidence") == 42.0  # math.log is patched in the child
    dtype_in_child, draws, mean = impl.invoke("likelihood", None, seed=1)
    assert dtype_in_child == torch.float64 and mean == 42.0
    assert torch.equal(impl.invoke("likelihood", None, seed=1)[1], draws)  # seeding still works
    assert torch.get_default_dtype() == dtype and torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.exp(torch.zeros(1)).item() == 1.0 and math.log(math.e) == 1.0 and np.mean([1.0, 3.0]) == 2.0
    assert (torch.ones(1) + torch.ones(1)).item() == 2.0


def test_liars_arrive_as_remote_objects_and_subclasses_as_plain_values(
    children: dict[str, IsolatedImplementation],
) -> None:
    impl = children["liars"]
    liar = impl.invoke("log_evidence")
    assert type(liar) is RemoteObject and liar.type_name == "__submission__.Liar"
    assert liar != -4.0943445622221 and not (liar == 1)
    with pytest.raises(TypeError):
        float(liar)
    got = impl.invoke("sigmoid", torch.zeros(2))
    assert type(got) is torch.Tensor and torch.equal(got, torch.full((2,), 0.5))
    assert not torch.equal(got, torch.zeros(2))
    lying_float = impl.invoke("sigmoid_prime", 0.0)
    assert type(lying_float) is float and lying_float == 0.25
    assert type(impl.invoke("likelihood", None)) is RemoteObject  # a dict with a non-str key


def test_the_grader_packages_cannot_be_imported(children: dict[str, IsolatedImplementation]) -> None:
    impl = children["imports_grader"]
    lines = (HOSTILE / "imports_grader.py").read_text().splitlines()
    marks = ("from vicheck", '__import__("properties")', "import reference")
    at = {n: f"line {lines.index(next(ln for ln in lines if n in ln)) + 1}" for n in marks}
    problems = impl.load_problems()
    assert (
        LoadProblem(
            at["import reference"], "ImportError", BLOCKED_MESSAGE, "import reference  # noqa: E402 - refused at import"
        )
        in problems
    )
    assert {p.where for p in problems} == set(at.values())  # found in the source too, inside the functions
    assert len(problems) == 3  # the import that ran and failed is not counted twice
    assert impl.names() == frozenset({"sigmoid", "sigmoid_prime", "likelihood"})
    for name in ("sigmoid_prime", "likelihood"):
        with pytest.raises(CallFailed) as info:
            impl.invoke(name, torch.zeros(1))
        assert info.value.exc_type == "ImportError" and info.value.exc_message == BLOCKED_MESSAGE


def test_forged_replies_are_never_unpickled(children: dict[str, IsolatedImplementation]) -> None:
    impl = children["protocol"]
    for name, why in [("likelihood", "not data"), ("ELBO_loss", "over the limit")]:
        with pytest.raises(SubmissionCrashed, match="protocol violation") as info:
            impl.invoke(name, (0.0, 1.0))
        assert why in str(info.value)  # the second call ran in a fresh child


def test_files_beside_the_submission_have_no_effect(folder: Path) -> None:
    sub = folder / "beside"
    sub.mkdir()
    marker = folder / "MARKER"
    evil = f"open({str(marker)!r}, 'w').write('pwned')\nraise SystemExit('evil module ran')\n"
    for name in ("conftest.py", "sitecustomize.py", "usercustomize.py", "math.py", "numpy.py", "torch.py"):
        (sub / name).write_text(evil)
    (sub / "pytest.ini").write_text("[pytest]\naddopts = --this-would-break\n")
    (sub / "submission.py").write_text(
        "import math\nimport numpy\nimport torch\n\ndef sigmoid(x):\n    return 1 / (1 + torch.exp(-x)) + 0 * math.pi\n"
    )
    with IsolatedImplementation(sub / "submission.py", limits=FAST, isolation=LEVEL) as impl:
        assert impl.load_problems() == [] and impl.names() == frozenset({"sigmoid"})
        assert impl.invoke("sigmoid", torch.zeros(1)).tolist() == [0.5]
    assert not marker.exists()


# ------------------------------------------------------------------------------------------------ notebooks


def test_notebook_executor_in_process(folder: Path) -> None:
    path = _write_notebook(folder / "in_process.ipynb", SMALL_NB_CELLS)
    impl = load_notebook_in_process(path, aliases={"sigmoid_prime": "sigmoid_prime"})
    assert impl.load_problems() == SMALL_NB_PROBLEMS
    assert impl.names() == frozenset({"sigmoid", "sigmoid_prime"})
    assert impl.invoke("sigmoid_prime", torch.zeros(1)).tolist() == [0.25]


def test_notebook_in_a_child_matches_the_in_process_executor(children: dict[str, IsolatedImplementation]) -> None:
    impl = children["small_nb"]
    assert impl.load_problems() == SMALL_NB_PROBLEMS
    assert impl.names() == frozenset({"sigmoid", "sigmoid_prime"})
    assert impl.invoke("sigmoid_prime", torch.zeros(1)).tolist() == [0.25]


def test_exit_at_import_is_a_load_problem() -> None:
    impl = load_implementation(str(HOSTILE / "exit_at_import.py"), limits=FAST)  # a path: run in a child
    assert isinstance(impl, IsolatedImplementation)
    with impl:
        assert impl.load_problems() == [LoadProblem("line 12", "SystemExit", "3", "sys.exit(3)")]
        assert impl.names() == frozenset({"sigmoid"})
        assert impl.invoke("sigmoid", torch.tensor([0.0])).tolist() == [0.5]


def test_the_lecture_notebook_exposes_the_lecture_names(
    children: dict[str, IsolatedImplementation], lecture: IsolatedImplementation
) -> None:
    impl = children["lecture_nb"]  # started with the others; its brute-force fits take about 20 s
    assert impl.names() == lecture.names() == frozenset(NAMES)
    problems = impl.load_problems()
    assert problems and all(p.exc_type == "FileNotFoundError" and "lecture_4_figs" in p.message for p in problems)
    assert {p.where for p in problems} >= {"cell 3", "cell 4", "cell 16", "cell 20"}
    assert impl.invoke("log_evidence").item() == pytest.approx(lecture.invoke("log_evidence").item())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
