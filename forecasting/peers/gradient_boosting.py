"""A global LightGBM model of cumulative demand, one per quantile level.

The model is direct and cumulative: a row is a (SKU, day ``t``, horizon
``h``) triple whose features read demand before ``t`` and whose target is
the demand summed over ``t .. t + h - 1``. One LightGBM model per quantile
level is trained with the pinball (``quantile``) objective, so each one
estimates a quantile of cumulative demand itself; daily quantiles are never
summed.

- **Features** come from mlforecast: lags of 1..7, 14, 21 and 28 days,
  rolling means over 7, 28 and 91 days and a rolling deviation over 28 and
  the same-weekday mean of the last four weeks, each divided by the SKU's
  scale as of day ``t`` (mean daily demand from its first sale to ``t - 1``);
  the calendar of day ``t`` (weekday, day of month, month), the log of that
  scale, and ``h``. The scale reads only days before ``t``, in training rows
  as at forecast time, where ``t`` is the day after the panel.
- **Targets** are divided by the same scale of day ``t``; forecasts are
  multiplied back by the scale of the day after the panel.
- **Training rows** are the days of the last ``train_days`` days after each
  SKU's first sale (its scale is 0 until then), each with a horizon drawn
  uniformly from ``1..horizon`` (seeded), subsampled to at most ``max_rows``.
- **Monotonicity** is imposed after prediction (LightGBM refuses monotone
  constraints under the quantile objective): the levels are sorted per
  (SKU, horizon) (quantile rearrangement), values are clipped at zero and
  a running maximum along the horizon makes them non-decreasing in ``h``,
  which keeps the level order.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Self

import numpy as np
import pandas as pd

from forecasting.base import (
    DEFAULT_HORIZON,
    DEFAULT_QUANTILE_LEVELS,
    DemandPanel,
    ForecastError,
    QuantileForecast,
    check_quantile_levels,
)
from forecasting.peers.local import require

FEATURE_DAYS = 120
LAGS = (1, 2, 3, 4, 5, 6, 7, 14, 21, 28)
CALENDAR = ("dayofweek", "day", "month")


class LightGBMForecaster:
    """Global gradient-boosted quantiles of cumulative demand.

    Parameters
    ----------
    horizon
        Longest horizon trained, in days.
    quantile_levels
        Levels a model is trained for; ``forecast`` serves any subset.
    train_days
        Days before the panel end whose rows are trained on.
    max_rows
        Most training rows (sampled with ``seed``).
    n_estimators, learning_rate, num_leaves, min_child_samples
        LightGBM settings shared by the level models.
    num_threads
        LightGBM threads.
    seed
        Seed of the row sampling and of LightGBM.
    """

    name = "lightgbm"

    def __init__(
        self,
        *,
        horizon: int = DEFAULT_HORIZON,
        quantile_levels: tuple[float, ...] = DEFAULT_QUANTILE_LEVELS,
        train_days: int = 364,
        max_rows: int = 100_000,
        n_estimators: int = 100,
        learning_rate: float = 0.1,
        num_leaves: int = 31,
        min_child_samples: int = 100,
        num_threads: int = 2,
        seed: int = 0,
    ) -> None:
        self.horizon = horizon
        self.quantile_levels = quantile_levels
        self.train_days = train_days
        self.max_rows = max_rows
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.num_threads = num_threads
        self.seed = seed
        self.boosters_: list[Any] | None = None
        self.levels_: np.ndarray | None = None

    def fit(self, panel: DemandPanel) -> Self:
        """Train one model per level on ``panel``, which it does not mutate."""
        lightgbm = require("lightgbm")
        levels = check_quantile_levels(self.quantile_levels)
        scale = _trailing_scale(panel.demand)
        first_day = max(panel.n_days - self.train_days - FEATURE_DAYS, 0)
        features = _features(panel, scale, first_day, future=False)
        x, y = self._training_rows(panel, scale, features)

        dataset = lightgbm.Dataset(x, y, free_raw_data=False)
        self.boosters_ = [
            lightgbm.train(
                self._params(level), dataset, num_boost_round=self.n_estimators
            )
            for level in levels
        ]
        self.levels_ = levels
        return self

    def forecast(
        self,
        panel: DemandPanel,
        horizon: int = DEFAULT_HORIZON,
        quantile_levels: tuple[float, ...] = DEFAULT_QUANTILE_LEVELS,
    ) -> QuantileForecast:
        """Cumulative quantiles for ``1..horizon`` days after ``panel.end``."""
        if self.boosters_ is None or self.levels_ is None:
            raise ForecastError("lightgbm: fit must be called before forecast")
        levels = check_quantile_levels(quantile_levels)
        if not 1 <= horizon <= self.horizon:
            raise ForecastError(
                f"horizon: must lie in 1..{self.horizon} (trained), got {horizon}"
            )
        picked = [np.flatnonzero(np.isclose(self.levels_, lv)) for lv in levels]
        missing = [lv for lv, hit in zip(levels, picked, strict=True) if not hit.size]
        if missing:
            raise ForecastError(
                f"quantile_levels: {missing[0]} was not trained; trained levels are"
                f" {self.levels_.tolist()}"
            )

        scale = _trailing_scale(panel.demand)
        first_day = max(panel.n_days - FEATURE_DAYS, 0)
        last = _features(panel, scale, first_day, future=True)
        n = len(panel.skus)
        steps = np.arange(1, horizon + 1, dtype=float)
        x = np.column_stack([np.repeat(last, horizon, axis=0), np.tile(steps, n)])
        values = np.stack(
            [self.boosters_[hit[0]].predict(x).reshape(n, horizon) for hit in picked],
            axis=2,
        )
        values = np.sort(values, axis=2) * scale[:, -1, None, None]
        values = np.maximum.accumulate(np.maximum(values, 0.0), axis=1)
        return QuantileForecast(panel.skus, panel.end, levels, values, self.name)

    def _training_rows(
        self, panel: DemandPanel, scale: np.ndarray, features: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sampled feature rows with their horizon, and scaled cumulative targets.

        ``scale`` is :func:`_trailing_scale` of the panel; a row of day ``t``
        is kept only if that scale is positive: the SKU sold before ``t``.
        """
        n_skus, n_days = panel.demand.shape
        first_day = n_days - features.shape[0] // n_skus
        day = np.tile(np.arange(first_day, n_days), n_skus)
        sku = np.repeat(np.arange(n_skus), n_days - first_day)

        rng = np.random.default_rng(self.seed)
        step = rng.integers(1, self.horizon + 1, size=day.size)
        keep = (
            (day >= n_days - self.train_days)
            & (day + step <= n_days)
            & (scale[sku, day] > 0)
        )
        rows = np.flatnonzero(keep)
        if rows.size == 0:
            raise ForecastError(
                f"panel: no training row; needs sales and more than {self.horizon}"
                f" days, got {n_days} days"
            )
        if rows.size > self.max_rows:
            rows = np.sort(rng.choice(rows, size=self.max_rows, replace=False))

        total = np.concatenate(
            [np.zeros((n_skus, 1)), np.cumsum(panel.demand, axis=1)], axis=1
        )
        i, t, h = sku[rows], day[rows], step[rows]
        target = (total[i, t + h] - total[i, t]) / scale[i, t]
        return np.column_stack([features[rows], h.astype(float)]), target

    def _params(self, level: float) -> dict[str, Any]:
        return {
            "objective": "quantile",
            "alpha": float(level),
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }


