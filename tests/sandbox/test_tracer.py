"""The child's call tracer (``vicheck.sandbox._child.Tracer``): it records the contract names each call reached
and is otherwise invisible to the submission's code (metadata, introspection, recursion, aliases, rebinding),
in process (a file loaded here) as in the child."""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

import pytest

from vicheck.sandbox._child import Tracer
from vicheck.sandbox.loading import load_implementation

SOURCE = textwrap.dedent(
    '''
    import torch

    flips = torch.tensor([0.0, 1.0, 1.0])
    heads = flips.sum()


    def integrate(func, a, b, N=500):
        """Trapezoid rule."""
        x = torch.linspace(a, b, N)
        return torch.trapz(func(x), x)


    def kl_divergence_1(p, q, a, b, N=500):
        return integrate(lambda x: p.log_prob(x).exp() * (p.log_prob(x) - q.log_prob(x)), a, b, N)


    kl_divergence = kl_divergence_1


    def likelihood(p):
        return p ** heads


    def sigmoid(x, depth=0):
        return sigmoid(x, depth + 1) if depth < 3 else 1 / (1 + torch.exp(-x))


    def sigmoid_prime(x):
        global sigmoid_prime
        sigmoid_prime = lambda x: 0.0  # the student rebinds it: later calls are the new one's, untraced
        return sigmoid(x) * (1 - sigmoid(x))
    '''
)
NAMES = ["integrate", "kl_divergence_1", "kl_divergence", "likelihood", "sigmoid", "sigmoid_prime", "flips"]


def namespace() -> tuple[dict, Tracer]:
    ns: dict = {}
    exec(compile(SOURCE, "student.py", "exec"), ns)
    tracer = Tracer()
    tracer.install(ns, NAMES, {}, [SOURCE])
    return ns, tracer


def run(tracer: Tracer, fn, *args):  # type: ignore[no-untyped-def]
    outer = tracer.start()
    try:
        return fn(*args)
    finally:
        counts = tracer.stop(outer)
        run.counts = counts  # type: ignore[attr-defined]


def test_a_call_records_the_contract_names_it_reached() -> None:
    import torch

    ns, tracer = namespace()
    p, q = torch.distributions.Normal(0.0, 1.0), torch.distributions.Normal(1.0, 1.0)
    run(tracer, ns["kl_divergence_1"], p, q, -5.0, 5.0)
    assert run.counts == {"kl_divergence_1": 1, "integrate": 1}  # type: ignore[attr-defined]
    run(tracer, ns["integrate"], torch.sin, 0.0, 1.0)
    assert run.counts == {"integrate": 1}  # type: ignore[attr-defined]
    run(tracer, ns["sigmoid"], torch.tensor(0.0))
    assert run.counts == {"sigmoid": 4}  # type: ignore[attr-defined]  # recursion goes through the wrapper
    # the data a function reads, through the names it was computed from (heads = flips.sum())
    run(tracer, ns["likelihood"], torch.tensor(0.5))
    assert run.counts == {"likelihood": 1, "flips": 1}  # type: ignore[attr-defined]
    counts: dict[str, int] = {}
    tracer.reach_data("flips", counts)  # the grader asking for a data name
    tracer.reach_data("integrate", counts)  # a function counts itself when it is called
    assert counts == {"flips": 1}


def test_the_wrapper_is_invisible_to_the_students_code() -> None:
    import torch

    ns, tracer = namespace()
    integrate = ns["integrate"]
    assert integrate.__name__ == "integrate" and integrate.__doc__ == "Trapezoid rule."
    assert str(inspect.signature(integrate)) == "(func, a, b, N=500)"
    assert ns["kl_divergence"] is ns["kl_divergence_1"]  # an alias stays the same object
    assert ns["flips"].tolist() == [0.0, 1.0, 1.0]  # data is left alone
    counts_before = dict(tracer.counts)
    run(tracer, ns["sigmoid_prime"], torch.tensor(0.0))
    assert run.counts == {"sigmoid_prime": 1, "sigmoid": 8}  # type: ignore[attr-defined]
    assert ns["sigmoid_prime"](torch.tensor(0.0)) == 0.0  # the student's own rebinding stands
    assert tracer.counts == counts_before


def test_an_error_in_the_students_code_is_its_own_and_the_trace_is_kept() -> None:
    ns, tracer = namespace()
    with pytest.raises(TypeError, match="not callable"):
        run(tracer, ns["integrate"], None, 0.0, 1.0)
    assert run.counts == {"integrate": 1}  # type: ignore[attr-defined]


def test_a_file_loaded_in_process_is_traced_and_the_reference_is_not(tmp_path: Path) -> None:
    path = tmp_path / "student.py"
    path.write_text(SOURCE, encoding="utf-8")
    impl = load_implementation(str(path), isolation="none")
    import torch

    impl.reset_reached()
    impl.invoke("kl_divergence", torch.distributions.Normal(0.0, 1.0), torch.distributions.Normal(0.0, 2.0), -5, 5)
    assert impl.reached() == {"kl_divergence_1": 1, "integrate": 1}
    reference = load_implementation("reference", isolation="none")
    reference.reset_reached()
    reference.invoke("sigmoid", torch.tensor(0.0))
    assert reference.reached() == {}
