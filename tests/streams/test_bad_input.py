"""Bad input against a real worker: dead-lettered whole, and the stream goes on.

One worker process serves the whole module. Every test uses SKUs of its own,
so tests do not see each other's state; the tests that only send bad records
keep to partitions 0 to 2 and never move a clock past the open day, and the
out-of-order test owns partition 3, whose day it closes.
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.partitioner.default import murmur2

from streams.events import DeadLetter, decode_dead_letter
from streams.readback import latest_values
from streams.state import SkuState
from streams.supervisor import WorkerProcess
from streams.topics import DEAD_LETTERS, SALES_EVENTS, ensure_topics

pytestmark = pytest.mark.integration

PARTITIONS = 4
#: The partition whose day the out-of-order test closes; no other test uses it.
CLOSING_PARTITION = 3
DAY = dt.date(2024, 3, 5)
WAIT_SECONDS = 60.0


def at(day: dt.date, hour: int, minute: int = 0) -> str:
    """ISO text of ``day`` at ``hour:minute`` in London winter time (UTC)."""
    moment = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)
    return moment.isoformat()


def sale(event_id: str, sku: str, quantity: Any = 2, **changes: Any) -> dict[str, Any]:
    """A valid sale on :data:`DAY` at 10:00, with ``changes`` applied."""
    event = {
        "schema_version": 1,
        "event_id": event_id,
        "sku": sku,
        "quantity": quantity,
        "unit_price": 3.5,
        "occurred_at": at(DAY, 10),
    }
    event.update(changes)
    return event


def sku_in(partition: int, stem: str) -> str:
    """A SKU code starting with ``stem`` whose key lands in ``partition``."""
    for n in range(10_000):
        sku = f"{stem}-{n}"
        if (murmur2(sku.encode()) & 0x7FFFFFFF) % PARTITIONS == partition:
            return sku
    raise LookupError(f"no SKU starting with {stem!r} lands in {partition}")


@dataclass(frozen=True)
class Sent:
    """Where one produced record was written."""

    partition: int
    offset: int
    raw: bytes | None


@dataclass
class Harness:
    """The module's worker, a producer and a reader of its dead letters."""

    worker: WorkerProcess
    producer: KafkaProducer
    letters: KafkaConsumer
    received: list[DeadLetter]

    @property
    def sales_topic(self) -> str:
        return self.worker.prefix + SALES_EVENTS

    def send(self, sku: str, value: bytes | dict[str, Any] | None) -> Sent:
        """Send ``value`` (None: a tombstone) keyed by ``sku``."""
        raw = orjson.dumps(value) if isinstance(value, dict) else value
        future = self.producer.send(self.sales_topic, key=sku.encode(), value=raw)
        meta = future.get(timeout=30)
        return Sent(meta.partition, meta.offset, raw)

    def dead_letter(self, sent: Sent) -> DeadLetter:
        """The dead letter of the record at ``sent``'s coordinates."""

        def find() -> DeadLetter | None:
            for batch in self.letters.poll(timeout_ms=200).values():
                self.received += [decode_dead_letter(r.value) for r in batch]
            for letter in self.received:
                if (letter.partition, letter.offset) == (sent.partition, sent.offset):
                    return letter
            return None

        return self.wait_for(find, f"a dead letter of {sent}")

    def state(self, sku: str) -> dict[str, Any] | None:
        """The ``state`` part of the worker's ``/skus/{sku}`` view."""
        url = self.worker.url(f"/skus/{sku}")
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                state: dict[str, Any] = orjson.loads(reply.read())["state"]
                return state
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise

    def applied_state(self, sku: str, event_id: str) -> dict[str, Any]:
        """The state of ``sku`` once the worker has applied ``event_id``."""

        def find() -> dict[str, Any] | None:
            state = self.state(sku)
            if state is None:
                return None
            ids = {i for day_ids in state["applied"].values() for i in day_ids}
            return state if event_id in ids else None

        return self.wait_for(find, f"{event_id} applied to {sku}")

    def counter(self, name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return self.worker.metrics().get(key, 0.0)

    def wait_for(self, find: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            found = find()
            if found is not None:
                return found
            time.sleep(0.2)
        raise AssertionError(
            f"no {what} in {WAIT_SECONDS} s:\n{self.worker.log_tail()}"
        )

    def assert_alive(self) -> None:
        process = self.worker.process
        assert process is not None and process.poll() is None, self.worker.log_tail()


@pytest.fixture(scope="module")
def harness(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    token = f"t-bad-input-{uuid.uuid4().hex[:8]}"
    prefix = f"{token}."
    ensure_topics(kafka_bootstrap, partitions=PARTITIONS, prefix=prefix)
    root: Path = tmp_path_factory.mktemp("bad-input")
    worker = WorkerProcess(
        bootstrap=kafka_bootstrap,
        app_id=f"{token}-app",
        prefix=prefix,
        data_dir=root / "worker",
        log_path=root / "worker.log",
    )
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    letters = KafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    dead_topic = prefix + DEAD_LETTERS
    letters.assign([TopicPartition(dead_topic, p) for p in range(PARTITIONS)])
    letters.seek_to_beginning()
    worker.start()
    try:
        yield Harness(worker, producer, letters, [])
    finally:
        worker.stop()
        producer.close()
        letters.close()


BAD_SALES: dict[str, Callable[[str, str], bytes | None]] = {
    "malformed_json": lambda e, s: b'{"schema_version": 1, "event_id": "' + e.encode(),
    "string_quantity": lambda e, s: orjson.dumps(sale(e, s, quantity="3")),
    "bool_quantity": lambda e, s: orjson.dumps(sale(e, s, quantity=True)),
    "float_quantity": lambda e, s: orjson.dumps(sale(e, s, quantity=3.0)),
    "negative_price": lambda e, s: orjson.dumps(sale(e, s, unit_price=-2.5)),
    "unknown_field": lambda e, s: orjson.dumps(sale(e, s, customer_id="C-12345")),
    "oversized": lambda e, s: orjson.dumps(sale(e, s, channel="w" * 70_000)),
    "missing_field": lambda e, s: orjson.dumps(
        {k: v for k, v in sale(e, s).items() if k != "quantity"}
    ),
    "naive_timestamp": lambda e, s: orjson.dumps(
        sale(e, s, occurred_at="2024-03-05T10:00:00")
    ),
    "unsupported_version": lambda e, s: orjson.dumps(sale(e, s, schema_version=2)),
    "not_utf8": lambda e, s: b'{"sku": "\xff\xfe"}',
    "not_object": lambda e, s: b'["a", "sale", "in", "a", "list"]',
    "tombstone": lambda e, s: None,
}
REASONS = {
    "malformed_json": "bad_json",
    "string_quantity": "wrong_type",
    "bool_quantity": "wrong_type",
    "float_quantity": "wrong_type",
    "negative_price": "out_of_range",
    "unknown_field": "unknown_field",
    "oversized": "too_large",
    "missing_field": "missing_field",
    "naive_timestamp": "bad_format",
    "unsupported_version": "unsupported_version",
    "not_utf8": "bad_encoding",
    "not_object": "not_object",
    "tombstone": "not_object",
}
FIELDS = {
    "string_quantity": "quantity",
    "bool_quantity": "quantity",
    "float_quantity": "quantity",
    "negative_price": "unit_price",
    "unknown_field": "customer_id",
    "missing_field": "quantity",
    "naive_timestamp": "occurred_at",
    "unsupported_version": "schema_version",
}


@pytest.mark.parametrize("kind", sorted(BAD_SALES))
def test_a_bad_sale_is_dead_lettered_whole_and_the_stream_goes_on(
    harness: Harness, kind: str
) -> None:
    sku = sku_in(sorted(BAD_SALES).index(kind) % CLOSING_PARTITION, f"BAD-{kind}")
    reason = REASONS[kind]
    counted = {"topic": harness.sales_topic, "reason": reason}
    before = harness.counter("replenish_dead_letters_total", **counted)

    bad = harness.send(sku, BAD_SALES[kind](f"{kind}-bad", sku))
    harness.send(sku, sale(f"{kind}-good", sku, quantity=4))

    letter = harness.dead_letter(bad)
    assert letter.reason == reason
    assert (letter.topic, letter.partition, letter.offset) == (
        harness.sales_topic,
        bad.partition,
        bad.offset,
    )
    assert letter.raw == (bad.raw or b"")
    if kind in FIELDS:
        assert letter.message.startswith(f"{FIELDS[kind]}: ")
    state = harness.applied_state(sku, f"{kind}-good")
    assert state["applied"] == {DAY.isoformat(): [f"{kind}-good"]}
    assert state["pending"] == {DAY.isoformat(): 4.0}
    assert state["on_hand"] == -4.0
    after = harness.counter("replenish_dead_letters_total", **counted)
    assert after == before + 1
    harness.assert_alive()


def test_an_unknown_field_value_stays_out_of_the_message(harness: Harness) -> None:
    sku = sku_in(0, "BAD-privacy")
    bad = harness.send(sku, sale("privacy-bad", sku, customer_id="C-98765"))

    letter = harness.dead_letter(bad)

    assert letter.reason == "unknown_field"
    assert "C-98765" not in letter.message
    assert b"C-98765" in letter.raw
    assert harness.state(sku) is None


def test_a_duplicate_sale_is_counted_and_changes_state_once(
    harness: Harness,
) -> None:
    sku = sku_in(1, "DUP")
    applied = {"topic": harness.sales_topic, "outcome": "applied"}
    duplicate = {"topic": harness.sales_topic, "outcome": "duplicate"}
    before = harness.counter("replenish_ingest_events_total", **duplicate)
    applied_before = harness.counter("replenish_ingest_events_total", **applied)

    harness.send(sku, sale("dup-1", sku, quantity=3))
    harness.send(sku, sale("dup-1", sku, quantity=3))
    harness.send(sku, sale("dup-2", sku, quantity=2))

    state = harness.applied_state(sku, "dup-2")
    assert state["applied"] == {DAY.isoformat(): ["dup-1", "dup-2"]}
    assert state["pending"] == {DAY.isoformat(): 5.0}
    assert state["on_hand"] == -5.0
    assert harness.counter("replenish_ingest_events_total", **duplicate) == before + 1
    assert (
        harness.counter("replenish_ingest_events_total", **applied)
        == applied_before + 2
    )
    changelog = f"{harness.worker.app_id}-sku-state-changelog"

    def written() -> dict[str, Any] | None:
        raw = latest_values(harness.worker.bootstrap, changelog).get(orjson.dumps(sku))
        return (
            None
            if raw is None or SkuState.from_record(raw).to_json() != state
            else state
        )

    harness.wait_for(written, f"the changelog record of {sku} equal to its view")
    harness.assert_alive()


def test_out_of_order_sales_apply_within_the_open_day_and_late_ones_do_not(
    harness: Harness,
) -> None:
    sku = sku_in(CLOSING_PARTITION, "ORDER")
    other = sku_in(CLOSING_PARTITION, "ORDER-next")
    late = {"topic": harness.sales_topic, "outcome": "late"}
    late_before = harness.counter("replenish_ingest_events_total", **late)
    next_day = DAY + dt.timedelta(days=1)

    harness.send(sku, sale("order-later", sku, quantity=5, occurred_at=at(DAY, 15)))
    harness.send(sku, sale("order-earlier", sku, quantity=1, occurred_at=at(DAY, 9)))
    open_state = harness.applied_state(sku, "order-earlier")
    harness.send(other, sale("order-next", other, occurred_at=at(next_day, 8)))
    harness.applied_state(other, "order-next")
    closed_state = harness.state(sku)
    harness.send(sku, sale("order-late", sku, quantity=7, occurred_at=at(DAY, 20)))
    harness.send(sku, sale("order-after", sku, quantity=2, occurred_at=at(next_day, 9)))
    after = harness.applied_state(sku, "order-after")

    assert open_state["pending"] == {DAY.isoformat(): 6.0}
    assert open_state["applied"] == {DAY.isoformat(): ["order-earlier", "order-later"]}
    assert closed_state is not None
    assert closed_state["last_closed_day"] == DAY.isoformat()
    assert closed_state["history"][-1] == 6.0
    assert closed_state["pending"] == {}
    assert harness.counter("replenish_ingest_events_total", **late) == late_before + 1
    assert after["history"] == closed_state["history"]
    assert after["last_closed_day"] == DAY.isoformat()
    assert after["pending"] == {next_day.isoformat(): 2.0}
    assert after["applied"] == {next_day.isoformat(): ["order-after"]}
    assert after["on_hand"] == closed_state["on_hand"] - 2.0
    assert after["on_order"] == closed_state["on_order"]
    harness.assert_alive()
