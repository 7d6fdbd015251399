"""Per-SKU states and partition clocks kept in Faust tables, with a live cache.

Faust tables give the state a changelog topic, so it is restored on restart
and follows its partition to whichever worker owns it. The worker processes
events in batches that mix partitions, so table writes name their partition
explicitly instead of relying on the event being processed; the changelog
partition of a SKU is the partition of its input topics.

A SKU's state is one record of the ``sku-state`` table
(:meth:`SkuState.record`), rewritten once per fetch that changed it and once
per day close.

Decoded :class:`~streams.state.SkuState` objects are cached; changed ones are
written back to the tables by :meth:`StateStore.flush`, and their changelog
records added to the worker's :class:`~streams.outbox.Outbox`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import orjson

from streams.outbox import Outbox
from streams.state import PartitionClock, SkuState

log = logging.getLogger(__name__)


class StateStore:
    """SKU states and partition clocks of the partitions this worker owns.

    Parameters
    ----------
    skus, clocks, policies
        Faust tables of bytes with JSON keys: each SKU's state record, keyed
        by SKU; partition clocks (JSON) keyed by partition number; each SKU's
        ``sku-policies`` record as received. The values are kept as the
        bytes the changelog holds, which costs the garbage collector nothing
        to scan.
    outbox
        Where changelog records go; sending them is the caller's business.
    """

    def __init__(self, skus: Any, clocks: Any, policies: Any, outbox: Outbox) -> None:
        self._outbox = outbox
        self._skus_table = skus
        self._clocks_table = clocks
        self._policies_table = policies
        self._states: dict[str, SkuState] = {}
        self._clocks: dict[int, PartitionClock] = {}
        self._members: dict[int, set[str]] = {}
        self._dirty: set[str] = set()
        self._dirty_clocks: set[int] = set()

    def clock(self, partition: int) -> PartitionClock:
        clock = self._clocks.get(partition)
        if clock is None:
            raw = self._clocks_table.data.get(partition)
            clock = (
                PartitionClock(partition)
                if raw is None
                else PartitionClock.from_json(orjson.loads(raw))
            )
            self._clocks[partition] = clock
        return clock

    def state(self, sku: str, partition: int) -> SkuState:
        """The state of ``sku``, created on first sight (marked changed)."""
        state = self._states.get(sku)
        if state is None:
            loaded = self._load(sku)
            if loaded is not None:
                state = loaded
            else:
                state = SkuState(sku, partition)
                open_day = self.clock(partition).open_day
                if open_day is not None:
                    state.last_closed_day = open_day.fromordinal(
                        open_day.toordinal() - 1
                    )
                self._dirty.add(sku)
            self._states[sku] = state
            self.members(partition).add(sku)
        return state

    def get(self, sku: str) -> SkuState | None:
        """The state of ``sku`` if this worker holds it, without creating it."""
        if sku in self._states:
            return self._states[sku]
        return self._load(sku)

    def _load(self, sku: str) -> SkuState | None:
        # ``in`` first: a table's ``get`` of a missing key raises and catches
        records = self._skus_table.data
        return SkuState.from_record(records[sku]) if sku in records else None

    def members(self, partition: int) -> set[str]:
        """Every SKU of ``partition`` (scanned from the table the first time)."""
        members = self._members.get(partition)
        if members is None:
            members = {
                sku
                for sku, raw in self._skus_table.data.items()
                if SkuState.partition_of(raw) == partition
            }
            self._members[partition] = members
        return members

    def partition_states(self, partition: int) -> list[SkuState]:
        """States of every SKU of ``partition``, in SKU order (deterministic)."""
        return [self.state(sku, partition) for sku in sorted(self.members(partition))]

    def mark(self, state: SkuState) -> None:
        """Note that events changed ``state``."""
        self._dirty.add(state.sku)

    def mark_closed(self, states: Iterable[SkuState]) -> None:
        """Note that a close changed ``states``."""
        self._dirty.update(s.sku for s in states)

    def mark_clock(self, partition: int) -> None:
        self._dirty_clocks.add(partition)

    def flush(self, *, clocks: bool = True) -> None:
        """Write changed states, and unless told otherwise changed clocks, to
        the tables and the outbox."""
        add, records = self._outbox.add, self._skus_table.data
        topic = _changelog(self._skus_table)
        for sku in self._dirty:
            state = self._states[sku]
            record = records[sku] = state.record()
            add(topic, state.partition, orjson.dumps(sku), record)
        self._dirty.clear()
        if not clocks:
            return
        for p in self._dirty_clocks:
            self._write(
                self._clocks_table, p, p, orjson.dumps(self._clocks[p].to_json())
            )
        self._dirty_clocks.clear()

    def save_policy(self, partition: int, sku: str, record: bytes) -> None:
        """Keep ``sku``'s ``sku-policies`` record (its text) in the table."""
        self._write(self._policies_table, partition, sku, record)

    def delete_policy(self, partition: int, sku: str) -> None:
        """Drop ``sku``'s ``sku-policies`` record, and write its tombstone."""
        self._write(self._policies_table, partition, sku, None)

    def forget(self, partitions: set[int]) -> None:
        """Drop the cache of partitions this worker no longer owns.

        The tables themselves stay as Faust keeps them: a partition that
        comes back is recovered from its changelog.
        """
        for sku in [s.sku for s in self._states.values() if s.partition in partitions]:
            del self._states[sku]
            self._dirty.discard(sku)
        for partition in partitions:
            self._members.pop(partition, None)
            self._clocks.pop(partition, None)
            self._dirty_clocks.discard(partition)
        log.info("Released partitions %s", sorted(partitions))

    def _write(self, table: Any, partition: int, key: Any, value: bytes | None) -> None:
        """Set (or with None delete) ``key`` in ``table`` and its changelog."""
        if value is None:
            table.data.pop(key, None)
        else:
            table.data[key] = value
        self._outbox.add(_changelog(table), partition, orjson.dumps(key), value)


def _changelog(table: Any) -> str:
    """The name of a Faust table's changelog topic."""
    return str(table.changelog_topic.get_topic_name())
