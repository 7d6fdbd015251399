import asyncio
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any, NamedTuple, cast

import pytest
from faust.types import TP

from streams.batch_consumer import BatchApp, BatchConsumer, acknowledged_offsets


def test_a_batch_acknowledges_its_records_and_the_gaps_before_them() -> None:
    # read up to 9 so far; 10 and 11 were compacted away
    assert acknowledged_offsets(12, 15, read=9, committed=5) == range(9, 16)


def test_the_first_batch_after_a_seek_starts_at_the_seek_position() -> None:
    assert acknowledged_offsets(40, 42, read=40, committed=40) == range(40, 43)


def test_records_compacted_away_at_the_head_leave_no_gap() -> None:
    assert acknowledged_offsets(7, 8, read=None, committed=0) == range(0, 9)


def test_nothing_below_the_committed_offset_is_acknowledged_again() -> None:
    assert acknowledged_offsets(3, 6, read=2, committed=5) == range(5, 7)


def test_a_partition_never_committed_starts_at_its_first_record() -> None:
    assert acknowledged_offsets(0, 3, read=None, committed=None) == range(0, 4)


class Record(NamedTuple):
    offset: int
    key: bytes | None = None
    value: bytes = b""


class Thread:
    """Stands in for the consumer thread: remembers every seek."""

    def __init__(self) -> None:
        self.seeks: list[tuple[TP, int]] = []

    def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


SALES = [TP("sales", partition) for partition in range(3)]
CHANGELOG = TP("app-state-changelog", 0)


Handled = list[Mapping[TP, Sequence[Any]]]


@pytest.fixture
def handled() -> Handled:
    """The batches the consumer handed to its app, in order."""
    return []


@pytest.fixture
def consumer(monkeypatch: pytest.MonkeyPatch, handled: Handled) -> BatchConsumer:
    """A consumer of ``sales`` assigned partitions 0 and 1 and a changelog."""

    async def handle(batches: Mapping[TP, Sequence[Any]]) -> None:
        handled.append(dict(batches))

    app = BatchApp("batch-consumer-test", broker="kafka://127.0.0.1:1")
    app.route_batches([app.topic("sales")], handle)
    consumer = cast(BatchConsumer, app.consumer)
    monkeypatch.setattr(consumer, "_thread", Thread())
    monkeypatch.setattr(consumer, "assignment", lambda: {*SALES[:2], CHANGELOG})
    monkeypatch.setattr(consumer, "highwater", lambda tp: 100)
    monkeypatch.setattr(app, "consumer_generation_id", 1, raising=False)
    return consumer


async def drain_once(
    consumer: BatchConsumer, records: Mapping[TP, Sequence[Record]], active: set[TP]
) -> None:
    """Run the fetch loop over ``records``, then stop it."""
    fetcher = SimpleNamespace(should_stop=False)

    async def wait_next_records(timeout: float) -> Any:
        fetcher.should_stop = True
        return records, active

    consumer._wait_next_records = wait_next_records  # type: ignore[method-assign]
    await consumer._drain_messages(fetcher)


def test_records_fetched_while_the_flow_is_held_are_read_again(
    consumer: BatchConsumer, handled: Handled
) -> None:
    # partitions 0 and 1 have no committed offset: no seek to a committed
    # offset would bring their records back
    consumer.flow_active = False
    records = {
        SALES[0]: [Record(85), Record(86)],
        SALES[2]: [Record(7)],  # no longer assigned
        CHANGELOG: [Record(3)],  # recovery positions the changelogs itself
    }
    asyncio.run(drain_once(consumer, records, set(SALES)))
    thread = cast(Thread, consumer._thread)
    assert thread.seeks == [(SALES[0], 85)]
    assert consumer._read_offset[SALES[0]] == 85
    assert handled == []


def test_records_of_a_paused_partition_are_read_again_and_the_rest_handled(
    consumer: BatchConsumer, handled: Handled
) -> None:
    records = {SALES[0]: [Record(0), Record(1)], SALES[1]: [Record(4)]}
    asyncio.run(drain_once(consumer, records, {SALES[1]}))
    thread = cast(Thread, consumer._thread)
    assert thread.seeks == [(SALES[0], 0)]
    assert handled == [{SALES[1]: [Record(4)]}]
