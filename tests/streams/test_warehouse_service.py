"""The warehouse service: receipts on Kafka, once each, and a clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from aiokafka import TopicPartition

from streams.events import decode_stock, encode
from streams.readback import committed_lag, end_offsets, produce, read_all
from streams.topics import REORDER_COMMANDS, STOCK_EVENTS, TOPICS, ensure_topics
from streams.warehouse import WarehouseConfig, receipts
from streams.warehouse_service import _Outbox, serve
from tests.streams.test_warehouse import make_commands


def _topics(bootstrap: str, prefix: str) -> None:
    ensure_topics(
        bootstrap,
        partitions=2,
        prefix=prefix,
        topics=[TOPICS[REORDER_COMMANDS], TOPICS[STOCK_EVENTS]],
    )


def _records(commands: list) -> list[tuple[bytes, bytes]]:
    return [(c.sku.encode(), encode(c)) for c in commands]


async def _serve_until(
    bootstrap: str,
    prefix: str,
    *,
    group: str,
    config: WarehouseConfig,
    receipts_wanted: int,
    timeout: float = 60.0,
):
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(
            bootstrap,
            command_topic=prefix + REORDER_COMMANDS,
            stock_topic=prefix + STOCK_EVENTS,
            group_id=group,
            config=config,
            stop=stop,
        )
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not task.done():
        ends = await asyncio.to_thread(end_offsets, bootstrap, prefix + STOCK_EVENTS)
        if sum(ends.values()) >= receipts_wanted:
            break
        await asyncio.sleep(0.3)
    await asyncio.sleep(1.0)  # room for an unwanted extra receipt to show
    stop.set()
    return await asyncio.wait_for(task, 30)


@pytest.mark.integration
async def test_service_turns_commands_into_receipts_once_each(
    kafka_bootstrap: str, topic_prefix: str, unique_name: Callable[[str], str]
):
    await asyncio.to_thread(_topics, kafka_bootstrap, topic_prefix)
    commands = make_commands(12)
    config = WarehouseConfig(lead_time_spread_days=2.0, seed=3)
    # The third command is delivered twice, as after a producer retry.
    await asyncio.to_thread(
        produce,
        kafka_bootstrap,
        topic_prefix + REORDER_COMMANDS,
        _records(commands) + _records(commands[2:3]),
    )

    stats = await _serve_until(
        kafka_bootstrap,
        topic_prefix,
        group=unique_name("warehouse"),
        config=config,
        receipts_wanted=12,
    )

    values = await asyncio.to_thread(
        read_all, kafka_bootstrap, topic_prefix + STOCK_EVENTS
    )
    got = {str(r["command_id"]): r for r in values}
    assert len(values) == 12
    assert set(got) == {c.command_id for c in commands}
    expected = {r.command_id: r for r in receipts(commands, config) if r}
    for cid, value in got.items():
        receipt = decode_stock(orjson.dumps(value))
        assert receipt == expected[cid]
    assert stats.commands == 13
    assert stats.duplicates == 1


@pytest.mark.integration
def test_command_line_service_stops_cleanly_on_sigterm(
    kafka_bootstrap: str,
    topic_prefix: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
):
    _topics(kafka_bootstrap, topic_prefix)
    commands = make_commands(4)
    produce(kafka_bootstrap, topic_prefix + REORDER_COMMANDS, _records(commands))
    log_path = tmp_path / "warehouse.log"
    argv = [
        sys.executable,
        "-m",
        "streams",
        "warehouse",
        "--bootstrap-servers",
        kafka_bootstrap,
        "--topic-prefix",
        topic_prefix,
        "--partitions",
        "2",
        "--group-id",
        unique_name("warehouse"),
        "--fill-rate",
        "0.5",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ)
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ends = end_offsets(kafka_bootstrap, topic_prefix + STOCK_EVENTS)
            if sum(ends.values()) >= 4 or process.poll() is not None:
                break
            time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    log_text = log_path.read_text()
    assert code == 0, log_text
    assert "stopping the warehouse" in log_text
    assert "4 commands, 4 receipts (4 sent)" in log_text
    values = read_all(kafka_bootstrap, topic_prefix + STOCK_EVENTS)
    assert sorted(int(str(v["quantity"])) for v in values) == sorted(
        (c.quantity + 1) // 2 for c in commands
    )


@pytest.mark.integration
async def test_receipts_held_back_in_realtime_are_redelivered_after_a_stop(
    kafka_bootstrap: str, topic_prefix: str, unique_name: Callable[[str], str]
):
    await asyncio.to_thread(_topics, kafka_bootstrap, topic_prefix)
    commands = make_commands(5)
    await asyncio.to_thread(
        produce, kafka_bootstrap, topic_prefix + REORDER_COMMANDS, _records(commands)
    )
    group = unique_name("warehouse")
    slow = WarehouseConfig(seconds_per_day=3600.0)

    held = await _serve_until(
        kafka_bootstrap,
        topic_prefix,
        group=group,
        config=slow,
        receipts_wanted=1,
        timeout=5.0,
    )
    lag = await asyncio.to_thread(
        committed_lag, kafka_bootstrap, group, topic_prefix + REORDER_COMMANDS
    )
    assert held.commands == 5
    assert held.sent == 0
    assert lag == 5  # nothing committed while the receipts were waiting

    done = await _serve_until(
        kafka_bootstrap,
        topic_prefix,
        group=group,
        config=WarehouseConfig(),
        receipts_wanted=5,
    )
    lag = await asyncio.to_thread(
        committed_lag, kafka_bootstrap, group, topic_prefix + REORDER_COMMANDS
    )
    assert done.receipts == done.sent == 5
    assert lag == 0


def test_a_revoked_partition_leaves_no_receipt_and_no_offset_behind() -> None:
    kept, revoked = TopicPartition("commands", 0), TopicPartition("commands", 1)
    outbox = _Outbox()
    answers = receipts(make_commands(4), WarehouseConfig())
    for offset, receipt in enumerate(answers):
        tp = kept if offset % 2 == 0 else revoked
        outbox.read(tp, offset)
        assert receipt is not None
        outbox.hold(10.0, receipt, tp, offset)

    dropped = outbox.forget({revoked})

    assert dropped == 2
    assert [tp for _, tp, _ in outbox.due(now=10.0)] == [kept, kept]
    assert outbox.to_commit({kept, revoked}) == {kept: 0}
