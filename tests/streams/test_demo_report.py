"""The end-of-demo report on small hand-computed cases."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streams.demo_report import (
    COVERAGE_NAMES,
    KPI_NAMES,
    DemoReportError,
    build_report,
    forecast_coverage,
    reconstruct,
)

START, END = dt.date(2024, 6, 3), dt.date(2024, 6, 9)


def _sales(*rows: tuple[str, int, str]) -> pd.DataFrame:
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


def _stock(*rows: tuple[str, str, int, str]) -> pd.DataFrame:
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


def _command(sku: str, as_of: str, quantity: int, position: float, level: float):
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


def _forecast(sku: str, as_of: dt.date, per_day: list[float], horizon: int = 14):
    levels = [0.5, 0.9, 0.95][: len(per_day)]
    return {
        "sku": sku,
        "as_of": as_of.isoformat(),
        "model_version": "m1",
        "quantile_levels": levels,
        "values": [[rate * h for rate in per_day] for h in range(1, horizon + 1)],
    }


@pytest.fixture
def loop() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """SKU A with a warm-up day, a back-order, a receipt and a return; SKU B short.

    Closes of A from Jun 2: 7, 3, 3, -3, 1, -1, -1, -1.
    """
    sales = _sales(
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
    receipts = _stock(
        ("A", "receipt", 10, "2024-06-02T09:00:00+01:00"),
        # Booked after the day's sale, yet counted from the start of its day.
        ("A", "receipt", 5, "2024-06-06T16:00:00+01:00"),
    )
    commands = pd.DataFrame(
        [_command("A", "2024-06-01", 10, 0, 10), _command("A", "2024-06-04", 5, 3, 8)]
    )
    return sales, receipts, commands


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
    sales = _sales(
        ("C", 3, "2024-06-03T12:00:00+01:00"),
        ("C", 2, "2024-06-04T12:00:00+01:00"),
        ("C", 1, "2024-06-05T12:00:00+01:00"),
    )
    stock = _stock(
        ("C", "receipt", 10, "2024-06-03T09:00:00+01:00"),
        ("C", "count", 9, "2024-06-04T07:00:00+01:00"),
        ("C", "count", 5, "2024-06-04T08:00:00+01:00"),
        ("C", "adjustment", -1, "2024-06-05T08:00:00+01:00"),
    )

    ledger = reconstruct(sales, stock, pd.DataFrame(), start=START, end=END)

    np.testing.assert_array_equal(ledger.on_hand[0], [7, 3, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(ledger.received[0], [10, 0, 0, 0, 0, 0, 0])


def test_kpis_by_hand(loop, tmp_path: Path) -> None:
    report = build_report(
        *loop, pd.DataFrame(), start=START, end=END, out_dir=tmp_path, n_skus=0
    )

    a = report.per_sku.loc["A"]
    assert a["demand_units"] == 13
    assert a["served_units"] == 9
    assert a["fill_rate"] == pytest.approx(9 / 13)
    assert a["stockout_days"] == 2
    assert a["average_on_hand"] == pytest.approx(1.0)
    assert a["backordered_units"] == 1
    assert a["inventory_turns"] == pytest.approx(9 * 365 / 7)
    assert (a["orders_placed"], a["ordered_units"], a["received_units"]) == (1, 5, 5)
    b = report.per_sku.loc["B"]
    assert (b["fill_rate"], b["stockout_days"], b["backordered_units"]) == (0, 1, 2)
    assert math.isnan(b["inventory_turns"])
    overall = report.overall
    assert overall["fill_rate"] == pytest.approx(9 / 15)
    assert overall["stockout_days"] == 3
    assert overall["backordered_units"] == 3
    assert overall["forecasts_scored"] == 0
    assert math.isnan(overall["coverage_cum7_q0.9"])


def test_coverage_counts_quantiles_at_or_above_realized() -> None:
    start, end = dt.date(2024, 6, 1), dt.date(2024, 6, 30)
    days = pd.date_range(start, end, tz="Europe/London") + pd.Timedelta(hours=12)
    sales = _sales(*(("A", 1, t.isoformat()) for t in days))
    ledger = reconstruct(sales, pd.DataFrame(), pd.DataFrame(), start=start, end=end)
    day = dt.timedelta(days=1)
    forecasts = pd.DataFrame(
        [
            _forecast("A", start - day, [0.5, 0.5, 0.5]),  # replaced below
            _forecast("A", start - day, [0.5, 1.0, 1.0]),  # 7 <= 7, 14 <= 14
            _forecast("A", end - 14 * day, [0.5, 0.9, 1.0]),  # 6.3 < 7, 12.6 < 14
            _forecast("A", end - 13 * day, [0.5, 1.0, 1.0]),  # 14 days pass the end
            _forecast("A", start - 2 * day, [0.5, 1.0, 1.0]),  # starts before
            _forecast("A", start + day, [0.5, 1.0]),  # no q0.95
            _forecast("A", start + 2 * day, [0.5, 1.0, 1.0], horizon=7),
            _forecast("Z", start + day, [0.0, 0.0, 0.0]),  # no sales: covered
        ]
    )

    scored = forecast_coverage(forecasts, ledger, start=start, end=end)

    assert list(scored.columns) == ["sku", "as_of", *COVERAGE_NAMES]
    expected = [
        [1, 1, 1, 1],
        [0, 1, 0, 1],
        [1, np.nan, 1, np.nan],
        [1, 1, np.nan, np.nan],
        [1, 1, 1, 1],
    ]
    np.testing.assert_array_equal(scored[list(COVERAGE_NAMES)].to_numpy(), expected)
    assert list(scored["sku"]) == ["A", "A", "A", "A", "Z"]


def test_empty_receipts_and_forecasts(tmp_path: Path) -> None:
    sales = _sales(
        ("A", 2, "2024-06-03T10:00:00+01:00"), ("A", 1, "2024-06-05T10:00:00+01:00")
    )

    report = build_report(
        sales,
        pd.DataFrame(),
        pd.DataFrame(),
        pd.DataFrame(),
        start=START,
        end=END,
        out_dir=tmp_path,
    )

    np.testing.assert_array_equal(
        report.ledger.on_hand[0], [-2, -2, -3, -3, -3, -3, -3]
    )
    assert report.overall["fill_rate"] == 0
    assert report.overall["received_units"] == 0
    assert list(report.chart_paths) == ["A"]
    payload = json.loads(report.kpis_path.read_text())
    assert payload["overall"]["coverage_cum14_q0.95"] is None


def test_nothing_replayed_writes_a_report_without_charts(tmp_path: Path) -> None:
    empty = pd.DataFrame()

    report = build_report(
        empty, empty, empty, empty, start=START, end=END, out_dir=tmp_path
    )

    assert report.per_sku.empty
    assert report.overall["demand_units"] == 0
    assert math.isnan(report.overall["fill_rate"])
    assert report.chart_paths == {}
    assert "fill_rate" in report.report_path.read_text()


def test_files_and_table(loop, tmp_path: Path) -> None:
    forecasts = pd.DataFrame([_forecast("A", START, [1.0, 2.0, 3.0])])

    report = build_report(
        *loop, forecasts, start=START, end=END, out_dir=tmp_path / "out", n_skus=1
    )

    assert report.top_skus == ("A",)
    for path in report.chart_paths.values():
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG")
        assert 5_000 < len(data) < 200_000
    text = report.report_path.read_text()
    assert "2024-06-03 to 2024-06-09" in text
    assert all(f"]({p.name})" in text for p in report.chart_paths.values())
    payload = json.loads(report.kpis_path.read_text())
    assert payload["per_sku"]["A"]["stockout_days"] == 2
    table = report.table()
    for name in (*KPI_NAMES, *COVERAGE_NAMES):
        assert name in table
    assert len({len(line) for line in table.splitlines()}) == 1


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
