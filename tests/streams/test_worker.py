"""The first closed loop on a real broker: sales in, reorder commands out."""

import base64
import datetime as dt
import time
from zoneinfo import ZoneInfo

import orjson
import pytest

from forecasting.datasets import bundled_dataset_path, load_sales
from streams.readback import end_offsets, produce, read_all
from streams.replay import replay, select_days
from streams.supervisor import WorkerProcess
from streams.topics import DEAD_LETTERS, REORDER_COMMANDS, SALES_EVENTS

pytestmark = pytest.mark.integration

START, END = dt.date(2011, 8, 1), dt.date(2011, 8, 14)


@pytest.fixture(scope="module")
def two_weeks():
    events = load_sales(bundled_dataset_path()).events
    return select_days(events, START, END)


def bad_records() -> list[tuple[bytes, bytes]]:
    negative_price = {
        "schema_version": 1,
        "event_id": "bad-1",
        "sku": "85123A",
        "quantity": 1,
        "unit_price": -2.5,
        "occurred_at": "2011-08-03T10:00:00+01:00",
    }
    return [(b"85123A", b"{not json"), (b"85123A", orjson.dumps(negative_price))]


def test_replay_orders_once_and_a_second_replay_changes_nothing(
    worker: WorkerProcess, two_weeks
) -> None:
    sales = worker.prefix + SALES_EVENTS
    commands_topic = worker.prefix + REORDER_COMMANDS
    changelog = f"{worker.app_id}-sku-state-changelog"
    worker.start()

    sent = replay(two_weeks, worker.bootstrap, topic=sales, progress=False)
    produce(worker.bootstrap, sales, bad_records())
    worker.wait_for_events(sent + 2)

    commands = read_all(worker.bootstrap, commands_topic)
    assert commands, worker.log_tail()
    assert len({c["command_id"] for c in commands}) == len(commands)
    assert {c["as_of"] for c in commands} <= {
        (START + dt.timedelta(days=i)).isoformat() for i in range(14)
    }
    assert all(c["quantity"] > 0 for c in commands)

    letters = read_all(worker.bootstrap, worker.prefix + DEAD_LETTERS)
    assert sorted(letter["reason"] for letter in letters) == [
        "bad_json",
        "out_of_range",
    ]
    raw = {base64.b64decode(letter["raw"]) for letter in letters}
    assert b"{not json" in raw
    metrics = worker.metrics()
    applied = ("outcome", "applied"), ("topic", sales)
    assert metrics[("replenish_ingest_events_total", applied)] == sent

    state_before = end_offsets(worker.bootstrap, changelog)
    commands_before = end_offsets(worker.bootstrap, commands_topic)
    replay(two_weeks, worker.bootstrap, topic=sales, progress=False)
    worker.wait_for_events(2 * sent + 2)

    metrics = worker.metrics()
    assert metrics[("replenish_ingest_events_total", applied)] == sent
    assert end_offsets(worker.bootstrap, commands_topic) == commands_before
    assert end_offsets(worker.bootstrap, changelog) == state_before


def test_live_mode_closes_a_quiet_day_by_the_wall_clock(worker: WorkerProcess) -> None:
    worker.env.update({"REPLENISH_LIVE": "1", "REPLENISH_CLOSE_HOUR": "0"})
    worker.start()
    london = ZoneInfo("Europe/London")
    yesterday = dt.datetime.now(london).date() - dt.timedelta(days=1)
    noon = dt.datetime.combine(yesterday, dt.time(12), tzinfo=london)
    sale = {
        "schema_version": 1,
        "event_id": "live-1",
        "sku": "LIVE-1",
        "quantity": 3,
        "unit_price": 2.5,
        "occurred_at": noon.isoformat(),
    }

    produce(
        worker.bootstrap,
        worker.prefix + SALES_EVENTS,
        [(b"LIVE-1", orjson.dumps(sale))],
    )

    # no later sale arrives: only the worker's clock can close yesterday
    deadline = time.monotonic() + 90
    commands: list[dict[str, object]] = []
    while not commands and time.monotonic() < deadline:
        time.sleep(1)
        commands = read_all(worker.bootstrap, worker.prefix + REORDER_COMMANDS)
    assert [(c["sku"], c["as_of"]) for c in commands] == [
        ("LIVE-1", yesterday.isoformat())
    ], worker.log_tail()
