"""A property failed by the submission is shown briefly (its message, the falsifying example and the
property's line); any other exception, a bug of the suite's, keeps pytest's long traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from properties._checks import PropertyFailure
from vicheck.grading.run.verdicts import brief_failures as _brief_failures
from vicheck.implementation import CallTimeout


class _Item:
    """A stand-in for a property's item: only what ``_brief_failures`` uses, the property's file and
    pytest's own ``repr_failure``."""

    path = Path(__file__)

    def repr_failure(self, excinfo: Any) -> Any:
        return "LONG FORM"


def _briefed() -> Any:
    item = _Item()
    _brief_failures(cast(pytest.Function, item))
    return item


def _property_body(exc: BaseException) -> None:
    raise exc  # this line of this file is the property's own line


def _raised(exc: BaseException) -> pytest.ExceptionInfo[BaseException]:
    with pytest.raises(type(exc)) as info:
        _property_body(exc)
    return info


@pytest.mark.parametrize(
    "exc",
    [PropertyFailure("sigmoid is not the logistic function\n  input:    sigmoid(0.0)"), CallTimeout("f(1)", 6.0)],
    ids=["property-failure", "submission-problem"],
)
def test_the_submissions_failure_is_its_message_and_line(exc: BaseException) -> None:
    exc.add_note("Falsifying example: test_x(x=0.0)")
    text = _briefed().repr_failure(_raised(exc))
    line = _property_body.__code__.co_firstlineno + 1
    assert text.splitlines()[0] == f"{__file__}:{line}: {type(exc).__name__}"
    assert str(exc) in text and text.endswith("Falsifying example: test_x(x=0.0)")


def test_a_bug_of_the_suite_keeps_the_long_traceback() -> None:
    assert _briefed().repr_failure(_raised(ZeroDivisionError("division by zero"))) == "LONG FORM"
