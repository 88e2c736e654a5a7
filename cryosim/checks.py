"""Input checking shared by every parameter object.

Every bad value is refused with a :class:`ScenarioError` that names the field,
the value given and the allowed range, so that a user editing a scenario file
knows exactly what to change.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["ScenarioError", "MISSING_KEY", "check_range", "check_choice", "check_positive"]


class _MissingKey:
    """The value of a required key that is not there."""

    def __repr__(self) -> str:
        return "<missing>"


#: Pass as ``value`` to :class:`ScenarioError` for a required key that is absent.
MISSING_KEY = _MissingKey()


class ScenarioError(ValueError):
    """A scenario or parameter value outside its allowed range.

    Attributes
    ----------
    field : str
        Dotted name of the offending field (``"probe.gauge"``).
    value : object
        The value that was given.
    allowed : str
        Human-readable description of the allowed values.
    """

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        if value is MISSING_KEY:
            super().__init__(f"{field} is missing: expected {allowed}")
        else:
            super().__init__(f"{field} = {value!r} is not allowed: expected {allowed}")


def _as_float(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(field, value, "a real number")
    x = float(value)
    if not math.isfinite(x):
        raise ScenarioError(field, value, "a finite number")
    return x


def check_range(
    field: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    unit: str = "",
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a float if it lies in the interval, else raise.

    The interval is closed unless ``low_open``/``high_open`` is set.
    """
    x = _as_float(field, value)
    bad = (
        (low is not None and (x < low or (low_open and x == low)))
        or (high is not None and (x > high or (high_open and x == high)))
    )
    if bad:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        lb = "(" if (low_open or low is None) else "["
        hb = ")" if (high_open or high is None) else "]"
        u = f" {unit}" if unit else ""
        raise ScenarioError(field, value, f"a value in {lb}{lo}, {hi}{hb}{u}")
    return x


def check_positive(field: str, value: Any, *, unit: str = "") -> float:
    """Return ``value`` as a float if it is strictly positive and finite."""
    return check_range(field, value, 0.0, None, unit=unit, low_open=True)


def check_choice(field: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise."""
    options = list(choices)
    if value not in options:
        raise ScenarioError(field, value, "one of " + ", ".join(repr(c) for c in options))
    return value
