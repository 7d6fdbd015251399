"""A Faust consumer that hands the input topics over a fetched batch at a time.

Faust delivers every record through its conductor, a per-topic queue and an
agent's stream, and races each one against flow control; on two cores that
costs about 50 to 100 microseconds a record whatever the agent does, ten
times the cost of decoding and applying a sale. :class:`BatchConsumer` keeps
Faust's consumer group, fetcher, table recovery and offset commits, but gives
the records of the topics it is told about (``batch_topics``) to one
coroutine per fetch, grouped by topic partition, and acknowledges their
offsets once that coroutine has returned. Records of every other topic
(changelogs being recovered, for instance) take Faust's usual route.
Records of the batch topics fetched but not handled, because a rebalance
or a table recovery held the flow or their partition was paused, are
sought back to and read again.

Offsets are acknowledged, not committed: Faust's committer commits them on
its own schedule after flushing the producer, so a commit never covers a
record whose state changes have not reached the broker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import faust
from aiokafka.errors import IllegalStateError
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from faust.types.tuples import ack_lock

#: Handles the records of one fetch: per topic partition, in offset order.
BatchHandler = Callable[[Mapping[TP, Sequence[Any]]], Awaitable[None]]


class BatchConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer with the batch route of its :class:`BatchApp`."""

    async def _drain_messages(self, fetcher: Any) -> None:
        """Fetch and dispatch until the consumer or the fetcher stops.

        Mirrors :meth:`faust.transport.consumer.Consumer._drain_messages`
        for the records of other topics.
        """
        try:
            while not (self.should_stop or fetcher.should_stop):
                records, active = await self._wait_next_records(timeout=1.0)
                await self.sleep(0)
                if not records or self.should_stop:
                    continue
                if not self.flow_active:
                    # Fetched while a rebalance or table recovery holds the
                    # flow: read them again once it resumes.
                    await self._read_again(records)
                    continue
                await self._dispatch(records, active)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise

    async def _dispatch(
        self, records: Mapping[TP, Sequence[Any]], active: set[TP] | None
    ) -> None:
        app: Any = self.app
        generation = app.consumer_generation_id
        batches: dict[TP, Sequence[Any]] = {}
        others: list[tuple[TP, Any]] = []
        paused: dict[TP, Sequence[Any]] = {}
        for tp, fetched in records.items():
            if active is not None and not (
                tp in active or tp in self._buffered_partitions
            ):
                paused[tp] = fetched
            elif tp.topic in app.batch_topics:
                unread = self._unread(tp, fetched)
                if unread:
                    batches[tp] = unread
            else:
                others.extend((tp, record) for record in fetched)
        await self._read_again(paused)
        if batches:
            # Shielded: a rebalance that stops the fetcher must not cut a
            # batch (or the day close it triggers) in half. Its offsets are
            # then not acknowledged, and the records come again.
            await asyncio.shield(app.on_batch(batches))
            if app.consumer_generation_id == generation:
                self._acknowledge(batches)
        for tp, record in others:
            if app.consumer_generation_id != generation or not self.flow_active:
                break
            await self._deliver(tp, record)

    async def _read_again(self, records: Mapping[TP, Sequence[Any]]) -> None:
        """Seek back to the first of ``records`` that will not be handled now.

        The fetch moved the consumer's position past them: without this seek
        the records of a partition that has no committed offset yet, fetched
        while recovery holds the flow, would never come again (a seek to the
        committed offset leaves such a partition where it is). Only the input
        topics are sought back; Faust's recovery sets the changelogs'
        positions itself. A partition that is no longer assigned is left
        alone: its next owner starts from the committed offset.
        """
        app: Any = self.app
        assigned = self.assignment()
        for tp, fetched in records.items():
            if tp.topic not in app.batch_topics or tp not in assigned:
                continue
            offset = fetched[0].offset
            try:
                await self.seek(tp, offset)
            except IllegalStateError:  # revoked since the assignment was read
                continue
            self.log.info(
                "Will read %s[%d] again from offset %d", tp.topic, tp.partition, offset
            )

    def _unread(self, tp: TP, fetched: Sequence[Any]) -> Sequence[Any]:
        """``fetched`` without records before the read offset (after a seek)."""
        read = self._read_offset[tp]
        if read is None or fetched[0].offset >= read:
            return fetched
        return [record for record in fetched if record.offset >= read]

    def _acknowledge(self, batches: Mapping[TP, Sequence[Any]]) -> None:
        """Acknowledge every offset up to the last record of each batch.

        Offsets between batches that hold no record (compacted away, or
        transaction markers) are acknowledged too, so that the committed
        offset can move past them.
        """
        now = time.monotonic()
        monitor = self.app.monitor
        with ack_lock:
            for tp, batch in batches.items():
                last = batch[-1].offset
                offsets = acknowledged_offsets(
                    batch[0].offset,
                    last,
                    read=self._read_offset[tp],
                    committed=self._committed_offset[tp],
                )
                index = self._acked_index[tp]
                fresh = [o for o in offsets if o not in index]
                index.update(fresh)
                self._acked[tp].extend(fresh)
                self._n_acked += len(fresh)
                self._read_offset[tp] = last
                monitor.stream_inbound_time[tp] = now
                monitor.track_tp_end_offset(tp, self.highwater(tp))

    async def _deliver(self, tp: TP, record: Any) -> None:
        """Faust's route for one record of a topic without a batch route."""
        message = self._to_message(tp, record)
        read = self._read_offset[tp]
        if read is not None and message.offset < read:
            return
        if (
            read
            and message.offset - read > 1
            and self.app.topics.acks_enabled_for(message.topic)
        ):
            await self._add_gap(tp, read + 1, message.offset)
        await self.wait_first(self.callback(message), self.suspend_flow.wait())
        self._read_offset[tp] = message.offset


def acknowledged_offsets(
    first: int, last: int, *, read: int | None, committed: int | None
) -> range:
    """Offsets that a batch of records ``first .. last`` acknowledges.

    From the last offset read (or the position a seek set), else from the
    committed offset, through ``last``: offsets that hold no record (records
    compacted away, transaction markers) are acknowledged with the batch, so
    that no gap stops the committed offset, at the head of a partition
    either. Offsets below the committed one are never acknowledged again.
    """
    since = read if read is not None else committed
    start = first if since is None else min(since, first)
    if committed is not None:
        start = max(start, committed)
    return range(start, last + 1)


class BatchTransport(aiokafka_driver.Transport):
    """The aiokafka transport, with :class:`BatchConsumer` as its consumer."""

    Consumer = BatchConsumer


class BatchApp(faust.App):
    """A Faust app whose consumer hands some topics to one batch handler."""

    batch_topics: frozenset[str] = frozenset()
    on_batch: BatchHandler

    def _new_transport(self) -> Any:
        return BatchTransport(self.conf.broker_consumer, self)

    def route_batches(
        self, topics: Sequence[faust.TopicT], handler: BatchHandler
    ) -> None:
        """Subscribe to ``topics`` and send their records to ``handler``.

        ``handler`` gets the records of each fetch, a list per topic
        partition; the offsets are acknowledged once it returns.
        """
        for topic in topics:
            self.topics.add(topic)
        self.batch_topics = frozenset(name for t in topics for name in t.topics)
        self.on_batch = handler
