"""Event contracts of every topic: dataclasses, validation and JSON encoding.

Every record is one compact UTF-8 JSON object with a ``schema_version``.
``decode(topic, raw)`` (or the topic's own ``decode_*``) turns a record into
a frozen event or raises :class:`EventError` naming the field, the rule, the
value received and a stable :class:`Reason` code; ``encode(event)`` writes
an event back, keys sorted. The rules of each field are listed in
``docs/events.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from streams.events.codec import (
    MAX_RECORD_BYTES,
    SCHEMA_VERSION,
    SUPPORTED_VERSIONS,
    encode,
)
from streams.events.commands import (
    COMMAND_NAMESPACE,
    ReorderCommand,
    command_id,
    command_ids,
    decode_command,
)
from streams.events.dead_letters import (
    MAX_DEAD_LETTER_BYTES,
    DeadLetter,
    decode_dead_letter,
)
from streams.events.errors import EventError, Reason
from streams.events.forecasts import ForecastEvent, decode_forecast
from streams.events.ingest import (
    PromotionEvent,
    SaleEvent,
    StockEvent,
    StockKind,
    decode_promotion,
    decode_sale,
    decode_stock,
)
from streams.events.model_updates import ModelUpdate, decode_model_update
from streams.events.policies import SkuPolicyEvent, decode_sku_policy

Event: TypeAlias = (
    SaleEvent
    | PromotionEvent
    | StockEvent
    | SkuPolicyEvent
    | ForecastEvent
    | ReorderCommand
    | DeadLetter
    | ModelUpdate
)

#: The decoder of every topic, by topic name.
DECODERS: dict[str, Callable[[bytes], Event]] = {
    SaleEvent.TOPIC: decode_sale,
    PromotionEvent.TOPIC: decode_promotion,
    StockEvent.TOPIC: decode_stock,
    SkuPolicyEvent.TOPIC: decode_sku_policy,
    ForecastEvent.TOPIC: decode_forecast,
    ReorderCommand.TOPIC: decode_command,
    DeadLetter.TOPIC: decode_dead_letter,
    ModelUpdate.TOPIC: decode_model_update,
}
#: Every topic with a schema.
TOPICS = tuple(DECODERS)


def decode(topic: str, raw: bytes) -> Event:
    """Decode a record of ``topic`` with that topic's default size limit.

    Raises
    ------
    KeyError
        If ``topic`` has no schema here.
    EventError
        If the record breaks a rule of the topic's schema.
    """
    try:
        decoder = DECODERS[topic]
    except KeyError:
        raise KeyError(
            f"topic: must be one of {', '.join(TOPICS)}, got {topic!r}"
        ) from None
    return decoder(raw)


__all__ = [
    "COMMAND_NAMESPACE",
    "DECODERS",
    "MAX_DEAD_LETTER_BYTES",
    "MAX_RECORD_BYTES",
    "SCHEMA_VERSION",
    "SUPPORTED_VERSIONS",
    "TOPICS",
    "DeadLetter",
    "Event",
    "EventError",
    "ForecastEvent",
    "ModelUpdate",
    "PromotionEvent",
    "Reason",
    "ReorderCommand",
    "SaleEvent",
    "SkuPolicyEvent",
    "StockEvent",
    "StockKind",
    "command_id",
    "command_ids",
    "decode",
    "decode_command",
    "decode_dead_letter",
    "decode_forecast",
    "decode_model_update",
    "decode_promotion",
    "decode_sale",
    "decode_sku_policy",
    "decode_stock",
    "encode",
]
