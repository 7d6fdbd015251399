"""The ``dead-letters`` topic: records the worker could not use, kept whole.

Bad input never stops the stream: a record that fails to decode, or that
decodes but cannot be applied (an unknown SKU), is written here with the
coordinates it came from, a reason code, a human message and its raw bytes,
so that it can be inspected and replayed once fixed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from streams.events import rules
from streams.events.codec import (
    SCHEMA_VERSION,
    Fields,
    check_fields,
    check_version,
    load_object,
    parse_base64,
)
from streams.events.errors import EventError, Reason

#: Default size limit of a dead-letter record: room for a source record of
#: Kafka's default 1 MiB limit in base64, plus the message.
MAX_DEAD_LETTER_BYTES = 2 * 1024 * 1024
#: Longest message, in characters.
MAX_MESSAGE_CHARS = 4096
MAX_PARTITION = 2**31 - 1
MAX_OFFSET = 2**63 - 1

_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
_REASON_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One rejected record and why it was rejected.

    Attributes
    ----------
    topic
        Topic the record was read from (a valid Kafka topic name).
    partition
        Its partition, in [0, 2**31 - 1].
    offset
        Its offset, in [0, 2**63 - 1].
    reason
        Stable code of why: a :class:`~streams.events.errors.Reason` value or
        another lowercase code such as ``unknown_sku`` (``[a-z][a-z0-9_]*``,
        at most 64 characters).
    message
        Human text naming the field, the rule and the value received.
    raw
        The record's value, byte for byte; base64 in JSON.
    schema_version
        Version of this schema the event follows.
    """

    TOPIC: ClassVar[str] = "dead-letters"

    topic: str
    partition: int
    offset: int
    reason: str
    message: str
    raw: bytes
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        check_version(self.schema_version)
        _match("topic", self.topic, _TOPIC_NAME, "a Kafka topic name")
        rules.integer("partition", self.partition, 0, MAX_PARTITION)
        rules.integer("offset", self.offset, 0, MAX_OFFSET)
        _match("reason", self.reason, _REASON_CODE, "a lowercase code")
        object.__setattr__(self, "reason", str(self.reason))
        rules.identifier("message", self.message, MAX_MESSAGE_CHARS)
        if type(self.raw) is not bytes:
            raise EventError("raw", "must be bytes", self.raw, Reason.WRONG_TYPE)

    @classmethod
    def from_error(
        cls, error: EventError, *, topic: str, partition: int, offset: int, raw: bytes
    ) -> DeadLetter:
        """The dead letter of ``raw``, read at ``topic/partition/offset``."""
        message = str(error)[:MAX_MESSAGE_CHARS]
        return cls(topic, partition, offset, error.reason.value, message, raw)


def _match(field: str, value: object, pattern: re.Pattern[str], what: str) -> None:
    if type(value) is not str and not isinstance(value, Reason):
        raise EventError(field, "must be a string", value, Reason.WRONG_TYPE)
    if pattern.fullmatch(value) is None:
        raise EventError(field, f"must be {what}", value, Reason.BAD_FORMAT)


_DEAD_LETTER = Fields(
    DeadLetter.TOPIC,
    required=frozenset({"topic", "partition", "offset", "reason", "message", "raw"}),
)


def decode_dead_letter(
    raw: bytes | None, max_bytes: int = MAX_DEAD_LETTER_BYTES
) -> DeadLetter:
    """Decode one ``dead-letters`` record."""
    obj = load_object(raw, max_bytes)
    check_fields(obj, _DEAD_LETTER)
    return DeadLetter(
        obj["topic"],
        obj["partition"],
        obj["offset"],
        obj["reason"],
        obj["message"],
        parse_base64("raw", obj["raw"]),
        obj["schema_version"],
    )
