"""Quantiles of cumulative demand for forecasters that only give a point.

A point forecaster says how much a SKU will sell each day, not how uncertain
that is. :class:`CumulativeResiduals` supplies the uncertainty from the
forecaster's own past errors, split-conformal style:

1. Calibrate on history only. For ``k = 0 .. windows - 1`` the calibration
   origin is ``c_k = end - horizon - k * step_days``: the model is run on the
   history up to ``c_k`` and its cumulative point forecast for ``1..horizon``
   days is compared with the cumulative demand that followed, which lies on
   or before ``end``. No day after ``end`` is ever read.
2. Errors are divided by each SKU's demand scale at ``c_k`` (see
   :func:`demand_scale`) and pooled over SKUs and windows, one sample per
   (SKU, window) and horizon. SKUs with a zero scale are left out.
3. A forecast is the cumulative point forecast plus the SKU's current scale
   times the pooled error quantile at that horizon and level, clipped at
   zero. Quantiles of the pooled errors are non-decreasing in the level, so
   the forecast is too; it is made non-decreasing in the horizon by a
   running maximum along the horizon, which keeps the level order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from forecasting.base import DemandPanel, ForecastError

SCALE_DAYS = 56
MIN_HISTORY_DAYS = 28

PointFunction = Callable[[DemandPanel, int], np.ndarray]


def demand_scale(demand: np.ndarray, days: int = SCALE_DAYS) -> np.ndarray:
    """Typical daily demand of each SKU, the unit its errors are measured in.

    Parameters
    ----------
    demand
        Daily demand, shape ``(n_skus, n_days)``.
    days
        Recent days to average.

    Returns
    -------
    np.ndarray
        Shape ``(n_skus,)``: the mean demand over the last ``days`` days;
        where that is zero, the mean since the first sale; zero for a SKU
        that never sold.
    """
    recent = demand[:, -days:].mean(axis=1)
    selling = (np.cumsum(demand > 0, axis=1) > 0).sum(axis=1)
    since_first = demand.sum(axis=1) / np.maximum(selling, 1)
    return np.where(recent > 0, recent, since_first)


@dataclass(frozen=True)
class CumulativeResiduals:
    """Scaled errors of cumulative point forecasts, pooled over SKUs.

    Attributes
    ----------
    scaled
        Actual minus forecast cumulative demand divided by the SKU's scale,
        shape ``(n_samples, horizon)``.
    origins
        The calibration origins the samples come from, newest first.
    """

    scaled: np.ndarray
    origins: tuple[dt.date, ...]

    @property
    def horizon(self) -> int:
        return int(self.scaled.shape[1])

    @classmethod
    def calibrate(
        cls,
        point: PointFunction,
        panel: DemandPanel,
        horizon: int,
        windows: int,
        step_days: int,
    ) -> CumulativeResiduals:
        """Run ``point`` at calibration origins inside ``panel`` and pool errors.

        Parameters
        ----------
        point
            ``point(history, horizon)`` returns daily point forecasts, shape
            ``(n_skus, horizon)``.
        panel
            History up to the forecast origin; only its days are read.
        horizon
            Longest horizon to calibrate.
        windows, step_days
            Number of calibration origins and the days between them.
        """
        if windows < 1:
            raise ForecastError(f"calibration_windows: must be >= 1, got {windows}")
        samples, origins = [], []
        for k in range(windows):
            last = panel.n_days - horizon - k * step_days
            if last < MIN_HISTORY_DAYS:
                break
            origin = panel.start + dt.timedelta(days=last - 1)
            history = panel.until(origin)
            actual = np.cumsum(panel.demand[:, last : last + horizon], axis=1)
            forecast = np.cumsum(_non_negative(point(history, horizon)), axis=1)
            scale = demand_scale(history.demand)
            keep = scale > 0
            samples.append((actual - forecast)[keep] / scale[keep, None])
            origins.append(origin)
        if not samples:
            raise ForecastError(
                f"panel: needs at least {MIN_HISTORY_DAYS + horizon} days to"
                f" calibrate {horizon}-day errors, got {panel.n_days}"
            )
        scaled = np.concatenate(samples)
        if scaled.shape[0] == 0:
            raise ForecastError("panel: no SKU sold anything before calibration")
        return cls(scaled, tuple(origins))

    def apply(
        self, point: np.ndarray, scale: np.ndarray, levels: np.ndarray
    ) -> np.ndarray:
        """Cumulative quantiles around daily point forecasts.

        Parameters
        ----------
        point
            Daily point forecasts, shape ``(n_skus, horizon)``.
        scale
            Each SKU's :func:`demand_scale`, shape ``(n_skus,)``.
        levels
            Quantile levels, shape ``(n_levels,)``.

        Returns
        -------
        np.ndarray
            Shape ``(n_skus, horizon, n_levels)``, non-negative and
            non-decreasing along the horizon and level axes.
        """
        horizon = point.shape[1]
        if horizon > self.horizon:
            raise ForecastError(
                f"horizon: must be at most the calibrated {self.horizon}, got {horizon}"
            )
        error = np.quantile(self.scaled[:, :horizon], levels, axis=0).T
        cumulative = np.cumsum(_non_negative(point), axis=1)
        values = cumulative[:, :, None] + scale[:, None, None] * error[None]
        return np.maximum.accumulate(np.maximum(values, 0.0), axis=1)


def _non_negative(point: np.ndarray) -> np.ndarray:
    return np.clip(np.nan_to_num(point, nan=0.0), 0.0, None)
