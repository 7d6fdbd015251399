"""The daily inventory ledger on small hand-computed cases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streams.ledger import DemoReportError, reconstruct

START, END = dt.date(2024, 6, 3), dt.date(2024, 6, 9)


def sales_records(*rows: tuple[str, int, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "event_id": f"s{i}",
                "sku": sku,
                "quantity": q,
                "unit_price": 1.0,
                "occurred_at": at,
            }
            for i, (sku, q, at) in enumerate(rows)
        ]
    )


def stock_records(*rows: tuple[str, str, int, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "event_id": f"k{i}",
                "sku": sku,
                "kind": kind,
                "quantity": q,
                "occurred_at": at,
                "command_id": None,
            }
            for i, (sku, kind, q, at) in enumerate(rows)
        ]
    )


def command_record(sku: str, as_of: str, quantity: int, position: float, level: float):
    return {
        "command_id": f"c-{sku}-{as_of}",
        "sku": sku,
        "as_of": as_of,
        "quantity": quantity,
        "expected_arrival": as_of,
        "inventory_position": position,
        "order_up_to_level": level,
        "quantile_used": 0.95,
        "service_level": 0.95,
        "expected_cost": 1.0,
    }


def loop_records() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """SKU A with a warm-up day, a back-order, a receipt and a return; SKU B short.

    Closes of A from Jun 2: 7, 3, 3, -3, 1, -1, -1, -1.
    """
    sales = sales_records(
        ("A", 3, "2024-06-02T12:00:00+01:00"),
        ("A", 4, "2024-06-03T10:00:00+01:00"),
        # 00:30 on Jun 5 in London, still Jun 4 in UTC.
        ("A", 2, "2024-06-04T23:30:00+00:00"),
        ("A", 4, "2024-06-05T16:00:00+01:00"),
        ("A", 1, "2024-06-06T15:00:00+01:00"),
        ("A", 3, "2024-06-07T11:00:00+01:00"),
        ("A", -1, "2024-06-07T12:00:00+01:00"),
        ("B", 2, "2024-06-09T10:00:00+01:00"),
    )
    sales = pd.concat([sales, sales.iloc[[1]]])  # a re-delivered sale
    receipts = stock_records(
        ("A", "receipt", 10, "2024-06-02T09:00:00+01:00"),
        # Booked after the day's sale, yet counted from the start of its day.
        ("A", "receipt", 5, "2024-06-06T16:00:00+01:00"),
    )
    commands = pd.DataFrame(
        [
            command_record("A", "2024-06-01", 10, 0, 10),
            command_record("A", "2024-06-04", 5, 3, 8),
        ]
    )
    return sales, receipts, commands


@pytest.fixture
def loop() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return loop_records()


def test_ledger_follows_the_back_order_convention(loop) -> None:
    ledger = reconstruct(*loop, start=START, end=END)

    assert list(ledger.skus) == ["A", "B"]
    assert ledger.days[0] == np.datetime64("2024-06-01")
    assert ledger.days[-1] == np.datetime64("2024-06-09")
    np.testing.assert_array_equal(
        ledger.on_hand, [[0, 7, 3, 3, -3, 1, -1, -1, -1], [0] * 8 + [-2]]
    )
    np.testing.assert_array_equal(ledger.demand[0], [0, 3, 4, 0, 6, 1, 2, 0, 0])
    np.testing.assert_array_equal(ledger.served[0], [0, 3, 4, 0, 3, 1, 1, 0, 0])
    np.testing.assert_array_equal(ledger.received[0], [0, 10, 0, 0, 0, 5, 0, 0, 0])
    np.testing.assert_array_equal(ledger.orders[0], [1, 0, 0, 1, 0, 0, 0, 0, 0])


def test_timestamps_may_be_aware_timestamps(loop) -> None:
    sales, receipts, commands = loop
    sales = sales.assign(occurred_at=pd.to_datetime(sales["occurred_at"], utc=True))

    text = reconstruct(*loop, start=START, end=END)
    aware = reconstruct(sales, receipts, commands, start=START, end=END)

    np.testing.assert_array_equal(aware.on_hand, text.on_hand)


def test_counts_and_adjustments_move_on_hand() -> None:
    sales = sales_records(
        ("C", 3, "2024-06-03T12:00:00+01:00"),
        ("C", 2, "2024-06-04T12:00:00+01:00"),
        ("C", 1, "2024-06-05T12:00:00+01:00"),
    )
    stock = stock_records(
        ("C", "receipt", 10, "2024-06-03T09:00:00+01:00"),
        ("C", "count", 9, "2024-06-04T07:00:00+01:00"),
        ("C", "count", 5, "2024-06-04T08:00:00+01:00"),
        ("C", "adjustment", -1, "2024-06-05T08:00:00+01:00"),
    )

    ledger = reconstruct(sales, stock, pd.DataFrame(), start=START, end=END)

    np.testing.assert_array_equal(ledger.on_hand[0], [7, 3, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(ledger.received[0], [10, 0, 0, 0, 0, 0, 0])


def test_inputs_are_checked(loop, tmp_path: Path) -> None:
    sales, receipts, commands = loop
    naive = sales.assign(occurred_at="2024-06-03T10:00:00")
    with pytest.raises(DemoReportError, match=r"sales\.occurred_at: must carry"):
        reconstruct(naive, receipts, commands, start=START, end=END)
    with pytest.raises(DemoReportError, match="receipts: must have the columns"):
        reconstruct(
            sales, receipts.drop(columns="kind"), commands, start=START, end=END
        )
    with pytest.raises(DemoReportError, match="end: must not precede start"):
        reconstruct(sales, receipts, commands, start=END, end=START)
    with pytest.raises(DemoReportError, match="timezone"):
        reconstruct(*loop, start=START, end=END, timezone="Mars/Olympus")
