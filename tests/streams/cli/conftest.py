"""Small sales files for the command-line tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd


def tidy_sales(path: Path, n_skus: int = 4, n_days: int = 210) -> Path:
    """A tidy CSV of daily sales, long enough for the default training windows."""
    rng = np.random.default_rng(0)
    start = dt.datetime(2011, 1, 3, 10, tzinfo=dt.UTC)
    rows = [
        {
            "sku": f"S{sku}",
            "timestamp": (start + dt.timedelta(days=day)).isoformat(),
            "quantity": int(rng.integers(1, 6)),
            "unit_price": 2.5,
        }
        for sku in range(n_skus)
        for day in range(n_days)
        if rng.random() < 0.6
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path
