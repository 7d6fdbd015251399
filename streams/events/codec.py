"""Bytes to JSON objects and back, with the checks every topic shares.

A record is one UTF-8 JSON object. Decoding rejects, in this order: a record
over the size limit (before parsing), bytes that are not UTF-8, text that is
not JSON, JSON that is not an object, a missing or unsupported
``schema_version``, unknown fields and missing required fields. What each
field must hold is checked by the event's dataclass.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import orjson

from streams.events.errors import ABSENT, EventError, Reason

#: The schema version every topic writes today.
SCHEMA_VERSION = 1
#: The schema versions the decoders read.
SUPPORTED_VERSIONS = frozenset({SCHEMA_VERSION})
#: Default size limit of one record, in bytes.
MAX_RECORD_BYTES = 64 * 1024

RECORD = "record"
_SHOWN_BYTES = 48


@dataclass(frozen=True, slots=True)
class Fields:
    """The wire fields of one topic, besides ``schema_version``."""

    topic: str
    required: frozenset[str]
    optional: frozenset[str] = frozenset()
    allowed: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        allowed = self.required | self.optional | {"schema_version"}
        object.__setattr__(self, "allowed", allowed)


def load_object(raw: bytes | None, max_bytes: int = MAX_RECORD_BYTES) -> dict[str, Any]:
    """Parse ``raw`` as one JSON object, or raise :class:`EventError`."""
    if raw is None:
        raise EventError(
            RECORD, "must be a JSON object", "no value (a tombstone)", Reason.NOT_OBJECT
        )
    if len(raw) > max_bytes:
        raise EventError(
            RECORD, f"must be at most {max_bytes} bytes", len(raw), Reason.TOO_LARGE
        )
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _undecodable(raw, exc) from None
    if type(obj) is not dict:
        raise EventError(
            RECORD, "must be a JSON object", _json_kind(obj), Reason.NOT_OBJECT
        )
    return obj


def check_fields(obj: dict[str, Any], fields: Fields) -> None:
    """Check the version, then reject unknown fields, then missing ones."""
    version = obj.get("schema_version")
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        check_version(version, present="schema_version" in obj)
    keys = obj.keys()
    if not keys <= fields.allowed:
        name = min(keys - fields.allowed)
        raise EventError(
            name,
            f"is not a field of {fields.topic} v{version}",
            name,
            Reason.UNKNOWN_FIELD,
        )
    if not keys >= fields.required:
        name = min(fields.required - keys)
        raise EventError(name, "is required", ABSENT, Reason.MISSING_FIELD)


def check_version(version: object, present: bool = True) -> None:
    """Raise unless ``version`` is a supported ``schema_version``."""
    if not present:
        raise EventError("schema_version", "is required", ABSENT, Reason.MISSING_FIELD)
    if type(version) is not int:
        raise EventError(
            "schema_version", "must be an integer", version, Reason.WRONG_TYPE
        )
    if version not in SUPPORTED_VERSIONS:
        raise EventError(
            "schema_version",
            f"must be one of {sorted(SUPPORTED_VERSIONS)}",
            version,
            Reason.UNSUPPORTED_VERSION,
        )


def parse_datetime(field: str, value: object) -> dt.datetime:
    """An ISO 8601 date-time with a UTC offset, as an aware datetime."""
    if type(value) is not str:
        raise EventError(field, "must be an ISO 8601 string", value, Reason.WRONG_TYPE)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise EventError(
            field, "must be an ISO 8601 date-time", value, Reason.BAD_FORMAT
        ) from None
    if parsed.tzinfo is None:
        raise EventError(field, "must carry a UTC offset", value, Reason.BAD_FORMAT)
    return parsed


def parse_date(field: str, value: object) -> dt.date:
    """An ISO 8601 calendar date (``2024-03-31``)."""
    if type(value) is not str:
        raise EventError(field, "must be an ISO 8601 string", value, Reason.WRONG_TYPE)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise EventError(
            field, "must be an ISO 8601 date", value, Reason.BAD_FORMAT
        ) from None


def parse_base64(field: str, value: object) -> bytes:
    """Bytes from standard, padded base64 text."""
    if type(value) is not str:
        raise EventError(field, "must be a base64 string", value, Reason.WRONG_TYPE)
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise EventError(
            field, "must be standard padded base64", value, Reason.BAD_FORMAT
        ) from None


def encode(event: object) -> bytes:
    """Compact UTF-8 JSON of an event, keys sorted.

    Dates and date-times are written with ``isoformat()`` (exact, offsets
    included), bytes as standard padded base64, and every field is written,
    optional ones as ``null``.
    """
    slots: tuple[str, ...] = type(event).__slots__  # type: ignore[attr-defined]
    obj = {name: getattr(event, name) for name in slots}
    return orjson.dumps(
        obj,
        default=_to_json,
        option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME,
    )


def _to_json(value: object) -> str:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot encode {type(value).__name__} {value!r} as JSON")


def _undecodable(raw: bytes, exc: orjson.JSONDecodeError) -> EventError:
    shown = raw[:_SHOWN_BYTES]
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return EventError(
            RECORD,
            f"must be valid UTF-8 (byte {bad.start})",
            shown,
            Reason.BAD_ENCODING,
        )
    return EventError(RECORD, f"must be valid JSON ({exc.msg})", shown, Reason.BAD_JSON)


def _json_kind(obj: object) -> str:
    names = {list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(obj), "number")
