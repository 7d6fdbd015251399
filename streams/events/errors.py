"""What goes wrong with an event, as a machine-usable code and a human message."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

#: Longest ``repr`` of a received value shown in a message; longer ones are cut.
SHOWN_VALUE_CHARS = 80


class Reason(StrEnum):
    """Why a record was rejected: the ``reason`` of an error and a dead letter.

    The values are stable strings, fit for metric labels and alert rules.
    """

    TOO_LARGE = "too_large"
    BAD_ENCODING = "bad_encoding"
    BAD_JSON = "bad_json"
    NOT_OBJECT = "not_object"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_FIELD = "unknown_field"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    BAD_FORMAT = "bad_format"
    INCONSISTENT = "inconsistent"
    UNKNOWN_SKU = "unknown_sku"


class EventError(ValueError):
    """A record breaks a rule of its topic's schema.

    Parameters
    ----------
    field
        The offending field (``values[2][0]`` for an item of a nested list),
        or ``record`` for the record as a whole.
    rule
        The rule broken, as a short phrase (``must be a non-zero integer``).
    value
        The value received. For an unknown field this is the field's name,
        so that values a producer should not have sent (customer identifiers)
        do not reach logs.
    reason
        The stable code of the rule's kind.
    """

    def __init__(
        self,
        field: str,
        rule: str,
        value: object,
        reason: Reason = Reason.OUT_OF_RANGE,
    ) -> None:
        super().__init__(f"{field}: {rule}, got {show(value)}")
        self.field = field
        self.rule = rule
        self.value = value
        self.reason = Reason(reason)

    def __reduce__(self) -> tuple[type[EventError], tuple[str, str, object, Reason]]:
        return (type(self), (self.field, self.rule, self.value, self.reason))


class _Absent:
    """The value of a field the record does not hold."""

    def __repr__(self) -> str:
        return "<absent>"

    def __reduce__(self) -> str:
        return "ABSENT"


#: The ``value`` of an error about a missing field.
ABSENT = _Absent()


def show(value: object) -> str:
    """``repr(value)``, cut to :data:`SHOWN_VALUE_CHARS` characters.

    Dates and datetimes show as their ISO text, as they travel.
    """
    if isinstance(value, dt.date):
        value = value.isoformat()
    text = repr(value)
    if len(text) > SHOWN_VALUE_CHARS:
        return text[: SHOWN_VALUE_CHARS - 3] + "..."
    return text
