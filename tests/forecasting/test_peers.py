"""Peer forecasters: shapes, monotone cumulative quantiles, calibration."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable

import numpy as np
import pytest

from forecasting.base import (
    DEFAULT_QUANTILE_LEVELS,
    DemandPanel,
    ForecastError,
    QuantileForecast,
)
from forecasting.peers import (
    ADIDAForecaster,
    CrostonSBAForecaster,
    CrostonTSBForecaster,
    CumulativeResiduals,
    ETSForecaster,
    IMAPAForecaster,
    LightGBMForecaster,
    SeasonalNaiveForecaster,
    demand_scale,
    gradient_boosting,
)

START = dt.date(2021, 1, 4)
HORIZON = 14


def small_lightgbm() -> LightGBMForecaster:
    return LightGBMForecaster(
        horizon=HORIZON,
        train_days=60,
        max_rows=3000,
        n_estimators=10,
        min_child_samples=5,
        num_threads=1,
    )


PEERS: dict[str, Callable[[], object]] = {
    "seasonal_naive": lambda: SeasonalNaiveForecaster(horizon=HORIZON),
    "ets": lambda: ETSForecaster(horizon=HORIZON),
    "croston_sba": lambda: CrostonSBAForecaster(horizon=HORIZON),
    "croston_tsb": lambda: CrostonTSBForecaster(horizon=HORIZON),
    "adida": lambda: ADIDAForecaster(horizon=HORIZON),
    "imapa": lambda: IMAPAForecaster(horizon=HORIZON),
    "lightgbm": small_lightgbm,
}


@pytest.fixture
def panel() -> DemandPanel:
    """Six SKUs over 120 days: steady, intermittent, lumpy, new and idle."""
    rng = np.random.default_rng(3)
    n_days = 120
    weekly = np.tile([1.0, 1.2, 1.1, 1.0, 0.9, 0.0, 0.3], n_days // 7 + 1)[:n_days]
    demand = np.stack(
        [
            rng.poisson(5 * weekly),
            rng.poisson(0.3, n_days),
            rng.binomial(1, 0.05, n_days) * rng.integers(20, 200, n_days),
            np.r_[np.zeros(90), rng.poisson(2, 30)],
            np.zeros(n_days),
            rng.poisson(20 * weekly),
        ]
    ).astype(float)
    price = np.where(demand > 0, 2.5, np.nan)
    skus = np.array(["steady", "sparse", "lumpy", "new", "idle", "big"], dtype=object)
    return DemandPanel(skus, START, demand, price)


@pytest.mark.parametrize("name", list(PEERS))
def test_peer_forecasts_monotone_cumulative_quantiles(
    name: str, panel: DemandPanel
) -> None:
    before = panel.demand.copy()
    model = PEERS[name]()

    forecast = model.fit(panel).forecast(panel, HORIZON)  # type: ignore[attr-defined]

    assert isinstance(forecast, QuantileForecast)
    assert forecast.values.shape == (6, HORIZON, len(DEFAULT_QUANTILE_LEVELS))
    assert forecast.as_of == panel.end and forecast.model == name
    assert list(forecast.skus) == list(panel.skus)
    assert np.isfinite(forecast.values).all() and (forecast.values >= 0).all()
    assert (np.diff(forecast.values, axis=1) >= 0).all()
    assert (np.diff(forecast.values, axis=2) >= 0).all()
    np.testing.assert_array_equal(panel.demand, before)


@pytest.mark.parametrize("name", list(PEERS))
def test_peer_refuses_to_forecast_before_fit(name: str, panel: DemandPanel) -> None:
    with pytest.raises(ForecastError, match="fit"):
        PEERS[name]().forecast(panel, HORIZON)  # type: ignore[attr-defined]


def test_peer_forecast_is_reproducible(panel: DemandPanel) -> None:
    first = small_lightgbm().fit(panel).forecast(panel, HORIZON)
    second = small_lightgbm().fit(panel).forecast(panel, HORIZON)

    np.testing.assert_array_equal(first.values, second.values)


def test_seasonal_naive_repeats_the_last_week(panel: DemandPanel) -> None:
    point = SeasonalNaiveForecaster().point(panel, 10)

    np.testing.assert_array_equal(point[:, :7], panel.demand[:, -7:])
    np.testing.assert_array_equal(point[:, 7:], panel.demand[:, -7:-4])


def test_exact_point_forecasts_give_degenerate_quantiles() -> None:
    demand = np.full((3, 70), 2.0)
    steady = DemandPanel(np.array(["a", "b", "c"]), START, demand)

    forecast = SeasonalNaiveForecaster(horizon=7).fit(steady).forecast(steady, 7)

    expected = 2.0 * np.arange(1, 8)
    for j in range(len(DEFAULT_QUANTILE_LEVELS)):
        np.testing.assert_allclose(forecast.values[:, :, j], np.tile(expected, (3, 1)))


def test_calibration_reads_only_days_before_the_forecast_origin(
    panel: DemandPanel,
) -> None:
    seen: list[dt.date] = []

    def point(history: DemandPanel, horizon: int) -> np.ndarray:
        seen.append(history.end)
        return np.zeros((len(history.skus), horizon))

    residuals = CumulativeResiduals.calibrate(point, panel, HORIZON, 3, 7)

    expected = [panel.end - dt.timedelta(days=HORIZON + 7 * k) for k in range(3)]
    assert seen == expected and list(residuals.origins) == expected
    # every SKU but "idle" has sold by each calibration origin (day 91 on)
    assert residuals.scaled.shape == (3 * 5, HORIZON)


def test_residual_quantiles_are_made_monotone_in_the_horizon() -> None:
    # errors that shrink with the horizon would make low quantiles decrease
    scaled = np.array([[-1.0, -3.0], [1.0, -3.0], [0.0, -3.0]])
    residuals = CumulativeResiduals(scaled, (START,))

    values = residuals.apply(
        np.array([[5.0, 1.0]]), np.array([1.0]), np.array([0.1, 0.5, 0.9])
    )

    assert (np.diff(values, axis=1) >= 0).all()
    assert (np.diff(values, axis=2) >= 0).all()
    np.testing.assert_allclose(values[0, 0], [4.2, 5.0, 5.8])
    np.testing.assert_allclose(values[0, 1], [4.2, 5.0, 5.8])


def test_demand_scale_falls_back_to_the_mean_since_first_sale() -> None:
    demand = np.zeros((3, 100))
    demand[0, -10:] = 5.0
    demand[1, 10] = 30.0
    scale = demand_scale(demand, days=56)

    np.testing.assert_allclose(scale, [50 / 56, 30 / 90, 0.0])


def test_calibration_needs_enough_history() -> None:
    short = DemandPanel(np.array(["a"]), START, np.ones((1, 30)))

    with pytest.raises(ForecastError, match="needs at least 56 days"):
        SeasonalNaiveForecaster(horizon=28).fit(short)


def test_horizon_past_the_calibrated_one_is_refused(panel: DemandPanel) -> None:
    model = SeasonalNaiveForecaster(horizon=7).fit(panel)

    with pytest.raises(ForecastError, match="horizon: must be at most the calibrated"):
        model.forecast(panel, 14)


def test_lightgbm_refuses_levels_it_was_not_trained_for(panel: DemandPanel) -> None:
    model = LightGBMForecaster(
        horizon=HORIZON, quantile_levels=(0.5, 0.9), n_estimators=5, num_threads=1
    ).fit(panel)

    assert model.forecast(panel, 7, (0.9,)).values.shape == (6, 7, 1)
    with pytest.raises(ForecastError, match=r"quantile_levels: 0\.95 was not trained"):
        model.forecast(panel, 7, (0.5, 0.95))


def lightgbm_rows(panel: DemandPanel) -> np.ndarray:
    """The LightGBM peer's feature rows, ``(n_skus, n_days, n_features)``."""
    scale = gradient_boosting._trailing_scale(panel.demand)
    rows = gradient_boosting._features(panel, scale, 0, future=False)
    return rows.reshape(len(panel.skus), panel.n_days, -1)


