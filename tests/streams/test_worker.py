"""The first closed loop on a real broker: sales in, reorder commands out."""

import base64
import dataclasses
import datetime as dt
import time
from zoneinfo import ZoneInfo

import orjson
import pytest

from forecasting.checkpoint import (
    BUNDLED_CHECKPOINT,
    file_sha256,
    load_checkpoint,
    save_checkpoint,
)
from forecasting.datasets import bundled_dataset_path, load_sales
from streams.events import ModelUpdate, encode
from streams.readback import end_offsets, produce, read_all
from streams.replay import replay, select_days
from streams.supervisor import WorkerProcess
from streams.topics import DEAD_LETTERS, MODEL_UPDATES, REORDER_COMMANDS, SALES_EVENTS
from streams.trainer import MODEL_KEY

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


def first_commands(worker: WorkerProcess, timeout: float) -> list[dict[str, object]]:
    """The worker's reorder commands, as soon as there are any."""
    deadline = time.monotonic() + timeout
    commands: list[dict[str, object]] = []
    while not commands and time.monotonic() < deadline:
        time.sleep(0.5)
        commands = read_all(worker.bootstrap, worker.prefix + REORDER_COMMANDS)
    return commands


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
    commands = first_commands(worker, timeout=90)
    assert [(c["sku"], c["as_of"]) for c in commands] == [
        ("LIVE-1", yesterday.isoformat())
    ], worker.log_tail()


def test_a_model_announced_before_start_closes_the_first_day(
    worker: WorkerProcess, tmp_path
) -> None:
    model = dataclasses.replace(
        load_checkpoint(BUNDLED_CHECKPOINT), model_version="lstm-announced"
    )
    path = save_checkpoint(model, tmp_path / "announced.pt")
    update = ModelUpdate(
        model.model_version, str(path), file_sha256(path), dt.datetime.now(dt.UTC)
    )
    produce(
        worker.bootstrap, worker.prefix + MODEL_UPDATES, [(MODEL_KEY, encode(update))]
    )
    worker.start()

    day = dt.date(2011, 8, 1)
    sales = [
        orjson.dumps(
            {
                "schema_version": 1,
                "event_id": f"announced-{i}",
                "sku": "85123A",
                "quantity": 5,
                "unit_price": 2.5,
                "occurred_at": f"{day + dt.timedelta(days=i)}T10:00:00+01:00",
            }
        )
        for i in range(2)
    ]
    produce(
        worker.bootstrap, worker.prefix + SALES_EVENTS, [(b"85123A", s) for s in sales]
    )
    worker.wait_for_events(2)

    commands = first_commands(worker, timeout=60)
    assert [c["model_version"] for c in commands] == ["lstm-announced"], (
        worker.log_tail()
    )
