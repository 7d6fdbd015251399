"""The end-of-demo report on small hand-computed cases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streams.demo_coverage import COVERAGE_NAMES
from streams.demo_report import KPI_NAMES, build_report
from tests.streams.test_demo_coverage import forecast_record
from tests.streams.test_ledger import END, START, loop_records, sales_records


@pytest.fixture
def loop() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return loop_records()


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


def test_empty_receipts_and_forecasts(tmp_path: Path) -> None:
    sales = sales_records(
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
    forecasts = pd.DataFrame([forecast_record("A", START, [1.0, 2.0, 3.0])])

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
