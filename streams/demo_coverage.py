"""Forecast coverage: whether a demo's forecasts covered the demand that followed.

A forecast read back from ``forecasts`` is scored against the demand that the
:class:`~streams.ledger.InventoryLedger` realized over the days after its
``as_of``: covered when that demand fell at or below its quantile.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from streams.ledger import (
    InventoryLedger,
    as_days,
    checked_frame,
    day_column,
    realized_demand,
)

COVERAGE_HORIZONS = (7, 14)
COVERAGE_LEVELS = (0.9, 0.95)
COVERAGE_NAMES = tuple(
    f"coverage_cum{h}_q{q}" for h in COVERAGE_HORIZONS for q in COVERAGE_LEVELS
)
"""Share of scored forecasts whose realized demand over the ``h`` days after
``as_of`` fell at or below their ``q`` quantile."""
_FORECAST_COLUMNS = ("sku", "as_of", "quantile_levels", "values")


def checked_forecasts(forecasts: pd.DataFrame) -> pd.DataFrame:
    """``forecasts`` with the columns scoring needs; an empty frame may lack them.

    Raises
    ------
    DemoReportError
        If a column is missing.
    """
    return checked_frame("forecasts", forecasts, _FORECAST_COLUMNS)


def forecast_coverage(
    forecasts: pd.DataFrame, ledger: InventoryLedger, *, start: dt.date, end: dt.date
) -> pd.DataFrame:
    """Whether each forecast's quantiles covered the demand that followed.

    Scored are the forecasts (the last per SKU and ``as_of``) whose
    ``max(COVERAGE_HORIZONS)`` days after ``as_of`` lie in ``start..end``.

    Returns
    -------
    pandas.DataFrame
        One row per scored forecast: ``sku``, ``as_of`` and a column per
        :data:`COVERAGE_NAMES` holding 1.0 (covered), 0.0, or NaN where the
        forecast lacks that horizon or quantile level or ``ledger`` those
        days.
    """
    frame = checked_forecasts(forecasts)
    frame = frame.assign(day=as_days("forecasts", frame["as_of"]))
    frame = frame.drop_duplicates(["sku", "day"], keep="last")
    first = np.datetime64(start, "D") - 1
    last = np.datetime64(end, "D") - max(COVERAGE_HORIZONS)
    frame = frame[(frame["day"] >= first) & (frame["day"] <= last)]

    quantiles = forecast_quantiles(frame, COVERAGE_HORIZONS, COVERAGE_LEVELS)
    realized = realized_demand(ledger, frame, COVERAGE_HORIZONS)
    realized = realized[:, :, None]
    unknown = np.isnan(quantiles) | np.isnan(realized)
    covered = np.where(unknown, np.nan, realized <= quantiles + 1e-9)
    out = pd.DataFrame(
        covered.reshape(len(frame), len(COVERAGE_NAMES)), columns=list(COVERAGE_NAMES)
    )
    out.insert(0, "as_of", day_column(frame))
    out.insert(0, "sku", frame["sku"].astype(str).to_numpy())
    return out


def forecast_quantiles(
    frame: pd.DataFrame, horizons: tuple[int, ...], levels: tuple[float, ...]
) -> np.ndarray:
    """Values at ``horizons`` x ``levels``, shape ``(n, h, q)``; NaN if absent."""
    out = np.full((len(frame), len(horizons), len(levels)), np.nan)
    codes, keys = pd.factorize(frame["quantile_levels"].map(tuple))
    lengths = frame["values"].map(len).to_numpy()
    values = frame["values"].to_numpy()
    for code, key in enumerate(keys):
        have = np.asarray(key, float)
        cols = [np.flatnonzero(np.isclose(have, q)) for q in levels]
        found = [j for j, c in enumerate(cols) if c.size]
        picked = [int(cols[j][0]) for j in found]
        for i, h in enumerate(horizons):
            rows = np.flatnonzero((codes == code) & (lengths >= h))
            if rows.size and found:
                table = np.array([values[r][h - 1] for r in rows], float)
                out[rows[:, None], i, np.array(found)] = table[:, picked]
    return out
