"""The warehouse service: answer ``reorder-commands`` on ``stock-events``.

:func:`serve` consumes commands with a consumer group of its own, draws each
command's receipt with :class:`~streams.warehouse.Warehouse` (which skips a
command id it has answered before) and produces the receipts. Time is event
time: receipts are sent as soon as their command is read, unless
``seconds_per_day`` holds each one back for its lead time scaled to wall
seconds. A partition's offset is committed only past commands whose receipts
the broker has acknowledged.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import KafkaError

from streams.events import EventError, StockEvent, decode_command, encode
from streams.warehouse import Warehouse, WarehouseConfig, WarehouseStats

log = logging.getLogger(__name__)


class _Outbox:
    """Receipts waiting for their send time, and the offsets safe to commit.

    A partition's committable offset is its lowest offset whose receipt is
    still waiting, or the offset after the last record read.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, StockEvent, TopicPartition, int]] = []
        self._waiting: dict[TopicPartition, set[int]] = {}
        self._next: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._order = itertools.count()

    def read(self, tp: TopicPartition, offset: int) -> None:
        self._next[tp] = offset + 1

    def hold(
        self, due: float, receipt: StockEvent, tp: TopicPartition, offset: int
    ) -> None:
        heapq.heappush(self._heap, (due, next(self._order), receipt, tp, offset))
        self._waiting.setdefault(tp, set()).add(offset)

    def due(self, now: float) -> list[tuple[StockEvent, TopicPartition, int]]:
        out = []
        while self._heap and self._heap[0][0] <= now:
            _, _, receipt, tp, offset = heapq.heappop(self._heap)
            out.append((receipt, tp, offset))
        return out

    def sent(self, tp: TopicPartition, offset: int) -> None:
        # the partition may have been handed over while its receipts travelled
        self._waiting.get(tp, set()).discard(offset)

    def seconds_to_next(self, now: float) -> float | None:
        return max(0.0, self._heap[0][0] - now) if self._heap else None

    def to_commit(self, assigned: set[TopicPartition]) -> dict[TopicPartition, int]:
        out = {}
        for tp, after_last in self._next.items():
            waiting = self._waiting.get(tp)
            offset = min(waiting) if waiting else after_last
            if tp in assigned and self._committed.get(tp) != offset:
                out[tp] = offset
        return out

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        self._committed.update(offsets)

    def forget(self, tps: set[TopicPartition]) -> int:
        """Drop the receipts and bookkeeping of partitions handed to another
        warehouse, which reads their unanswered commands again from the last
        commit; return how many receipts were dropped."""
        kept = [entry for entry in self._heap if entry[3] not in tps]
        dropped = len(self._heap) - len(kept)
        heapq.heapify(kept)
        self._heap = kept
        for tp in tps:
            self._waiting.pop(tp, None)
            self._next.pop(tp, None)
            self._committed.pop(tp, None)
        return dropped


class _HandOver(ConsumerRebalanceListener):
    """Commits what is safe of revoked partitions, then forgets them."""

    def __init__(self, consumer: AIOKafkaConsumer, outbox: _Outbox) -> None:
        self._consumer = consumer
        self._outbox = outbox

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await _commit(self._consumer, self._outbox)
        dropped = self._outbox.forget(set(revoked))
        if dropped:
            log.info(
                "Handed over %s with %d receipts not yet sent; their commands"
                " will be answered by the new owner",
                sorted(f"{tp.topic}[{tp.partition}]" for tp in revoked),
                dropped,
            )

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None


async def serve(
    bootstrap_servers: str,
    *,
    command_topic: str,
    stock_topic: str,
    group_id: str,
    config: WarehouseConfig,
    stop: asyncio.Event,
    max_records: int = 500,
) -> WarehouseStats:
    """Answer the commands of ``command_topic`` on ``stock_topic`` until ``stop``.

    Offsets are committed only once every receipt of the commands before
    them is acknowledged by the broker, so a crash re-delivers and never
    loses a command. Returns what was done.
    """
    warehouse = Warehouse(config)
    outbox = _Outbox()
    loop = asyncio.get_running_loop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", linger_ms=5
    )
    await producer.start()
    await consumer.start()
    consumer.subscribe([command_topic], listener=_HandOver(consumer, outbox))
    log.info("Warehouse %s answering %s on %s", group_id, command_topic, stock_topic)
    try:
        while not stop.is_set():
            wait = outbox.seconds_to_next(loop.time())
            timeout = 0.5 if wait is None else min(wait, 0.5)
            batch = await consumer.getmany(
                timeout_ms=int(timeout * 1000), max_records=max_records
            )
            for tp, messages in batch.items():
                _schedule(warehouse, outbox, tp, messages, loop.time())
            sent = await _send_due(producer, outbox, stock_topic, loop.time())
            warehouse.stats.sent += sent
            await _commit(consumer, outbox)
    finally:
        await consumer.stop()
        await producer.stop()
    stats = warehouse.stats
    log.info(
        "Warehouse %s stopped: %d commands, %d receipts (%d sent), %d duplicates,"
        " %d undelivered, %d rejected",
        group_id,
        stats.commands,
        stats.receipts,
        stats.sent,
        stats.duplicates,
        stats.undelivered,
        stats.rejected,
    )
    return stats


def _schedule(
    warehouse: Warehouse,
    outbox: _Outbox,
    tp: TopicPartition,
    messages: Sequence[ConsumerRecord[bytes, bytes]],
    now: float,
) -> None:
    commands, offsets = [], []
    for message in messages:
        outbox.read(tp, message.offset)
        try:
            commands.append(decode_command(message.value or b""))
        except EventError as error:
            warehouse.stats.rejected += 1
            log.warning(
                "Skipping a bad command at %s[%d]@%d: %s",
                message.topic,
                message.partition,
                message.offset,
                error,
            )
            continue
        offsets.append(message.offset)
    pace = warehouse.config.seconds_per_day or 0.0
    for command, offset, receipt in zip(
        commands, offsets, warehouse.answer(commands), strict=True
    ):
        if receipt is not None:
            days = (receipt.occurred_at.date() - command.as_of).days
            outbox.hold(now + days * pace, receipt, tp, offset)


async def _send_due(
    producer: AIOKafkaProducer, outbox: _Outbox, topic: str, now: float
) -> int:
    """Send the receipts due by ``now``; return how many the broker acked."""
    due = outbox.due(now)
    acks = [
        await producer.send(topic, encode(receipt), key=receipt.sku.encode())
        for receipt, _, _ in due
    ]
    await asyncio.gather(*acks)
    for _, tp, offset in due:
        outbox.sent(tp, offset)
    return len(due)


async def _commit(consumer: AIOKafkaConsumer, outbox: _Outbox) -> None:
    offsets = outbox.to_commit(consumer.assignment())
    if not offsets:
        return
    try:
        await consumer.commit(offsets)
    except KafkaError as error:
        log.warning("Commit of %s failed, will retry: %s", offsets, error)
        return
    outbox.committed(offsets)
