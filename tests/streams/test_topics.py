"""The topic catalogue, and the Kafka clients replenish uses, on a real broker."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from faust.types import StreamT, TableT
from kafka import KafkaConsumer, KafkaProducer

from streams.topics import (
    CATALOGUE,
    MODEL_UPDATES,
    SALES_EVENTS,
    SKU_POLICIES,
    TOPICS,
    TopicMismatchError,
    ensure_topics,
    ensure_topics_async,
)


@pytest.fixture
async def admin(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> AsyncIterator[AIOKafkaAdminClient]:
    """An admin client; deletes the test's topics (``unique_name`` prefix) after."""
    client = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await client.start()
    yield client
    mine = [t for t in await client.list_topics() if t.startswith(unique_name(""))]
    if mine:
        await client.delete_topics(mine)
    await client.close()


def test_sku_topics_share_one_partition_count():
    sku_counts = {t.partition_count(8) for t in CATALOGUE if t.keyed_by_sku}

    assert sku_counts == {8}
    assert TOPICS[MODEL_UPDATES].partition_count(8) == 1
    assert {t.name for t in CATALOGUE if t.compacted} == {SKU_POLICIES, MODEL_UPDATES}


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("partitions", {"partitions": 0}),
        ("replication_factor", {"replication_factor": 0}),
    ],
)
def test_ensure_topics_rejects_counts_below_one(field, kwargs):
    with pytest.raises(ValueError, match=f"{field} must be >= 1; got 0"):
        ensure_topics("127.0.0.1:1", **kwargs)


@pytest.mark.integration
async def test_ensure_topics_creates_the_catalogue_once(
    kafka_bootstrap, admin, topic_prefix
):
    created = await ensure_topics_async(
        kafka_bootstrap, partitions=3, prefix=topic_prefix
    )

    assert sorted(created) == sorted(topic_prefix + t.name for t in CATALOGUE)
    described = await admin.describe_topics(created)
    partitions = {t["topic"]: len(t["partitions"]) for t in described}
    assert partitions.pop(topic_prefix + MODEL_UPDATES) == 1
    assert set(partitions.values()) == {3}
    policies = await _cleanup_policies(admin, created)
    assert policies[topic_prefix + SKU_POLICIES] == "compact"
    assert policies[topic_prefix + MODEL_UPDATES] == "compact"
    assert policies[topic_prefix + SALES_EVENTS] == "delete"

    again = await ensure_topics_async(
        kafka_bootstrap, partitions=3, prefix=topic_prefix
    )
    assert again == []


@pytest.mark.integration
async def test_ensure_topics_refuses_a_different_partition_count(
    kafka_bootstrap, admin, topic_prefix
):
    one = [TOPICS[SALES_EVENTS]]
    await ensure_topics_async(
        kafka_bootstrap, partitions=2, prefix=topic_prefix, topics=one
    )

    with pytest.raises(TopicMismatchError, match=r"has 2 partitions.*requires 5"):
        await ensure_topics_async(
            kafka_bootstrap, partitions=5, prefix=topic_prefix, topics=one
        )


@pytest.mark.integration
def test_ensure_topics_runs_without_an_event_loop(kafka_bootstrap, admin, topic_prefix):
    one = [TOPICS[MODEL_UPDATES]]

    created = ensure_topics(kafka_bootstrap, prefix=topic_prefix, topics=one)

    assert created == [topic_prefix + MODEL_UPDATES]
    assert ensure_topics(kafka_bootstrap, prefix=topic_prefix, topics=one) == []


@pytest.mark.integration
async def test_aiokafka_group_resumes_from_committed_offset(
    kafka_bootstrap, admin, unique_name
):
    prefix, group = unique_name(""), unique_name("group")
    await ensure_topics_async(
        kafka_bootstrap, partitions=1, prefix=prefix, topics=[TOPICS[SALES_EVENTS]]
    )
    topic = prefix + SALES_EVENTS
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    for offset in range(10):
        await producer.send_and_wait(topic, b"%d" % offset, key=b"SKU-1")
    await producer.stop()

    first, committed = await _consume(kafka_bootstrap, topic, group, count=4)
    assert first == [b"0", b"1", b"2", b"3"]
    assert committed == 4
    rest, committed = await _consume(kafka_bootstrap, topic, group, count=6)
    assert rest == [b"%d" % offset for offset in range(4, 10)]
    assert committed == 10


