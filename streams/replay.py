"""Replay a dataset's sales into ``sales-events``, as an order platform would."""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Iterator

import orjson
import pandas as pd
from kafka import KafkaProducer
from tqdm import tqdm

from streams.topics import SALES_EVENTS

log = logging.getLogger(__name__)


def sale_records(events: pd.DataFrame) -> Iterator[tuple[bytes, bytes, pd.Timestamp]]:
    """``(key, value, occurred_at)`` per sale, encoded as the topic's JSON schema."""
    columns = ("event_id", "sku", "quantity", "unit_price", "occurred_at")
    for event_id, sku, quantity, price, occurred_at in events[list(columns)].itertuples(
        index=False, name=None
    ):
        value = {
            "schema_version": 1,
            "event_id": event_id,
            "sku": sku,
            "quantity": int(quantity),
            "unit_price": float(price),
            "occurred_at": occurred_at.isoformat(),
        }
        yield sku.encode(), orjson.dumps(value), occurred_at


def select_days(
    events: pd.DataFrame, start: dt.date, end: dt.date, timezone: str = "Europe/London"
) -> pd.DataFrame:
    """The events whose calendar day in ``timezone`` (the shop's, whose days
    the worker closes) lies in ``start..end``, both included."""
    days = events["occurred_at"].dt.tz_convert(timezone).dt.date
    return events[(days >= start) & (days <= end)]


def check_speed(speed: float | None) -> None:
    """Refuse a replay speed that is not a positive number."""
    if speed is not None and not 0 < speed < math.inf:
        raise ValueError(
            f"speed: must be a positive number of event-time seconds per second,"
            f" got {speed!r}"
        )


def replay(
    events: pd.DataFrame,
    bootstrap_servers: str,
    *,
    topic: str = SALES_EVENTS,
    speed: float | None = None,
    progress: bool = True,
) -> int:
    """Produce ``events`` in time order; return how many were sent.

    ``speed`` is event-time seconds per wall-clock second (``3600`` replays an
    hour of trading per second); None sends as fast as the broker accepts.
    """
    check_speed(speed)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        linger_ms=20,
        batch_size=256 * 1024,
    )
    log.info("Replaying %d sale events into %s", len(events), topic)
    sent = 0
    started = time.monotonic()
    first: pd.Timestamp | None = None
    try:
        records = sale_records(events)
        for key, value, occurred_at in tqdm(
            records, total=len(events), disable=not progress, unit="event"
        ):
            if speed is not None:
                first = occurred_at if first is None else first
                due = (occurred_at - first).total_seconds() / speed
                delay = due - (time.monotonic() - started)
                if delay > 0:
                    time.sleep(delay)
            producer.send(topic, key=key, value=value)
            sent += 1
        producer.flush()
    finally:
        producer.close()
    log.info("Replayed %d events in %.1f s", sent, time.monotonic() - started)
    return sent