def _trailing_scale(demand: np.ndarray) -> np.ndarray:
    """Each SKU's mean daily demand from its first sale up to each day.

    Parameters
    ----------
    demand
        Daily demand, shape ``(n_skus, n_days)``.

    Returns
    -------
    np.ndarray
        Shape ``(n_skus, n_days + 1)``: column ``t`` is the mean over days
        ``first_sale .. t - 1`` and reads nothing from day ``t`` on; column
        ``n_days`` is the scale of a forecast after the panel. 0 up to and
        including the first sale.
    """
    n_skus, n_days = demand.shape
    total = np.zeros((n_skus, n_days + 1))
    np.cumsum(demand, axis=1, out=total[:, 1:])
    sold = demand > 0
    first_sale = np.where(sold.any(axis=1), sold.argmax(axis=1), n_days)
    selling = np.arange(n_days + 1)[None, :] - first_sale[:, None]
    return total / np.maximum(selling, 1)


def _features(
    panel: DemandPanel, scale: np.ndarray, first_day: int, future: bool
) -> np.ndarray:
    """mlforecast features of demand from ``first_day`` on, scaled as of each day.

    ``scale`` is :func:`_trailing_scale` of ``panel``. Lags and rolling
    statistics are computed on demand in units, then divided by the scale of
    their row's day: they are linear in demand (the deviation positively
    homogeneous), so this is the history a row reads divided by that row's
    scale, one division for the whole table.

    Returns
    -------
    np.ndarray
        Without ``future``: one row per (SKU, day) for days ``first_day ..
        n_days - 1``, SKU-major, shape ``(n_skus * days, n_features)``.
        With ``future``: one row per SKU for the day after ``panel.end``,
        shape ``(n_skus, n_features)``. Columns: the log scale, the scaled
        lags and rolling statistics, the calendar.
    """
    mlforecast = require("mlforecast")
    transforms = require("mlforecast.lag_transforms")
    n_skus = len(panel.skus)
    y = panel.demand[:, first_day:]
    if future:
        y = np.concatenate([y, np.zeros((n_skus, 1))], axis=1)
    days = y.shape[1]
    start = np.datetime64(panel.start + dt.timedelta(days=first_day), "D")
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(n_skus), days),
            "ds": np.tile(start + np.arange(days).astype("timedelta64[D]"), n_skus),
            "y": y.ravel(),
        }
    )
    engine = mlforecast.MLForecast(
        models=[],
        freq="D",
        lags=list(LAGS),
        lag_transforms={
            1: [
                transforms.RollingMean(7),
                transforms.RollingMean(28),
                transforms.RollingStd(28),
                transforms.RollingMean(91),
            ],
            7: [transforms.SeasonalRollingMean(season_length=7, window_size=4)],
        },
        date_features=list(CALENDAR),
    )
    table = engine.preprocess(frame, dropna=False)

    own = scale[:, first_day : first_day + days].ravel()
    lagged = [c for c in table.columns if c not in ("unique_id", "ds", "y", *CALENDAR)]
    x = np.column_stack(
        [
            np.log1p(own),
            table[lagged].to_numpy(float) / np.where(own > 0, own, 1.0)[:, None],
            table[list(CALENDAR)].to_numpy(float),
        ]
    )
    if future:
        return x.reshape(n_skus, days, -1)[:, -1]
    return x
