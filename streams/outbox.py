"""Records the worker writes, gathered into one producer batch per partition.

A day close of thousands of SKUs writes a command, a forecast and changelog
records for each of them. Sent one by one, every record costs a coroutine,
a future and a partitioner call in the producer (tens of microseconds);
appended to a batch builder of its topic partition it costs one append.
Records are written to the partition given (every SKU-keyed topic has the
same partition count, and a SKU's outputs go to the partition its inputs
came from), so no partitioner runs either.

The producer accepts one batch of a partition at a time: the next waits
until the previous one has left for the broker. Batches of different
partitions are handed over side by side.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

#: ``(topic, partition)`` a batch goes to.
Destination = tuple[str, int]
#: Batches in the order they were filled.
Batches = list[tuple[Destination, Any]]


class Outbox:
    """Batches of records per topic partition, sent together.

    Parameters
    ----------
    producer
        Returns the started ``aiokafka.AIOKafkaProducer`` to send with.
    """

    def __init__(self, producer: Callable[[], Any]) -> None:
        self._producer = producer
        self._open: dict[Destination, Any] = {}
        self._full: Batches = []

    def add(
        self, topic: str, partition: int, key: bytes | None, value: bytes | None
    ) -> None:
        """Append one record (None: a tombstone) to ``topic``'s ``partition``."""
        destination = (topic, partition)
        builder = self._open.get(destination)
        if builder is None:
            builder = self._open[destination] = self._producer().create_batch()
        if builder.append(key=key, value=value, timestamp=None) is None:
            self._full.append((destination, builder))
            builder = self._open[destination] = self._producer().create_batch()
            # an empty batch takes any record, however large
            builder.append(key=key, value=value, timestamp=None)

    def __len__(self) -> int:
        """Batches waiting to be sent."""
        return len(self._full) + len(self._open)

    def take(self) -> Batches:
        """Every batch so far, in order; the outbox starts empty again."""
        batches = [*self._full, *self._open.items()]
        self._full.clear()
        self._open.clear()
        return batches

    async def send(self) -> list[Awaitable[Any]]:
        """Hand every batch to the producer; await the results for the acks."""
        return await self.hand_over(self.take())

    async def send_and_wait(self) -> None:
        """Send every batch and wait until the broker has them all."""
        await self.deliver(self.take())

    async def deliver(self, batches: Batches) -> None:
        """Hand ``batches`` to the producer and wait until the broker has them."""
        await asyncio.gather(*await self.hand_over(batches))

    async def hand_over(self, batches: Batches) -> list[Awaitable[Any]]:
        """Give ``batches`` to the producer, in order within each partition."""
        chains: dict[Destination, list[Any]] = {}
        for destination, builder in batches:
            chains.setdefault(destination, []).append(builder)
        handed = await asyncio.gather(
            *(
                self._chain(destination, builders)
                for destination, builders in chains.items()
            )
        )
        return [result for results in handed for result in results]

    async def _chain(self, destination: Destination, builders: list[Any]) -> list[Any]:
        topic, partition = destination
        producer = self._producer()
        return [
            await producer.send_batch(builder, topic, partition=partition)
            for builder in builders
        ]
