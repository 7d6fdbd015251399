"""The warehouse simulator: receipts drawn from commands."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from streams.events import ReorderCommand, StockKind
from streams.warehouse import (
    Warehouse,
    WarehouseConfig,
    WarehouseConfigError,
    delivered_units,
    lead_time_days,
    receipt_id,
    receipts,
)

AS_OF = dt.date(2011, 3, 1)


def make_command(
    sku: str, as_of: dt.date, lead_days: int = 7, quantity: int = 10
) -> ReorderCommand:
    return ReorderCommand.issue(
        sku=sku,
        as_of=as_of,
        quantity=quantity,
        expected_arrival=as_of + dt.timedelta(days=lead_days),
        inventory_position=1.0,
        order_up_to_level=20.0,
        quantile_used=0.95,
        service_level=0.95,
        expected_cost=3.5,
        policy_version="1",
        model_version="lstm-test",
    )


def make_commands(
    n: int, lead_days: int = 7, quantity: int = 10
) -> list[ReorderCommand]:
    return [
        make_command(
            f"SKU-{i:04d}",
            AS_OF + dt.timedelta(days=i % 5),
            lead_days,
            quantity + i % 3,
        )
        for i in range(n)
    ]


def test_fixed_lead_time_delivers_on_the_expected_day_at_the_receipt_hour():
    commands = make_commands(6)
    config = WarehouseConfig(receipt_hour=14, timezone="Europe/London")

    made = receipts(commands, config)

    for command, receipt in zip(commands, made, strict=True):
        assert receipt is not None
        assert receipt.kind is StockKind.RECEIPT
        assert receipt.command_id == command.command_id
        assert receipt.event_id == receipt_id(command.command_id)
        assert receipt.sku == command.sku
        assert receipt.quantity == command.quantity
        assert receipt.occurred_at.date() == command.expected_arrival
        assert receipt.occurred_at.hour == 14
        assert receipt.occurred_at.utcoffset() == dt.timedelta(0)  # GMT in March


def test_occurred_at_carries_the_zone_offset_in_summer():
    summer = make_command("SKU-1", dt.date(2011, 7, 1), lead_days=7)

    (receipt,) = receipts([summer], WarehouseConfig(timezone="Europe/London"))

    assert receipt is not None
    assert receipt.occurred_at.utcoffset() == dt.timedelta(hours=1)
    assert receipt.occurred_at.isoformat() == "2011-07-08T09:00:00+01:00"


def test_lead_times_follow_the_spread_around_the_planned_lead_time():
    commands = make_commands(4000, lead_days=10)
    config = WarehouseConfig(lead_time_spread_days=2.0, seed=7)

    leads = lead_time_days(commands, config)

    assert leads.shape == (4000,)
    assert abs(leads.mean() - 10.0) < 0.15
    # Rounding to whole days adds a uniform error of variance 1/12.
    assert abs(leads.std() - np.sqrt(4.0 + 1 / 12)) < 0.15
    assert leads.min() >= 0


def test_lead_times_are_never_negative():
    commands = make_commands(500, lead_days=0)

    leads = lead_time_days(commands, WarehouseConfig(lead_time_spread_days=3.0))

    assert leads.min() == 0
    assert (leads > 0).any()


def test_draws_are_fixed_by_the_seed_and_independent_of_order():
    commands = make_commands(200)
    config = WarehouseConfig(lead_time_spread_days=3.0, seed=11)

    first = lead_time_days(commands, config)
    reversed_ = lead_time_days(commands[::-1], config)[::-1]
    other_seed = lead_time_days(commands, WarehouseConfig(3.0, seed=12))

    np.testing.assert_array_equal(first, reversed_)
    assert (first != other_seed).any()
    assert receipts(commands, config) == receipts(commands, config)


def test_fill_rate_rounds_half_up_and_can_deliver_nothing():
    units = delivered_units(np.array([10, 3, 1, 1]), 0.5)
    np.testing.assert_array_equal(units, [5, 2, 1, 1])

    command = make_commands(1, quantity=1)[0]
    assert receipts([command], WarehouseConfig(fill_rate=0.4)) == [None]


def test_warehouse_answers_each_command_id_once():
    commands = make_commands(5)
    warehouse = Warehouse(WarehouseConfig(lead_time_spread_days=1.0))

    first = warehouse.answer(commands)
    again = warehouse.answer([commands[2], commands[2], make_commands(6)[5]])

    assert all(r is not None for r in first)
    assert again[0] is None and again[1] is None and again[2] is not None
    assert warehouse.stats.receipts == 6
    assert warehouse.stats.duplicates == 2


def test_warehouse_forgets_the_oldest_ids_beyond_its_memory():
    commands = make_commands(3)
    warehouse = Warehouse(WarehouseConfig(), memory=2)

    warehouse.answer(commands)
    again = warehouse.answer([commands[0]])

    assert again[0] == receipts([commands[0]], WarehouseConfig())[0]


def test_warehouse_skips_a_receipt_too_large_for_stock_events(caplog):
    big = make_commands(1, quantity=2_000_000)[0]
    warehouse = Warehouse(WarehouseConfig())

    with caplog.at_level("WARNING"):
        assert warehouse.answer([big, *make_commands(2)[1:]])[0] is None

    assert warehouse.stats.rejected == 1
    assert warehouse.stats.receipts == 1
    assert big.command_id in caplog.text


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"fill_rate": 0.0}, "fill_rate"),
        ({"fill_rate": 1.5}, "fill_rate"),
        ({"lead_time_spread_days": -1.0}, "lead_time_spread_days"),
        ({"receipt_hour": 24}, "receipt_hour"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"seconds_per_day": float("nan")}, "seconds_per_day"),
    ],
)
def test_config_rejects_bad_settings_naming_the_field(changes, field):
    with pytest.raises(WarehouseConfigError, match=field) as caught:
        WarehouseConfig(**changes)
    assert caught.value.field == field
