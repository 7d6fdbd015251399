"""Rolling accuracy of the forecasts a worker publishes, for its metrics.

At each close of day ``D`` the one-day-ahead quantiles made at ``D - 1`` are
scored against the demand of ``D``: per level, the share of SKUs whose demand
fell at or below its quantile (coverage), and the mean absolute error of the
median scaled by the SKUs' mean daily demand. Both are smoothed
exponentially over closes, so a drifting model shows as a trend.
"""

from __future__ import annotations

import numpy as np

from forecasting.base import QuantileForecast


class RollingAccuracy:
    """Exponentially smoothed coverage per level and scaled median error.

    Parameters
    ----------
    quantile_levels
        Levels of the forecasts scored, shape ``(q,)``.
    smoothing
        Weight of the newest close, in (0, 1].
    """

    def __init__(self, quantile_levels: np.ndarray, smoothing: float = 0.1) -> None:
        self.quantile_levels = np.asarray(quantile_levels, dtype=float)
        self.smoothing = smoothing
        self.coverage: np.ndarray | None = None
        self.scaled_error: float | None = None

    def update(
        self,
        previous: QuantileForecast,
        skus: np.ndarray,
        actual: np.ndarray,
        scale: np.ndarray,
    ) -> bool:
        """Score ``previous`` (made the day before) against ``actual`` demand.

        ``skus``, ``actual`` and ``scale`` (mean daily demand) share one
        order, shape ``(n,)``; SKUs absent from ``previous`` are skipped.
        Returns whether anything was scored.
        """
        order = np.argsort(previous.skus)
        sorted_skus = previous.skus[order]
        at = np.searchsorted(sorted_skus, skus)
        at = np.minimum(at, len(sorted_skus) - 1)
        found = sorted_skus[at] == skus if len(sorted_skus) else np.zeros(0, bool)
        if not found.any():
            return False
        rows = order[at[found]]
        one_day = previous.values[rows, 0, :]
        demand = actual[found]

        covered = (demand[:, None] <= one_day).mean(axis=0)
        median = one_day[:, int(np.argmin(np.abs(previous.quantile_levels - 0.5)))]
        denominator = max(float(scale[found].mean()), 1e-9)
        error = float(np.abs(demand - median).mean()) / denominator

        w = self.smoothing
        if self.coverage is None or self.scaled_error is None:
            self.coverage, self.scaled_error = covered, error
        else:
            self.coverage = (1 - w) * self.coverage + w * covered
            self.scaled_error = (1 - w) * self.scaled_error + w * error
        return True