def test_lightgbm_features_of_a_day_read_no_demand_from_that_day_on(
    panel: DemandPanel,
) -> None:
    changed = panel.demand.copy()
    changed[:, 100:] = 3 * changed[:, 100:] + 5
    later = DemandPanel(panel.skus, START, changed, panel.unit_price)

    np.testing.assert_array_equal(
        lightgbm_rows(later)[:, :101], lightgbm_rows(panel)[:, :101]
    )
    assert not np.array_equal(
        lightgbm_rows(later)[:, 101], lightgbm_rows(panel)[:, 101]
    )


def test_lightgbm_forecast_features_follow_the_training_rule(
    panel: DemandPanel,
) -> None:
    before = panel.until(START + dt.timedelta(days=99))
    scale = gradient_boosting._trailing_scale(before.demand)

    future = gradient_boosting._features(before, scale, 0, future=True)

    np.testing.assert_allclose(future, lightgbm_rows(panel)[:, 100])


def test_trailing_scale_is_the_mean_since_the_first_sale_before_each_day() -> None:
    demand = np.array([[0.0, 0.0, 4.0, 0.0, 2.0], [0.0] * 5])

    scale = gradient_boosting._trailing_scale(demand)

    np.testing.assert_allclose(scale, [[0, 0, 0, 4, 2, 2], [0] * 6])


def test_missing_extra_is_named(
    panel: DemandPanel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "statsforecast", None)

    with pytest.raises(ImportError, match=r"replenish\[peers\]"):
        CrostonSBAForecaster(horizon=HORIZON).fit(panel)
