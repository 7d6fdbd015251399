"""Small synthetic demand panels shared by the forecasting tests."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from forecasting.base import DemandPanel

WEEKDAY_FACTOR = np.array([1.2, 1.1, 1.0, 1.0, 1.3, 0.05, 0.4])
"""Relative chance of a sale Monday..Sunday: almost nothing on Saturdays."""


def synthetic_panel(n_skus: int = 36, n_days: int = 112, seed: int = 7) -> DemandPanel:
    """Intermittent, lumpy demand with a weekly pattern, starting on a Monday.

    Row 0 never sells; row 1 sells only in the first half (an obsolete SKU);
    the rest sell with SKU-specific probability and gamma-distributed sizes.
    """
    rng = np.random.default_rng(seed)
    start = dt.date(2011, 1, 3)
    weekday = WEEKDAY_FACTOR[np.arange(n_days) % 7]
    chance = rng.uniform(0.05, 0.7, size=(n_skus, 1)) * weekday[None, :]
    sold = rng.random((n_skus, n_days)) < np.clip(chance, 0.0, 1.0)
    scale = rng.lognormal(1.5, 1.0, size=(n_skus, 1))
    demand = np.where(sold, np.ceil(rng.gamma(0.7, scale, (n_skus, n_days))), 0.0)
    demand[0] = 0.0
    demand[1, n_days // 2 :] = 0.0

    base_price = rng.uniform(0.5, 12.0, size=(n_skus, 1))
    unit_price = np.where(demand > 0, base_price, np.nan)
    skus = np.array([f"SKU{i:03d}" for i in range(n_skus)], dtype=object)
    return DemandPanel(skus, start, demand, unit_price)


def with_new_sku(panel: DemandPanel, sku: str = "NEW") -> DemandPanel:
    """``panel`` plus one SKU that has no sales in its whole history."""
    zeros = np.zeros((1, panel.n_days))
    price = None
    if panel.unit_price is not None:
        price = np.vstack([panel.unit_price, np.full((1, panel.n_days), np.nan)])
    return DemandPanel(
        np.append(panel.skus, np.array([sku], dtype=object)),
        panel.start,
        np.vstack([panel.demand, zeros]),
        price,
    )


@pytest.fixture
def panel() -> DemandPanel:
    return synthetic_panel()


@pytest.fixture
def cold_panel(panel: DemandPanel) -> DemandPanel:
    return with_new_sku(panel)
