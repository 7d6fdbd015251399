"""Field rules shared by the event dataclasses.

Each check takes the field's name and the value received, returns the value
in its canonical type (an integer where a float is due becomes a float) and
raises :class:`~streams.events.errors.EventError` naming the field, the rule
and the value otherwise. ``bool`` is never a number.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from streams.events.errors import EventError, Reason

#: Longest event or command identifier, in characters.
MAX_ID_CHARS = 128
#: Longest SKU code, in characters.
MAX_SKU_CHARS = 64
#: Longest short label (channel, location, promotion kind), in characters.
MAX_LABEL_CHARS = 64
#: Event times before this are taken for corrupt records.
EARLIEST_EVENT_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: Event times from this on are taken for corrupt records.
LATEST_EVENT_TIME = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def identifier(field: str, value: object, max_chars: int = MAX_ID_CHARS) -> str:
    """A non-empty string of at most ``max_chars`` characters."""
    if type(value) is not str:
        raise EventError(field, "must be a string", value, Reason.WRONG_TYPE)
    if not 0 < len(value) <= max_chars:
        raise EventError(
            field, f"must have 1 to {max_chars} characters", value, Reason.OUT_OF_RANGE
        )
    return value


def sku(value: object, field: str = "sku") -> str:
    """A SKU code: 1 to 64 characters, no leading or trailing whitespace."""
    text = identifier(field, value, MAX_SKU_CHARS)
    if text != text.strip():
        raise EventError(
            field, "must not start or end with whitespace", text, Reason.BAD_FORMAT
        )
    return text


def label(field: str, value: object) -> str | None:
    """An optional short label: None, or 1 to 64 characters."""
    if value is None:
        return None
    return identifier(field, value, MAX_LABEL_CHARS)


def integer(
    field: str, value: object, low: int | None = None, high: int | None = None
) -> int:
    """An integer (not a bool, not a float) in ``[low, high]``."""
    if type(value) is not int:
        raise EventError(field, "must be an integer", value, Reason.WRONG_TYPE)
    if (low is not None and value < low) or (high is not None and value > high):
        raise EventError(field, f"must lie in {_span(low, high)}", value)
    return value


def number(
    field: str,
    value: object,
    low: float | None = None,
    high: float | None = None,
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> float:
    """A finite number (int or float, not bool) in the stated interval."""
    kind = type(value)
    if kind is not float and kind is not int:
        raise EventError(field, "must be a number", value, Reason.WRONG_TYPE)
    x = float(value)  # type: ignore[arg-type]
    if not math.isfinite(x):
        raise EventError(field, "must be finite", value)
    if (low is not None and (x < low or (open_low and x == low))) or (
        high is not None and (x > high or (open_high and x == high))
    ):
        interval = _span(low, high, open_low, open_high)
        raise EventError(field, f"must lie in {interval}", value)
    return x


def aware_datetime(field: str, value: object) -> dt.datetime:
    """A datetime with a UTC offset."""
    if not isinstance(value, dt.datetime):
        raise EventError(field, "must be a datetime", value, Reason.WRONG_TYPE)
    if value.utcoffset() is None:
        raise EventError(field, "must carry a UTC offset", value, Reason.BAD_FORMAT)
    return value


def event_time(field: str, value: object) -> dt.datetime:
    """A datetime with a UTC offset, from 1970 up to (not including) 2100."""
    moment = aware_datetime(field, value)
    if not EARLIEST_EVENT_TIME <= moment < LATEST_EVENT_TIME:
        first, end = EARLIEST_EVENT_TIME.date(), LATEST_EVENT_TIME.date()
        rule = f"must lie in [{first}, {end})"
        raise EventError(field, rule, moment.isoformat(), Reason.OUT_OF_RANGE)
    return moment


def date(field: str, value: object) -> dt.date:
    """A calendar date (a datetime is not a date here)."""
    if type(value) is not dt.date:
        raise EventError(field, "must be a date", value, Reason.WRONG_TYPE)
    return value


def version(field: str, value: object) -> str | int:
    """A version tag: a 1 to 128 character string or an integer >= 0."""
    if type(value) is int:
        return integer(field, value, low=0)
    if type(value) is str:
        return identifier(field, value)
    raise EventError(field, "must be a string or an integer", value, Reason.WRONG_TYPE)


def sequence(field: str, value: object) -> Sequence[Any]:
    """A list or tuple (JSON array)."""
    if type(value) is not list and type(value) is not tuple:
        raise EventError(field, "must be a list", value, Reason.WRONG_TYPE)
    return value


def _span(
    low: float | None,
    high: float | None,
    open_low: bool = False,
    open_high: bool = False,
) -> str:
    left = "(-inf" if low is None else f"{'(' if open_low else '['}{low}"
    right = "inf)" if high is None else f"{high}{')' if open_high else ']'}"
    return f"{left}, {right}"
