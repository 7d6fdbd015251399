"""The contract every forecaster honours, run against each one.

To put a forecaster under the contract, add one line to ``FORECASTERS``: its
name and a zero-argument factory that builds it small, fast and seeded.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable

import numpy as np
import pytest

from forecasting.base import (
    DEFAULT_HORIZON,
    DEFAULT_QUANTILE_LEVELS,
    DemandPanel,
    Forecaster,
    ForecastError,
    QuantileForecast,
)
from forecasting.lstm import LSTMForecaster
from forecasting.peers import (
    ADIDAForecaster,
    CrostonSBAForecaster,
    CrostonTSBForecaster,
    ETSForecaster,
    IMAPAForecaster,
    LightGBMForecaster,
    SeasonalNaiveForecaster,
)
from forecasting.training import TrainingConfig
from forecasting.tsb import TSBForecaster

FORECASTERS: dict[str, Callable[[], Forecaster]] = {
    "tsb": TSBForecaster,
    "lstm": lambda: LSTMForecaster(
        TrainingConfig(
            epochs=2,
            windows_per_epoch=128,
            hidden_size=8,
            context_days=28,
            min_context_days=14,
            validation_days=28,
            progress=False,
        )
    ),
    "seasonal_naive": SeasonalNaiveForecaster,
    "ets": ETSForecaster,
    "croston_sba": CrostonSBAForecaster,
    "croston_tsb": CrostonTSBForecaster,
    "adida": ADIDAForecaster,
    "imapa": IMAPAForecaster,
    "lightgbm": lambda: LightGBMForecaster(
        quantile_levels=tuple(sorted({*DEFAULT_QUANTILE_LEVELS, 0.05, 0.1})),
        n_estimators=20,
        num_threads=1,
    ),
}

LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)

pytestmark = pytest.mark.parametrize(
    "make", list(FORECASTERS.values()), ids=list(FORECASTERS)
)


def fit_forecast(
    make: Callable[[], Forecaster],
    panel: DemandPanel,
    horizon: int = 14,
    quantile_levels: tuple[float, ...] = LEVELS,
) -> QuantileForecast:
    return make().fit(panel).forecast(panel, horizon, quantile_levels)


def test_satisfies_the_protocol(make: Callable[[], Forecaster]) -> None:
    forecaster = make()

    assert isinstance(forecaster, Forecaster)
    assert isinstance(forecaster.name, str) and forecaster.name


def test_fit_returns_the_forecaster(
    make: Callable[[], Forecaster], panel: DemandPanel
) -> None:
    forecaster = make()

    assert forecaster.fit(panel) is forecaster


@pytest.mark.parametrize(
    ("horizon", "levels"), [(1, (0.5,)), (9, (0.1, 0.5, 0.9)), (14, LEVELS)]
)
def test_shape_horizon_and_levels_are_honoured(
    make: Callable[[], Forecaster],
    panel: DemandPanel,
    horizon: int,
    levels: tuple[float, ...],
) -> None:
    forecast = fit_forecast(make, panel, horizon, levels)

    assert forecast.values.shape == (len(panel.skus), horizon, len(levels))
    assert forecast.horizon == horizon
    np.testing.assert_array_equal(forecast.quantile_levels, levels)
    np.testing.assert_array_equal(forecast.skus, panel.skus)
    assert forecast.as_of == panel.end


def test_defaults_are_the_shared_horizon_and_levels(
    make: Callable[[], Forecaster], panel: DemandPanel
) -> None:
    forecast = make().fit(panel).forecast(panel)

    n_levels = len(DEFAULT_QUANTILE_LEVELS)
    assert forecast.values.shape == (len(panel.skus), DEFAULT_HORIZON, n_levels)


def test_quantiles_are_finite_non_negative_and_monotone(
    make: Callable[[], Forecaster], panel: DemandPanel
) -> None:
    values = fit_forecast(make, panel).values

    assert np.isfinite(values).all()
    assert (values >= 0).all()
    assert (np.diff(values, axis=2) >= 0).all(), "must not decrease along levels"
    assert (np.diff(values, axis=1) >= 0).all(), "must not decrease along horizon"


def test_forecast_is_not_constant(
    make: Callable[[], Forecaster], panel: DemandPanel
) -> None:
    values = fit_forecast(make, panel).values

    assert values[2:, -1, -1].max() > 0
    assert np.ptp(values[2:, -1, LEVELS.index(0.5)]) > 0


def test_inputs_are_not_mutated(
    make: Callable[[], Forecaster], panel: DemandPanel
) -> None:
    assert panel.unit_price is not None
    before = (panel.skus.copy(), panel.demand.copy(), panel.unit_price.copy())

    fit_forecast(make, panel)

    np.testing.assert_array_equal(panel.skus, before[0])
    np.testing.assert_array_equal(panel.demand, before[1])
    np.testing.assert_array_equal(panel.unit_price, before[2])


def test_two_seeded_runs_are_identical(
    make: Callable[[], Forecaster], panel: DemandPanel
) -> None:
    first = fit_forecast(make, panel)
    second = fit_forecast(make, panel)

    np.testing.assert_array_equal(first.values, second.values)


def test_fitted_forecaster_round_trips_through_pickle(
    make: Callable[[], Forecaster], panel: DemandPanel
) -> None:
    forecaster = make().fit(panel)

    restored = pickle.loads(pickle.dumps(forecaster))

    np.testing.assert_array_equal(
        restored.forecast(panel, 7, LEVELS).values,
        forecaster.forecast(panel, 7, LEVELS).values,
    )


def test_sku_unseen_at_fit_gets_a_valid_forecast(
    make: Callable[[], Forecaster], panel: DemandPanel, cold_panel: DemandPanel
) -> None:
    forecast = make().fit(panel).forecast(cold_panel, 7, LEVELS)

    new = forecast.values[-1]
    assert forecast.values.shape == (len(cold_panel.skus), 7, len(LEVELS))
    assert forecast.skus[-1] == "NEW"
    assert np.isfinite(new).all() and (new >= 0).all()
    assert (np.diff(new, axis=0) >= 0).all() and (np.diff(new, axis=1) >= 0).all()


@pytest.mark.parametrize(
    ("horizon", "levels"), [(0, LEVELS), (7, (0.5, 0.25)), (7, (0.0, 0.5))]
)
def test_bad_horizon_or_levels_raise_forecast_error(
    make: Callable[[], Forecaster],
    panel: DemandPanel,
    horizon: int,
    levels: tuple[float, ...],
) -> None:
    forecaster = make().fit(panel)

    with pytest.raises(ForecastError, match=r"horizon|quantile_levels"):
        forecaster.forecast(panel, horizon, levels)
