"""Per-SKU state and per-partition clocks: the idempotent core of the worker.

Every transition here is a pure function of the state and one event, so the
worker can be replayed from any offset: an event id already applied to a day
that is still open changes nothing (``duplicate``), and an event for a day
that has already closed changes nothing either (``late``; it is counted, and
its units are not added to a closed day because the forecast and the decision
for that day have already been published).

Inventory follows the back-order convention: sales decrement ``on_hand`` even
below zero (negative on-hand is back-ordered demand), so the inventory
position is ``on_hand + on_order``. Returns and cancellations (negative sale
quantities) add units back to ``on_hand`` and reduce the day's demand, which
is clipped at zero when the day closes.

A state is stored as one record, :meth:`SkuState.record`: a compact binary
part for what a day close rewrites for every SKU at once (the demand history
and the forecaster's snapshot), then JSON of the rest
(:meth:`SkuState.event_record`):

========  =====================================================
bytes     content
========  =====================================================
1         format version, 2
2         ``n``, days of history (unsigned, little-endian)
4 ``n``   the history, float32 (demand is whole units: exact)
2         ``m``, length of the snapshot header (0: no snapshot)
``m``     JSON of the snapshot without ``h`` and ``c``
2         ``k``, length of each of ``h`` and ``c`` (absent without snapshot)
2 ``k``   ``h`` then ``c``, float32 bytes as the stepper gives them
rest      JSON of :meth:`SkuState.event_record`
========  =====================================================
"""

from __future__ import annotations

import datetime as dt
import struct
import sys
from array import array
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import orjson


