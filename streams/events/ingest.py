"""What the ingest reads: sales, planned promotions and stock movements.

Each event validates itself on construction, so an event built in code obeys
the same rules as one decoded from a record; ``decode_*`` turns a record's
bytes into an event or raises :class:`~streams.events.errors.EventError`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from streams.events import rules
from streams.events.codec import (
    MAX_RECORD_BYTES,
    SCHEMA_VERSION,
    Fields,
    check_fields,
    check_version,
    load_object,
    parse_date,
    parse_datetime,
)
from streams.events.errors import EventError, Reason

#: Largest absolute quantity of one sale or stock event, in units.
MAX_EVENT_QUANTITY = 1_000_000


@dataclass(frozen=True, slots=True)
class SaleEvent:
    """Units of a SKU sold (or, when negative, cancelled or returned).

    Carries no customer identifiers: a ``customer_id`` field is rejected as
    unknown.

    Attributes
    ----------
    event_id
        The producer's id of the event, unique per sale; replays repeat it.
    sku
        The SKU sold.
    quantity
        Units sold; negative for a cancellation or return, never zero.
    unit_price
        Price of one unit, finite and >= 0.
    occurred_at
        When the sale happened, with its UTC offset.
    channel
        Sales channel (``web``, ``app``), if the producer knows it.
    location
        Store or fulfilment location, if the producer knows it.
    schema_version
        Version of this schema the event follows.
    """

    TOPIC: ClassVar[str] = "sales-events"

    event_id: str
    sku: str
    quantity: int
    unit_price: float
    occurred_at: dt.datetime
    channel: str | None = None
    location: str | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        check_version(self.schema_version)
        rules.identifier("event_id", self.event_id)
        rules.sku(self.sku)
        quantity = self.quantity
        if type(quantity) is not int:
            raise EventError(
                "quantity", "must be an integer", quantity, Reason.WRONG_TYPE
            )
        if quantity == 0 or not -MAX_EVENT_QUANTITY <= quantity <= MAX_EVENT_QUANTITY:
            raise EventError(
                "quantity",
                f"must be non-zero with |quantity| <= {MAX_EVENT_QUANTITY}",
                quantity,
            )
        price = rules.number("unit_price", self.unit_price, low=0.0)
        if type(self.unit_price) is not float:
            object.__setattr__(self, "unit_price", price)
        rules.event_time("occurred_at", self.occurred_at)
        rules.label("channel", self.channel)
        rules.label("location", self.location)


_SALE = Fields(
    SaleEvent.TOPIC,
    required=frozenset({"event_id", "sku", "quantity", "unit_price", "occurred_at"}),
    optional=frozenset({"channel", "location"}),
)


def decode_sale(raw: bytes | None, max_bytes: int = MAX_RECORD_BYTES) -> SaleEvent:
    """Decode one ``sales-events`` record."""
    obj = load_object(raw, max_bytes)
    check_fields(obj, _SALE)
    return SaleEvent(
        obj["event_id"],
        obj["sku"],
        obj["quantity"],
        obj["unit_price"],
        parse_datetime("occurred_at", obj["occurred_at"]),
        obj.get("channel"),
        obj.get("location"),
        obj["schema_version"],
    )


@dataclass(frozen=True, slots=True)
class PromotionEvent:
    """A planned promotion of a SKU: a discount over consecutive days.

    Attributes
    ----------
    event_id
        The producer's id of the event.
    sku
        The SKU promoted.
    starts_on, ends_on
        First and last day of the promotion, both included.
    discount
        Price reduction as a fraction of the regular price, in [0, 1).
    kind
        Free label of the promotion (``flyer``, ``bundle``), if any.
    schema_version
        Version of this schema the event follows.
    """

    TOPIC: ClassVar[str] = "promotion-events"

    event_id: str
    sku: str
    starts_on: dt.date
    ends_on: dt.date
    discount: float
    kind: str | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        check_version(self.schema_version)
        rules.identifier("event_id", self.event_id)
        rules.sku(self.sku)
        rules.date("starts_on", self.starts_on)
        rules.date("ends_on", self.ends_on)
        if self.ends_on < self.starts_on:
            raise EventError(
                "ends_on",
                f"must not precede starts_on ({self.starts_on})",
                self.ends_on,
                Reason.INCONSISTENT,
            )
        discount = rules.number(
            "discount", self.discount, low=0.0, high=1.0, open_high=True
        )
        object.__setattr__(self, "discount", discount)
        rules.label("kind", self.kind)


_PROMOTION = Fields(
    PromotionEvent.TOPIC,
    required=frozenset({"event_id", "sku", "starts_on", "ends_on", "discount"}),
    optional=frozenset({"kind"}),
)


def decode_promotion(
    raw: bytes | None, max_bytes: int = MAX_RECORD_BYTES
) -> PromotionEvent:
    """Decode one ``promotion-events`` record."""
    obj = load_object(raw, max_bytes)
    check_fields(obj, _PROMOTION)
    return PromotionEvent(
        obj["event_id"],
        obj["sku"],
        parse_date("starts_on", obj["starts_on"]),
        parse_date("ends_on", obj["ends_on"]),
        obj["discount"],
        obj.get("kind"),
        obj["schema_version"],
    )


class StockKind(StrEnum):
    """What a stock event reports."""

    #: Units received into stock (``quantity > 0``).
    RECEIPT = "receipt"
    #: A correction of on-hand units, up or down (``quantity != 0``).
    ADJUSTMENT = "adjustment"
    #: A physical count that replaces on-hand units (``quantity >= 0``).
    COUNT = "count"


@dataclass(frozen=True, slots=True)
class StockEvent:
    """A stock movement of a SKU reported by the warehouse.

    Attributes
    ----------
    event_id
        The warehouse's id of the event.
    sku
        The SKU moved.
    kind
        Receipt, adjustment or count (see :class:`StockKind`).
    quantity
        Units: received (> 0), adjusted (non-zero) or counted (>= 0).
    occurred_at
        When the movement happened, with its UTC offset.
    command_id
        The reorder command a receipt answers, if any; only receipts carry it.
    schema_version
        Version of this schema the event follows.
    """

    TOPIC: ClassVar[str] = "stock-events"

    event_id: str
    sku: str
    kind: StockKind
    quantity: int
    occurred_at: dt.datetime
    command_id: str | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        check_version(self.schema_version)
        rules.identifier("event_id", self.event_id)
        rules.sku(self.sku)
        kind = _stock_kind(self.kind)
        object.__setattr__(self, "kind", kind)
        low, high = _STOCK_BOUNDS[kind]
        quantity = rules.integer("quantity", self.quantity, low, high)
        if kind is StockKind.ADJUSTMENT and quantity == 0:
            raise EventError("quantity", "must be non-zero for an adjustment", 0)
        rules.event_time("occurred_at", self.occurred_at)
        if self.command_id is not None:
            rules.identifier("command_id", self.command_id)
            if kind is not StockKind.RECEIPT:
                raise EventError(
                    "command_id",
                    f"is only allowed on a receipt, not a {kind}",
                    self.command_id,
                    Reason.INCONSISTENT,
                )


_STOCK_BOUNDS = {
    StockKind.RECEIPT: (1, MAX_EVENT_QUANTITY),
    StockKind.ADJUSTMENT: (-MAX_EVENT_QUANTITY, MAX_EVENT_QUANTITY),
    StockKind.COUNT: (0, MAX_EVENT_QUANTITY),
}

_STOCK = Fields(
    StockEvent.TOPIC,
    required=frozenset({"event_id", "sku", "kind", "quantity", "occurred_at"}),
    optional=frozenset({"command_id"}),
)


def decode_stock(raw: bytes | None, max_bytes: int = MAX_RECORD_BYTES) -> StockEvent:
    """Decode one ``stock-events`` record."""
    obj = load_object(raw, max_bytes)
    check_fields(obj, _STOCK)
    return StockEvent(
        obj["event_id"],
        obj["sku"],
        obj["kind"],
        obj["quantity"],
        parse_datetime("occurred_at", obj["occurred_at"]),
        obj.get("command_id"),
        obj["schema_version"],
    )


def _stock_kind(value: object) -> StockKind:
    if type(value) is not str and not isinstance(value, StockKind):
        raise EventError("kind", "must be a string", value, Reason.WRONG_TYPE)
    try:
        return StockKind(value)
    except ValueError:
        allowed = ", ".join(kind.value for kind in StockKind)
        raise EventError("kind", f"must be one of {allowed}", value) from None
