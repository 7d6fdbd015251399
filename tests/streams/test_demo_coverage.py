"""Forecast coverage against the demand a ledger realized."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from streams.demo_coverage import COVERAGE_NAMES, forecast_coverage
from streams.ledger import reconstruct
from tests.streams.test_ledger import sales_records


def forecast_record(sku: str, as_of: dt.date, per_day: list[float], horizon: int = 14):
    levels = [0.5, 0.9, 0.95][: len(per_day)]
    return {
        "sku": sku,
        "as_of": as_of.isoformat(),
        "model_version": "m1",
        "quantile_levels": levels,
        "values": [[rate * h for rate in per_day] for h in range(1, horizon + 1)],
    }


def test_coverage_counts_quantiles_at_or_above_realized() -> None:
    start, end = dt.date(2024, 6, 1), dt.date(2024, 6, 30)
    days = pd.date_range(start, end, tz="Europe/London") + pd.Timedelta(hours=12)
    sales = sales_records(*(("A", 1, t.isoformat()) for t in days))
    ledger = reconstruct(sales, pd.DataFrame(), pd.DataFrame(), start=start, end=end)
    day = dt.timedelta(days=1)
    forecasts = pd.DataFrame(
        [
            forecast_record("A", start - day, [0.5, 0.5, 0.5]),  # replaced below
            forecast_record("A", start - day, [0.5, 1.0, 1.0]),  # 7 <= 7, 14 <= 14
            forecast_record("A", end - 14 * day, [0.5, 0.9, 1.0]),  # 6.3 < 7, 12.6 < 14
            forecast_record(
                "A", end - 13 * day, [0.5, 1.0, 1.0]
            ),  # 14 days pass the end
            forecast_record("A", start - 2 * day, [0.5, 1.0, 1.0]),  # starts before
            forecast_record("A", start + day, [0.5, 1.0]),  # no q0.95
            forecast_record("A", start + 2 * day, [0.5, 1.0, 1.0], horizon=7),
            forecast_record("Z", start + day, [0.0, 0.0, 0.0]),  # no sales: covered
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