class Outcome(StrEnum):
    """What happened to one event; also the ``outcome`` label of the metric."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    LATE = "late"


#: Version byte of :meth:`SkuState.record`.
RECORD_FORMAT = 2
_LENGTH = struct.Struct("<H")
_SNAPSHOT_ARRAYS = ("h", "c")

#: Stock event ids kept per SKU to recognise a re-delivered stock event.
STOCK_EVENTS_KEPT = 64


@dataclass(frozen=True, slots=True)
class Promotion:
    """A planned discount over ``starts_on .. ends_on`` (inclusive)."""

    starts_on: dt.date
    ends_on: dt.date
    discount: float

    def covers(self, day: dt.date) -> bool:
        return self.starts_on <= day <= self.ends_on


@dataclass(slots=True)
class OpenOrder:
    """A reorder command issued and not yet received."""

    quantity: int
    expected_arrival: dt.date


@dataclass(slots=True)
class SkuState:
    """Everything the worker keeps for one SKU.

    Attributes
    ----------
    history
        Demand of the last closed days, oldest first, at most the ring-buffer
        length of the worker, as float32 (demand is whole units: exact up to
        16,777,216 units a day).
    last_closed_day
        The last day whose demand is in ``history``; None before the first
        close that saw this SKU.
    pending
        Net units per day not yet closed.
    applied
        Event ids applied to each day not yet closed (for duplicate checks).
    on_hand
        Units on hand; negative means back-ordered demand.
    on_order
        Open orders by command id.
    stock_events
        Ids of the last stock events applied, newest last (at most
        ``STOCK_EVENTS_KEPT``), for duplicate checks.
    promotions
        Planned promotions by event id, until they end.
    model_state
        What the forecaster needs besides ``history`` to continue this SKU
        (the LSTM's recurrent state); None for stateless forecasters.
    """

    sku: str
    partition: int
    history: array[float] = field(default_factory=lambda: array("f"))
    last_closed_day: dt.date | None = None
    pending: dict[dt.date, float] = field(default_factory=dict)
    applied: dict[dt.date, set[str]] = field(default_factory=dict)
    on_hand: float = 0.0
    on_order: dict[str, OpenOrder] = field(default_factory=dict)
    stock_events: list[str] = field(default_factory=list)
    promotions: dict[str, Promotion] = field(default_factory=dict)
    model_state: dict[str, Any] | None = None

    @property
    def inventory_position(self) -> float:
        return self.on_hand + sum(o.quantity for o in self.on_order.values())

    def is_closed(self, day: dt.date) -> bool:
        return self.last_closed_day is not None and day <= self.last_closed_day

    def apply_sale(self, event_id: str, day: dt.date, quantity: int) -> Outcome:
        """Count ``quantity`` units sold on ``day`` (negative for a return)."""
        last_closed = self.last_closed_day
        if last_closed is not None and day <= last_closed:
            return Outcome.LATE
        seen = self.applied.get(day)
        if seen is None:
            seen = self.applied[day] = set()
        elif event_id in seen:
            return Outcome.DUPLICATE
        seen.add(event_id)
        pending = self.pending
        pending[day] = pending.get(day, 0.0) + quantity
        self.on_hand -= quantity
        return Outcome.APPLIED

    def apply_stock(
        self, event_id: str, kind: str, quantity: int, command_id: str | None = None
    ) -> Outcome:
        """Apply a stock event of ``kind`` receipt, adjustment or count.

        A receipt adds units and closes the open order it names; an
        adjustment adds (or removes) units; a count replaces on-hand, open
        orders staying open. Stock events take effect when processed, not by
        event time.
        """
        if event_id in self.stock_events:
            return Outcome.DUPLICATE
        self.stock_events.append(event_id)
        del self.stock_events[:-STOCK_EVENTS_KEPT]
        if kind == "count":
            self.on_hand = float(quantity)
        else:
            self.on_hand += quantity
        if kind == "receipt" and command_id is not None:
            self.on_order.pop(command_id, None)
        return Outcome.APPLIED

    def plan_promotion(
        self, event_id: str, starts_on: dt.date, ends_on: dt.date, discount: float
    ) -> Outcome:
        """Record a planned promotion; the same event again changes nothing."""
        promotion = Promotion(starts_on, ends_on, discount)
        if self.promotions.get(event_id) == promotion:
            return Outcome.DUPLICATE
        self.promotions[event_id] = promotion
        return Outcome.APPLIED

    def discount_on(self, day: dt.date) -> float:
        """The largest planned discount in effect on ``day`` (0 without one)."""
        return max(
            (p.discount for p in self.promotions.values() if p.covers(day)),
            default=0.0,
        )

    def close(self, day: dt.date, window: int) -> float:
        """Move ``day``'s demand into the history; return that demand."""
        demand = max(0.0, self.pending.pop(day, 0.0))
        self.applied.pop(day, None)
        self.history.append(demand)
        if len(self.history) > window:
            del self.history[: len(self.history) - window]
        self.last_closed_day = day
        for event_id in [k for k, p in self.promotions.items() if p.ends_on <= day]:
            del self.promotions[event_id]
        return demand

    def event_record(self) -> dict[str, Any]:
        """JSON of everything but ``history`` and ``model_state``."""
        # written for every changed SKU of every batch: empty parts skip
        # their comprehensions
        return {
            "sku": self.sku,
            "partition": self.partition,
            "last_closed_day": _iso(self.last_closed_day),
            "pending": {d.isoformat(): q for d, q in self.pending.items()}
            if self.pending
            else {},
            "applied": {d.isoformat(): sorted(ids) for d, ids in self.applied.items()}
            if self.applied
            else {},
            "on_hand": self.on_hand,
            "on_order": {
                cid: [o.quantity, o.expected_arrival.isoformat()]
                for cid, o in self.on_order.items()
            }
            if self.on_order
            else {},
            "stock_events": self.stock_events,
            "promotions": {
                eid: [p.starts_on.isoformat(), p.ends_on.isoformat(), p.discount]
                for eid, p in self.promotions.items()
            }
            if self.promotions
            else {},
        }

    def record(self) -> bytes:
        """The durable form of the state (see the module docstring)."""
        parts = [
            bytes((RECORD_FORMAT,)),
            _LENGTH.pack(len(self.history)),
            _little_endian(self.history).tobytes(),
        ]
        snapshot = self.model_state
        if snapshot is None:
            parts.append(_LENGTH.pack(0))
        else:
            header = orjson.dumps(
                {k: v for k, v in snapshot.items() if k not in _SNAPSHOT_ARRAYS},
                option=orjson.OPT_SORT_KEYS,
            )
            h, c = snapshot["h"], snapshot["c"]
            parts += [_LENGTH.pack(len(header)), header, _LENGTH.pack(len(h)), h, c]
        parts.append(orjson.dumps(self.event_record()))
        return b"".join(parts)

    @staticmethod
    def partition_of(record: bytes) -> int:
        """The partition of the state :meth:`record` wrote."""
        at = _read_memory(record)[2]
        return int(orjson.loads(record[at:])["partition"])

    @classmethod
    def from_record(cls, record: bytes) -> SkuState:
        """The state :meth:`record` wrote."""
        history, snapshot, at = _read_memory(record)
        state = cls._from_event_record(orjson.loads(record[at:]))
        state.history, state.model_state = history, snapshot
        return state

    def to_json(self) -> dict[str, Any]:
        """Everything, as JSON (the snapshot's ``h`` and ``c`` as numbers)."""
        snapshot = self.model_state
        if snapshot is not None:
            snapshot = {
                k: np.frombuffer(v, dtype="<f4").tolist()
                if k in _SNAPSHOT_ARRAYS
                else v
                for k, v in snapshot.items()
            }
        history = self.history.tolist()
        return {**self.event_record(), "history": history, "model_state": snapshot}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SkuState:
        state = cls._from_event_record(data)
        state.history = array("f", data["history"])
        snapshot = data["model_state"]
        if snapshot is not None:
            snapshot = {
                k: np.asarray(v, dtype="<f4").tobytes() if k in _SNAPSHOT_ARRAYS else v
                for k, v in snapshot.items()
            }
        state.model_state = snapshot
        return state

    @classmethod
    def _from_event_record(cls, data: dict[str, Any]) -> SkuState:
        return cls(
            sku=data["sku"],
            partition=data["partition"],
            last_closed_day=_date(data["last_closed_day"]),
            pending={_day(d): q for d, q in data["pending"].items()},
            applied={_day(d): set(ids) for d, ids in data["applied"].items()},
            on_hand=data["on_hand"],
            on_order={
                cid: OpenOrder(q, _day(arrival))
                for cid, (q, arrival) in data["on_order"].items()
            },
            stock_events=list(data["stock_events"]),
            promotions={
                eid: Promotion(_day(start), _day(end), discount)
                for eid, (start, end, discount) in data["promotions"].items()
            },
        )


def _little_endian(floats: array[float]) -> array[float]:
    """``floats`` in little-endian order (a copy where the machine is not)."""
    if sys.byteorder == "little":
        return floats
    swapped = array("f", floats)
    swapped.byteswap()
    return swapped


def _read_memory(record: bytes) -> tuple[array[float], dict[str, Any] | None, int]:
    """History, snapshot and end of the binary part of a :meth:`SkuState.record`."""
    if not record or record[0] != RECORD_FORMAT:
        raise ValueError(
            f"state record: must start with format {RECORD_FORMAT}, got {record[:1]!r}"
        )
    (days,) = _LENGTH.unpack_from(record, 1)
    at = 3 + 4 * days
    history = _little_endian(array("f", record[3:at]))
    (header_size,) = _LENGTH.unpack_from(record, at)
    at += 2
    if header_size == 0:
        return history, None, at
    snapshot: dict[str, Any] = orjson.loads(record[at : at + header_size])
    at += header_size
    (size,) = _LENGTH.unpack_from(record, at)
    at += 2
    snapshot["h"], snapshot["c"] = (
        record[at : at + size],
        record[at + size : at + 2 * size],
    )
    return history, snapshot, at + 2 * size


@dataclass(slots=True)
class PartitionClock:
    """Event time of one input partition and the first day it has not closed.

    A day closes once the partition's watermark (the latest event time seen)
    has passed the end of that day plus the allowed lateness.
    """

    partition: int
    open_day: dt.date | None = None
    watermark: dt.datetime | None = None

    def observe(self, local_time: dt.datetime) -> bool:
        """Move the watermark to ``local_time`` if later; whether it moved."""
        if self.watermark is not None and local_time <= self.watermark:
            return False
        self.watermark = local_time
        if self.open_day is None:
            self.open_day = local_time.date()
        return True

    def closable(self, lateness: dt.timedelta) -> bool:
        """Whether the watermark has passed the open day's end plus ``lateness``."""
        return (
            self.open_day is not None
            and self.watermark is not None
            and (self.watermark - lateness).date() > self.open_day
        )

    def due(self, lateness: dt.timedelta, zone: dt.tzinfo) -> dt.datetime | None:
        """The local time in ``zone`` from which the open day is closable: its
        end plus ``lateness`` (None before the first event).

        A watermark at or past it makes :meth:`closable` true; one compare
        per event instead of the date arithmetic of :meth:`closable`.
        """
        if self.open_day is None:
            return None
        midnight = dt.datetime.combine(self.open_day, dt.time(), zone)
        return midnight + dt.timedelta(days=1) + lateness

    def closable_days(self, lateness: dt.timedelta) -> list[dt.date]:
        """Days whose end plus ``lateness`` the watermark has passed, in order."""
        if self.open_day is None or self.watermark is None:
            return []
        horizon = (self.watermark - lateness).date()
        days = (horizon - self.open_day).days
        return [self.open_day + dt.timedelta(days=i) for i in range(max(days, 0))]

    def to_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "open_day": _iso(self.open_day),
            "watermark": None if self.watermark is None else self.watermark.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartitionClock:
        watermark = data["watermark"]
        return cls(
            partition=data["partition"],
            open_day=_date(data["open_day"]),
            watermark=None
            if watermark is None
            else dt.datetime.fromisoformat(watermark),
        )


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _date(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)
