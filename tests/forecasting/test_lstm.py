from __future__ import annotations

import pickle

import numpy as np
import pytest

from forecasting.base import DemandPanel, Forecaster, ForecastError
from forecasting.lstm import LSTMForecaster, NotFittedError, interpolate_levels
from forecasting.training import TrainingConfig
from tests.forecasting.conftest import synthetic_panel, with_new_sku

CONFIG = TrainingConfig(
    epochs=2,
    batch_size=32,
    windows_per_epoch=64,
    hidden_size=8,
    horizon=14,
    context_days=28,
    min_context_days=14,
    validation_days=28,
    progress=False,
)


@pytest.fixture(scope="module")
def panel() -> DemandPanel:
    return synthetic_panel(n_skus=12, n_days=100)


@pytest.fixture(scope="module")
def fitted(panel: DemandPanel) -> LSTMForecaster:
    return LSTMForecaster(CONFIG).fit(panel)


def test_is_a_forecaster_with_the_requested_shape(
    fitted: LSTMForecaster, panel: DemandPanel
) -> None:
    out = fitted.forecast(panel, horizon=10, quantile_levels=(0.1, 0.5, 0.9))

    assert isinstance(fitted, Forecaster)
    assert out.values.shape == (12, 10, 3)
    assert out.as_of == panel.end and out.model == "lstm"
    assert np.all(np.diff(out.values, axis=1) >= 0)
    assert np.all(np.diff(out.values, axis=2) >= 0)


def test_trained_levels_are_returned_exactly_and_others_interpolated(
    fitted: LSTMForecaster, panel: DemandPanel
) -> None:
    trained = fitted.forecast(panel, 14, CONFIG.quantile_levels)
    between = fitted.forecast(panel, 14, (0.2, 0.5, 0.999))

    levels = np.asarray(CONFIG.quantile_levels)
    low, high = levels.searchsorted(0.2) - 1, levels.searchsorted(0.2)
    assert np.all(between.values[..., 0] >= trained.values[..., low])
    assert np.all(between.values[..., 0] <= trained.values[..., high])
    np.testing.assert_allclose(between.values[..., 1], trained.values[..., 4])
    np.testing.assert_allclose(between.values[..., 2], trained.values[..., -1])


def test_interpolation_is_linear_between_levels() -> None:
    values = np.array([[0.0, 10.0]])

    out = interpolate_levels(values, np.array([0.2, 0.6]), np.array([0.1, 0.3, 0.9]))

    np.testing.assert_allclose(out, [[0.0, 2.5, 10.0]])


def test_unseen_sku_gets_a_finite_forecast(fitted: LSTMForecaster) -> None:
    panel = with_new_sku(synthetic_panel(n_skus=12, n_days=100))

    out = fitted.forecast(panel, 7)

    assert np.all(np.isfinite(out.values[-1])) and np.all(out.values[-1] >= 0)


def test_horizon_beyond_training_and_unfitted_use_are_refused(
    fitted: LSTMForecaster, panel: DemandPanel
) -> None:
    with pytest.raises(ForecastError, match=r"horizon: must lie in 1\.\.14"):
        fitted.forecast(panel, horizon=15)
    with pytest.raises(NotFittedError, match="fit"):
        LSTMForecaster(CONFIG).forecast(panel)


def test_a_panel_without_days_is_refused_with_a_forecast_error(
    fitted: LSTMForecaster, panel: DemandPanel
) -> None:
    empty = DemandPanel(panel.skus, panel.start, np.zeros((len(panel.skus), 0)))

    with pytest.raises(ForecastError, match=r"panel: .*got 0 days"):
        fitted.forecast(empty, 7)


def test_pickled_forecaster_forecasts_the_same(
    fitted: LSTMForecaster, panel: DemandPanel
) -> None:
    clone = pickle.loads(pickle.dumps(fitted))

    np.testing.assert_array_equal(
        clone.forecast(panel, 14).values, fitted.forecast(panel, 14).values
    )


def test_forecast_does_not_mutate_the_panel(
    fitted: LSTMForecaster, panel: DemandPanel
) -> None:
    demand = panel.demand.copy()

    fitted.forecast(panel, 14)

    np.testing.assert_array_equal(panel.demand, demand)