@pytest.mark.integration
def test_kafka_python_producer_and_consumer(kafka_bootstrap, admin, unique_name):
    prefix = unique_name("")
    ensure_topics(
        kafka_bootstrap, partitions=2, prefix=prefix, topics=[TOPICS[SALES_EVENTS]]
    )
    topic = prefix + SALES_EVENTS
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for sku in ("A", "B", "C", "A"):
        producer.send(topic, key=sku.encode(), value=b'{"quantity": 1}')
    producer.flush(timeout=10)
    producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=unique_name("group"),
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )
    records = []
    for record in consumer:
        records.append(record)
        if len(records) == 4:
            break
    consumer.close()

    assert sorted(r.key for r in records) == [b"A", b"A", b"B", b"C"]
    assert len({r.partition for r in records if r.key == b"A"}) == 1


@pytest.mark.integration
async def test_faust_agent_updates_table_commits_and_recovers(
    kafka_bootstrap, admin, unique_name, tmp_path
):
    bootstrap = kafka_bootstrap
    prefix = unique_name("")
    await ensure_topics_async(
        bootstrap, partitions=2, prefix=prefix, topics=[TOPICS[SALES_EVENTS]]
    )
    topic = prefix + SALES_EVENTS
    app_id = unique_name("app")
    sales = [("SKU-1", 2), ("SKU-2", 5), ("SKU-1", 3), ("SKU-3", 1), ("SKU-2", -1)]
    expected = {"SKU-1": 5, "SKU-2": 4, "SKU-3": 1}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    for sku, quantity in sales:
        value = json.dumps({"sku": sku, "quantity": quantity}).encode()
        await producer.send_and_wait(topic, value, key=sku.encode())
    await producer.stop()

    async def committed_all() -> bool:
        return await _committed(bootstrap, app_id, topic) == len(sales)

    app, totals = _faust_app(app_id, bootstrap, topic, tmp_path)
    await app.start()
    try:
        await _wait_for(lambda: dict(totals.items()) == expected, "table totals")
        await _wait_for(committed_all, "offsets committed by the Faust app")
    finally:
        await app.stop()
    assert app_id + "-totals-changelog" in await admin.list_topics()

    # Every sale is committed, so the new instance reads no sale again: its
    # totals can only come from the table's changelog.
    restarted, recovered = _faust_app(app_id, bootstrap, topic, tmp_path)
    await restarted.start()
    try:
        await _wait_for(lambda: dict(recovered.items()) == expected, "recovery")
    finally:
        await restarted.stop()


def _faust_app(
    app_id: str, bootstrap: str, topic: str, datadir: Path
) -> tuple[faust.App, TableT]:
    """A minimal Faust app: an agent summing sales per SKU into a table."""
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=datadir,
        web_enabled=False,
        topic_partitions=2,
        topic_replication_factor=1,
        broker_commit_every=1,
        broker_commit_interval=0.2,
    )
    sales = app.topic(topic, key_type=str, value_serializer="json")
    totals = app.Table("totals", default=int, partitions=2)

    @app.agent(sales)
    async def sum_sales(stream: StreamT) -> None:
        async for sku, value in stream.items():
            totals[sku] += value["quantity"]

    app.finalize()
    return app, totals


async def _committed(bootstrap: str, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic)


async def _wait_for(condition: Callable[[], object], what: str) -> None:
    """Poll ``condition()`` (a value or an awaitable) until true; fail after 60 s."""
    for _ in range(300):
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"{what}: not reached within 60 s")


async def _consume(
    bootstrap: str, topic: str, group: str, count: int
) -> tuple[list[bytes], int]:
    """Read ``count`` records of partition 0 as ``group`` and commit.

    Returns the values read and the offset committed afterwards.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        while len(values) < count:
            remaining = count - len(values)
            batch = await consumer.getmany(timeout_ms=10_000, max_records=remaining)
            assert batch, f"no records from {topic} within 10 s"
            for records in batch.values():
                values.extend(r.value for r in records if r.value is not None)
        await consumer.commit()
        committed = await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()
    return values, committed or 0


async def _cleanup_policies(
    admin: AIOKafkaAdminClient, names: list[str]
) -> dict[str, str]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    policies = {}
    for response in await admin.describe_configs(resources):
        for _, _, _, name, entries in response.resources:
            for key, value, *_ in entries:
                if key == "cleanup.policy":
                    policies[name] = value
    return policies
