"""The controller driven directly, with in-memory tables and producer batches.

The integration tests run the same code in a worker process on a real
broker; these pin down what needs a clock or a fetch boundary to be seen.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch
from faust.types import TP

from forecasting.incremental import PanelStepper
from forecasting.tsb import TSBForecaster
from optimization.policy import QuantilePolicy
from streams import events, topics
from streams.config import Settings
from streams.controller import Controller
from streams.day_close import DayClose
from streams.metrics import Metrics
from streams.outbox import Outbox
from streams.policy_book import PolicyBook
from streams.store import StateStore

DAY = dt.date(2024, 1, 8)  # winter: London time is UTC
SKUS = ("A", "B", "C")


@dataclass
class Table:
    name: str
    data: dict[Any, bytes] = field(default_factory=dict)

    @property
    def changelog_topic(self) -> Any:
        return self

    def get_topic_name(self) -> str:
        return f"{self.name}-changelog"


@dataclass
class Producer:
    """Keeps what the outbox sends, record by record."""

    sent: list[tuple[str, int, bytes | None, bytes | None]] = field(
        default_factory=list
    )

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(1024 * 1024, 0)

    async def send_batch(
        self, batch: BatchBuilder, topic: str, *, partition: int
    ) -> asyncio.Future[None]:
        for record in DefaultRecordBatch(bytearray(batch._build())):
            self.sent.append((topic, partition, record.key, record.value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def values(self, topic: str) -> list[dict[str, Any]]:
        return [orjson.loads(value) for name, _, _, value in self.sent if name == topic]


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes | None


def controller(**settings: Any) -> tuple[Controller, Producer]:
    config = Settings(**{"window_days": 28, "horizon": 14, **settings})
    stepper = PanelStepper(TSBForecaster(), 14, config.quantile_levels, "tsb-test")
    producer = Producer()
    outbox = Outbox(lambda: producer)
    tables = [Table(name) for name in ("sku-state", "partition-clock", "sku-policy")]
    control = Controller(
        config,
        store=StateStore(*tables, outbox),
        day_close=DayClose(stepper, QuantilePolicy(), window_days=28),
        policies=PolicyBook(config.default_policy, config.policy_version, {}),
        metrics=Metrics(),
        outbox=outbox,
    )
    return control, producer


def sales(control: Controller, day: dt.date, hour: int, tag: str) -> dict[TP, Any]:
    at = dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)
    records = [
        Record(
            control.sales_topic,
            0,
            offset,
            sku.encode(),
            events.encode(events.SaleEvent(f"{tag}-{sku}", sku, 3, 2.5, at)),
        )
        for offset, sku in enumerate(SKUS)
    ]
    return {TP(control.sales_topic, 0): records}


def commands(producer: Producer) -> list[dict[str, Any]]:
    return producer.values(topics.REORDER_COMMANDS)


async def test_a_sale_of_the_next_day_closes_the_day_for_every_sku() -> None:
    control, producer = controller()
    await control.on_batch(sales(control, DAY, 10, "d0"))
    assert commands(producer) == []

    await control.on_batch(sales(control, DAY + dt.timedelta(days=1), 9, "d1"))

    assert sorted(c["sku"] for c in commands(producer)) == list(SKUS)
    assert {c["as_of"] for c in commands(producer)} == {DAY.isoformat()}
    assert control.store.clock(0).open_day == DAY + dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("hours_after_midnight", "closed"), [(1.5, False), (2.5, True)]
)
async def test_live_mode_closes_a_quiet_day_at_the_close_hour(
    hours_after_midnight: float, closed: bool
) -> None:
    control, producer = controller(live=True, close_hour=2.0)
    await control.on_batch(sales(control, DAY, 10, "d0"))
    midnight = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(), dt.UTC)

    await control.close_due_days(
        midnight + dt.timedelta(hours=hours_after_midnight), partitions=[0]
    )

    assert bool(commands(producer)) is closed
    assert (control.store.clock(0).open_day > DAY) is closed


async def test_commands_reach_the_producer_before_the_closed_states() -> None:
    control, producer = controller()
    await control.on_batch(sales(control, DAY, 10, "d0"))
    before = len(producer.sent)

    await control.on_batch(sales(control, DAY + dt.timedelta(days=1), 9, "d1"))

    order = [topic for topic, _, _, _ in producer.sent[before:]]
    last_command = max(i for i, t in enumerate(order) if t == topics.REORDER_COMMANDS)
    first_state = order.index("sku-state-changelog")
    assert last_command < first_state


async def test_the_clock_passes_a_day_only_after_its_closed_states() -> None:
    # a clock written beside the states could reach the broker without them;
    # after a crash the day would close again on states missing its sales
    control, producer = controller()
    await control.on_batch(sales(control, DAY, 10, "d0"))
    before = len(producer.sent)

    await control.on_batch(sales(control, DAY + dt.timedelta(days=1), 9, "d1"))

    sent = producer.sent[before:]
    clocks = [
        (i, orjson.loads(value))
        for i, (topic, _, _, value) in enumerate(sent)
        if topic == "partition-clock-changelog" and value is not None
    ]
    states = [i for i, (topic, *_) in enumerate(sent) if topic == "sku-state-changelog"]
    assert [clock["open_day"] for _, clock in clocks] == [
        (DAY + dt.timedelta(days=1)).isoformat()
    ]
    assert states[len(SKUS) - 1] < clocks[0][0]


async def test_a_fetch_writes_each_changed_sku_once() -> None:
    control, producer = controller()
    first, again = sales(control, DAY, 10, "a"), sales(control, DAY, 11, "b")
    batch = {tp: first[tp] + again[tp] for tp in first}

    await control.on_batch(batch)

    written = [
        key for topic, _, key, _ in producer.sent if topic == "sku-state-changelog"
    ]
    assert sorted(written) == sorted(orjson.dumps(sku) for sku in SKUS)


def policy_record(
    control: Controller, sku: str, value: bytes | None, offset: int = 0
) -> dict[TP, Any]:
    record = Record(control.policies_topic, 0, offset, sku.encode(), value)
    return {TP(control.policies_topic, 0): [record]}


def policy(sku: str, version: str) -> bytes:
    """A ``sku-policies`` record of ``sku`` under ``version``."""
    event = events.SkuPolicyEvent(
        sku=sku,
        policy_version=version,
        lead_time_days=3.0,
        review_period_days=1,
        unit_cost=2.0,
        holding_cost_rate=0.25,
        service_level=0.95,
    )
    return events.encode(event)


async def test_a_policy_tombstone_returns_the_sku_to_the_default_policy() -> None:
    control, producer = controller()
    await control.on_batch(policy_record(control, "A", policy("A", "v7")))
    assert control.policies.lookup("A")[1] == "v7"

    await control.on_batch(policy_record(control, "A", None, offset=1))

    _, version = control.policies.lookup("A")
    assert version == control.settings.policy_version
    assert not control.policies.has("A")
    changelog = [
        (key, value) for topic, _, key, value in producer.sent if "sku-policy" in topic
    ]
    assert changelog[-1] == (b'"A"', None)


async def test_a_sale_ahead_of_the_worker_clock_is_dead_lettered_and_moves_no_clock():
    control, producer = controller()
    await control.on_batch(sales(control, DAY, 10, "d0"))
    ahead = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3)

    await control.on_batch(sales(control, ahead, 10, "future"))

    letters = producer.values(topics.DEAD_LETTERS)
    assert [letter["reason"] for letter in letters] == ["out_of_range"] * len(SKUS)
    assert all(letter["message"].startswith("occurred_at: ") for letter in letters)
    assert control.store.clock(0).open_day == DAY
    assert commands(producer) == []


async def test_a_record_keyed_by_another_sku_is_dead_lettered():
    control, producer = controller()
    batch = sales(control, DAY, 10, "d0")
    record = next(iter(batch.values()))[0]
    record.key = b"B"

    await control.on_batch(batch)

    [letter] = producer.values(topics.DEAD_LETTERS)
    assert letter["reason"] == "inconsistent"
    assert letter["message"] == "sku: must equal the record key ('B'), got 'A'"
    assert control.store.get("A") is None
    assert control.store.get("B") is not None


async def test_a_fetch_applies_its_policies_before_its_sales() -> None:
    control, producer = controller(unknown_sku="dead_letter")
    batch = {
        **sales(control, DAY, 10, "d0"),
        **policy_record(control, "A", policy("A", "v1")),
    }

    await control.on_batch(batch)

    letters = producer.values(topics.DEAD_LETTERS)
    assert [letter["reason"] for letter in letters] == ["unknown_sku"] * 2
    assert control.store.get("A") is not None
    assert control.store.get("B") is None


async def test_a_released_partition_shows_no_close_of_this_worker() -> None:
    control, _ = controller()
    await control.on_batch(sales(control, DAY, 10, "d0"))
    await control.on_batch(sales(control, DAY + dt.timedelta(days=1), 9, "d1"))
    assert control.latest("A")["command_id"] is not None

    await control.release({0})

    assert control.latest("A") == {"forecast": None, "command_id": None}
