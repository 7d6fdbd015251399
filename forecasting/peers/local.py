"""Per-SKU statistical peers: seasonal naive, exponential smoothing, Croston.

Each peer fits its model to every SKU separately from the history passed to
:meth:`~PointPeer.forecast`, as statsforecast does; :meth:`~PointPeer.fit`
learns the one thing shared by all SKUs, the distribution of cumulative
errors (:class:`~forecasting.peers.conformal.CumulativeResiduals`), which
turns the point forecasts into cumulative quantiles.

Each SKU's history starts at its first sale (at least the last
``MIN_SERIES_DAYS`` days are kept); a SKU that never sold gets a zero point
forecast without a model being fitted.
"""

from __future__ import annotations

import importlib
import warnings
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
from forecasting.peers.conformal import CumulativeResiduals, demand_scale

MIN_SERIES_DAYS = 28
SEASON_DAYS = 7
PEERS_EXTRA = "replenish[peers]"


def require(module: str) -> Any:
    """Import an optional dependency of the peers, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{module} is needed by the peer forecasters; install {PEERS_EXTRA}"
        ) from exc


class PointPeer:
    """A point forecaster whose cumulative quantiles come from its past errors.

    Parameters
    ----------
    horizon
        Longest horizon the errors are calibrated for, in days.
    calibration_windows
        Calibration origins before the forecast origin, ``step_days`` apart.
    step_days
        Days between calibration origins.
    """

    name = "point"

    def __init__(
        self,
        *,
        horizon: int = DEFAULT_HORIZON,
        calibration_windows: int = 2,
        step_days: int = 7,
    ) -> None:
        self.horizon = horizon
        self.calibration_windows = calibration_windows
        self.step_days = step_days
        self.residuals_: CumulativeResiduals | None = None

    def fit(self, panel: DemandPanel) -> Self:
        """Calibrate cumulative errors on ``panel``, which it does not mutate."""
        self.residuals_ = CumulativeResiduals.calibrate(
            self.point, panel, self.horizon, self.calibration_windows, self.step_days
        )
        return self

    def forecast(
        self,
        panel: DemandPanel,
        horizon: int = DEFAULT_HORIZON,
        quantile_levels: tuple[float, ...] = DEFAULT_QUANTILE_LEVELS,
    ) -> QuantileForecast:
        """Cumulative quantiles for ``1..horizon`` days after ``panel.end``."""
        if self.residuals_ is None:
            raise ForecastError(f"{self.name}: fit must be called before forecast")
        levels = check_quantile_levels(quantile_levels)
        if horizon < 1:
            raise ForecastError(f"horizon: must be >= 1 day, got {horizon}")
        values = self.residuals_.apply(
            self.point(panel, horizon), demand_scale(panel.demand), levels
        )
        return QuantileForecast(panel.skus, panel.end, levels, values, self.name)

    def point(self, panel: DemandPanel, horizon: int) -> np.ndarray:
        """Daily point forecasts, shape ``(n_skus, horizon)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement point")


