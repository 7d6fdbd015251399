"""Peer forecasters the LSTM is measured against, behind the same interface.

They need the optional ``peers`` extra (statsforecast, mlforecast, lightgbm),
imported only when a peer fits or forecasts.
"""

from forecasting.peers.conformal import CumulativeResiduals, demand_scale
from forecasting.peers.gradient_boosting import LightGBMForecaster
from forecasting.peers.local import (
    ADIDAForecaster,
    CrostonSBAForecaster,
    CrostonTSBForecaster,
    ETSForecaster,
    IMAPAForecaster,
    PointPeer,
    SeasonalNaiveForecaster,
    StatsForecastPeer,
)

__all__ = [
    "ADIDAForecaster",
    "CrostonSBAForecaster",
    "CrostonTSBForecaster",
    "CumulativeResiduals",
    "ETSForecaster",
    "IMAPAForecaster",
    "LightGBMForecaster",
    "PointPeer",
    "SeasonalNaiveForecaster",
    "StatsForecastPeer",
    "demand_scale",
]
