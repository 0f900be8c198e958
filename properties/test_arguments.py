"""Bad arguments: the contract functions reject what has no meaning with a ``ValueError`` that names the
argument (robustness; the lecture's code silently returns a number for most of these)."""

from __future__ import annotations

import torch.distributions as dist
from hypothesis import given
from hypothesis import strategies as st

from vicheck.implementation import CallFailed, SubmissionProblem

from ._checks import PropertyFailure, text
from ._registry import prop


def _expect_value_error(impl, name: str, *args, argument: str) -> None:
    call = text(name, *args)
    try:
        value = impl.invoke(name, *args)
    except CallFailed as exc:
        if exc.exc_type != "ValueError":
            raise PropertyFailure(
                f"{name} raised the wrong exception",
                call=call,
                expected=f"ValueError naming {argument!r}",
                got=str(exc),
            ) from None
        if argument not in exc.exc_message:
            raise PropertyFailure(
                f"{name}'s ValueError does not name the argument",
                call=call,
                expected=f"a message naming {argument!r}",
                got=exc.exc_message,
            ) from None
        return
    except SubmissionProblem as exc:
        raise PropertyFailure(f"{name} failed", call=call, expected="ValueError", got=str(exc)) from None
    raise PropertyFailure(
        f"{name} accepted a meaningless argument",
        call=call,
        expected=f"ValueError naming {argument!r}",
        got=f"returned {value!r}",
    )


def _square(x):
    """lambda x: x ** 2"""
    return x**2


@prop(functions=("integrate",), category="robustness", weight=1.0, examples=6)
@given(case=st.sampled_from([("N", 0.0, 1.0, 1), ("N", 0.0, 1.0, 0), ("a", 1.0, 0.0, 10), ("a", 2.0, 2.0, 10)]))
def test_integrate_rejects_bad_arguments(impl, case):
    """``integrate(f, a, b, N)`` with N < 2 or a >= b raises ValueError naming N, or a (or b)."""
    argument, a, b, n = case
    _expect_value_error(impl, "integrate", _square, a, b, n, argument=argument)


@prop(functions=("kl_divergence_1",), category="robustness", weight=1.0, examples=4)
@given(case=st.sampled_from([("N", -5.0, 5.0, 1), ("a", 5.0, -5.0, 100)]))
def test_kl1_rejects_bad_arguments(impl, case):
    """``kl_divergence_1(p, q, a, b, N)`` with N < 2 or a >= b raises ValueError naming the argument."""
    argument, a, b, n = case
    p, q = dist.Normal(0.0, 1.0), dist.Normal(1.0, 1.0)
    _expect_value_error(impl, "kl_divergence_1", p, q, a, b, n, argument=argument)


@prop(functions=("DKL_QP",), category="robustness", weight=1.0, examples=3)
@given(sigma=st.sampled_from([0.0, -1.0, -0.5]))
def test_dkl_qp_rejects_nonpositive_sigma(impl, sigma):
    """``DKL_QP((mu, sigma))`` with sigma <= 0 raises ValueError naming sigma."""
    _expect_value_error(impl, "DKL_QP", [0.0, sigma], argument="sigma")