class SeasonalNaiveForecaster(PointPeer):
    """Each weekday sells what it sold the same weekday last week."""

    name = "seasonal_naive"

    def point(self, panel: DemandPanel, horizon: int) -> np.ndarray:
        if panel.n_days < SEASON_DAYS:
            raise ForecastError(
                f"panel: needs at least {SEASON_DAYS} days, got {panel.n_days}"
            )
        weeks = -(-horizon // SEASON_DAYS)
        return np.tile(panel.demand[:, -SEASON_DAYS:], weeks)[:, :horizon]


class StatsForecastPeer(PointPeer):
    """A statsforecast model fitted to every SKU that has sold.

    Parameters
    ----------
    n_jobs
        Processes statsforecast may use.
    """

    def __init__(
        self,
        *,
        horizon: int = DEFAULT_HORIZON,
        calibration_windows: int = 2,
        step_days: int = 7,
        n_jobs: int = 1,
    ) -> None:
        super().__init__(
            horizon=horizon,
            calibration_windows=calibration_windows,
            step_days=step_days,
        )
        self.n_jobs = n_jobs

    def model(self) -> Any:
        """A fresh statsforecast model with alias ``point``."""
        raise NotImplementedError(f"{type(self).__name__} must implement model")

    def point(self, panel: DemandPanel, horizon: int) -> np.ndarray:
        statsforecast = require("statsforecast")
        frame, fitted = _long_frame(panel)
        result = np.zeros((len(panel.skus), horizon))
        if not fitted.any():
            return result
        engine = statsforecast.StatsForecast(
            models=[self.model()], freq="D", n_jobs=self.n_jobs
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = engine.forecast(df=pd.DataFrame(frame), h=horizon)
        out = out.sort_values(["unique_id", "ds"])
        result[fitted] = out["point"].to_numpy(float).reshape(-1, horizon)
        return result


class ETSForecaster(StatsForecastPeer):
    """Exponential smoothing with weekly seasonality, chosen by AICc (AutoETS)."""

    name = "ets"

    def model(self) -> Any:
        models = require("statsforecast.models")
        return models.AutoETS(season_length=SEASON_DAYS, model="ZNZ", alias="point")


class CrostonSBAForecaster(StatsForecastPeer):
    """Croston's method with the Syntetos-Boylan bias correction."""

    name = "croston_sba"

    def model(self) -> Any:
        return require("statsforecast.models").CrostonSBA(alias="point")


class CrostonTSBForecaster(StatsForecastPeer):
    """Teunter-Syntetos-Babai: smoothed demand size and demand probability.

    Parameters
    ----------
    alpha_d, alpha_p
        Smoothing of the demand size and of the demand probability.
    """

    name = "croston_tsb"

    def __init__(
        self,
        *,
        horizon: int = DEFAULT_HORIZON,
        calibration_windows: int = 2,
        step_days: int = 7,
        n_jobs: int = 1,
        alpha_d: float = 0.1,
        alpha_p: float = 0.1,
    ) -> None:
        super().__init__(
            horizon=horizon,
            calibration_windows=calibration_windows,
            step_days=step_days,
            n_jobs=n_jobs,
        )
        self.alpha_d = alpha_d
        self.alpha_p = alpha_p

    def model(self) -> Any:
        models = require("statsforecast.models")
        return models.TSB(alpha_d=self.alpha_d, alpha_p=self.alpha_p, alias="point")


class ADIDAForecaster(StatsForecastPeer):
    """Aggregate-disaggregate intermittent demand approach."""

    name = "adida"

    def model(self) -> Any:
        return require("statsforecast.models").ADIDA(alias="point")


class IMAPAForecaster(StatsForecastPeer):
    """Intermittent multiple aggregation prediction algorithm."""

    name = "imapa"

    def model(self) -> Any:
        return require("statsforecast.models").IMAPA(alias="point")


def _long_frame(panel: DemandPanel) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each selling SKU's history from its first sale, in statsforecast's layout.

    Returns
    -------
    tuple
        Columns ``unique_id`` (the panel row), ``ds`` and ``y``, and the mask
        of panel rows that appear, shape ``(n_skus,)``.
    """
    demand = panel.demand
    sold = demand > 0
    fitted: np.ndarray = np.asarray(sold.any(axis=1))
    first = np.where(fitted, sold.argmax(axis=1), panel.n_days)
    first = np.minimum(first, max(panel.n_days - MIN_SERIES_DAYS, 0))
    keep = (np.arange(panel.n_days)[None, :] >= first[:, None]) & fitted[:, None]
    rows, cols = np.nonzero(keep)
    start = np.datetime64(panel.start, "D")
    frame = {
        "unique_id": rows,
        "ds": start + cols.astype("timedelta64[D]"),
        "y": demand[rows, cols].astype(float),
    }
    return frame, fitted


__all__ = [
    "ADIDAForecaster",
    "CrostonSBAForecaster",
    "CrostonTSBForecaster",
    "ETSForecaster",
    "IMAPAForecaster",
    "PointPeer",
    "SeasonalNaiveForecaster",
    "StatsForecastPeer",
]
