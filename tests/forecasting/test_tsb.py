from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from forecasting.base import DemandPanel, ForecastError
from forecasting.tsb import TSBForecaster, TSBState

LEVELS = np.array([0.05, 0.25, 0.5, 0.75, 0.9, 0.975])


def one_row_panel(*rows: list[float]) -> DemandPanel:
    demand = np.array(rows, dtype=float)
    skus = np.array([f"S{i}" for i in range(len(rows))], dtype=object)
    return DemandPanel(skus, dt.date(2011, 3, 1), demand)


def state_of(p: float, size: float, cv: float, days: int = 10_000) -> TSBState:
    """A long-run state whose estimates are exactly ``p``, ``size`` and ``cv``."""
    return TSBState(
        occurrence=np.array([p]),
        size=np.array([size]),
        size_sq=np.array([size**2 * (1 + cv**2)]),
        n_days=np.array([days]),
        n_demand_days=np.array([days]),
    )


def test_advance_applies_the_tsb_updates() -> None:
    forecaster = TSBForecaster(alpha=0.5, beta=0.25)
    state = TSBState.empty(2)

    for demand in ([0.0, 4.0], [6.0, 0.0], [2.0, 8.0]):
        state = forecaster.advance(state, np.array(demand))

    # occurrence: 0 -> 0.25 * 1 -> 0.75 * 0.25 + 0.25 for SKU 0
    np.testing.assert_allclose(state.occurrence, [0.4375, 0.75**2 * 0.25 + 0.25])
    # size moves only on demand days: 0 -> 3 -> 2.5 for SKU 0
    np.testing.assert_allclose(state.size, [0.5 * 3.0 + 0.5 * 2.0, 0.5 * 2.0 + 4.0])
    np.testing.assert_allclose(state.size_sq, [0.5 * 18.0 + 2.0, 0.5 * 8.0 + 32.0])
    np.testing.assert_array_equal(state.n_days, [3, 3])
    np.testing.assert_array_equal(state.n_demand_days, [2, 2])


def test_advance_does_not_modify_the_given_state() -> None:
    state = TSBState.empty(3)

    TSBForecaster().advance(state, np.array([1.0, 0.0, 5.0]))

    assert not state.occurrence.any() and not state.n_days.any()


def test_advance_rejects_a_day_of_the_wrong_length() -> None:
    with pytest.raises(ForecastError, match=r"demand_today: must have shape \(3,\)"):
        TSBForecaster().advance(TSBState.empty(3), np.zeros(4))


def test_advance_rejects_negative_or_missing_demand() -> None:
    with pytest.raises(ForecastError, match="got nan at row 1"):
        TSBForecaster().advance(TSBState.empty(2), np.array([1.0, np.nan]))


def test_forecast_equals_streaming_the_last_history_days(
    panel: DemandPanel,
) -> None:
    forecaster = TSBForecaster(history_days=30)
    state = TSBState.empty(len(panel.skus))

    for day in range(panel.n_days - 30, panel.n_days):
        state = forecaster.advance(state, panel.demand[:, day])

    expected = forecaster.quantiles(state, 10, LEVELS)
    actual = forecaster.forecast(panel, 10, tuple(LEVELS)).values
    np.testing.assert_array_equal(actual, expected)


def test_history_beyond_the_window_is_ignored(panel: DemandPanel) -> None:
    forecaster = TSBForecaster(history_days=28)
    recent = DemandPanel(
        panel.skus,
        panel.end - dt.timedelta(days=27),
        panel.demand[:, -28:],
    )

    full = forecaster.forecast(panel, 7, tuple(LEVELS))
    cut = forecaster.forecast(recent, 7, tuple(LEVELS))

    np.testing.assert_array_equal(full.values, cut.values)
    assert full.as_of == cut.as_of == panel.end


def test_each_sku_is_forecast_on_its_own(panel: DemandPanel) -> None:
    forecaster = TSBForecaster()
    rows = np.array([5, 2, 11])

    together = forecaster.forecast(panel, 7, tuple(LEVELS)).values[rows]
    alone = forecaster.forecast(panel.select(rows), 7, tuple(LEVELS)).values

    np.testing.assert_allclose(together, alone)


def test_sku_without_demand_gets_zeros() -> None:
    forecast = TSBForecaster().forecast(one_row_panel([0.0] * 20, [3.0] * 20), 5)

    assert not forecast.values[0].any()
    assert forecast.values[1].min() > 0


def test_steady_demand_gives_a_median_near_the_daily_rate_times_h() -> None:
    forecast = TSBForecaster().forecast(one_row_panel([5.0] * 56), 28, (0.5,))

    np.testing.assert_allclose(forecast.values[0, :, 0], 5.0 * np.arange(1, 29), 0.05)


def test_demand_that_stopped_fades() -> None:
    recent = [0.0] * 40 + [4.0, 0.0] * 8
    stopped = [4.0, 0.0] * 8 + [0.0] * 40

    values = TSBForecaster().forecast(one_row_panel(recent, stopped), 14, (0.9,)).values

    assert values[1, -1, 0] < 0.5 * values[0, -1, 0]


def test_extreme_levels_stay_finite() -> None:
    levels = np.array([1e-9, 0.5, 1 - 1e-9])

    values = TSBForecaster().quantiles(state_of(p=1.0, size=5.0, cv=1.0), 3, levels)

    assert np.isfinite(values).all() and (values[:, :, -1] > values[:, :, 1]).all()


def test_mass_at_zero_is_exact() -> None:
    # p = 0.2: P(no demand in h days) = 0.8 ** h; 0.8 ** 3 = 0.512
    state = state_of(p=0.2, size=10.0, cv=0.5)
    levels = np.array([0.45, 0.5, 0.55])

    values = TSBForecaster().quantiles(state, 3, levels)[0]

    assert (values[0] == 0).all()  # h = 1: P(0) = 0.8
    assert (values[2, :2] == 0).all() and values[2, 2] > 0  # h = 3: P(0) = 0.512


@pytest.mark.parametrize(
    ("p", "size", "cv"), [(0.1, 10.0, 1.0), (0.3, 5.0, 0.5), (0.8, 3.0, 0.3)]
)
def test_quantiles_cover_a_simulation_of_the_compound_model(
    p: float, size: float, cv: float
) -> None:
    levels = np.array([0.5, 0.9, 0.975])
    values = TSBForecaster().quantiles(state_of(p, size, cv), 28, levels)[0]
    rng = np.random.default_rng(0)
    sigma2 = np.log1p(cv**2)
    daily = (rng.random((40_000, 28)) < p) * rng.lognormal(
        np.log(size) - sigma2 / 2, np.sqrt(sigma2), (40_000, 28)
    )
    totals = np.cumsum(daily, axis=1)

    # the lognormal fit of the positive part keeps central and upper levels
    # within 0.06 of nominal; below the mass at zero the quantile is exactly 0
    for h in (1, 7, 28):
        coverage = (totals[:, h - 1, None] <= values[h - 1]).mean(axis=0)
        assert (coverage >= levels - 0.06).all(), (h, coverage)
        at_most = np.maximum(levels, (1 - p) ** h) + 0.06
        assert (coverage <= at_most).all(), (h, coverage)


def test_few_demand_days_borrow_the_prior_size_spread() -> None:
    history = [0.0] * 50 + [12.0] + [0.0] * 5

    narrow = TSBForecaster(size_cv=0.0).forecast(one_row_panel(history), 1, (0.999,))
    wide = TSBForecaster(size_cv=2.0).forecast(one_row_panel(history), 1, (0.999,))

    assert wide.values[0, 0, 0] > narrow.values[0, 0, 0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"beta": 1.5}, "beta"),
        ({"history_days": 0}, "history_days"),
        ({"size_cv": -1.0}, "size_cv"),
    ],
)
def test_bad_configuration_names_the_field(
    kwargs: dict[str, float], field: str
) -> None:
    with pytest.raises(ForecastError, match=field):
        TSBForecaster(**kwargs)  # type: ignore[arg-type]


def test_negative_demand_names_sku_and_day() -> None:
    panel = one_row_panel([1.0, 0.0, 2.0], [0.0, -3.0, 1.0])

    with pytest.raises(ForecastError, match=r"-3.0 for sku 'S1' on 2011-03-02"):
        TSBForecaster().forecast(panel)


def test_fit_records_the_state_of_the_panel(panel: DemandPanel) -> None:
    forecaster = TSBForecaster(history_days=None).fit(panel)

    np.testing.assert_array_equal(forecaster.skus_, panel.skus)
    np.testing.assert_array_equal(forecaster.state_.n_days, panel.n_days)
    np.testing.assert_array_equal(
        forecaster.state_.n_demand_days, (panel.demand > 0).sum(axis=1)
    )


def test_a_nan_quantile_level_is_refused_instead_of_forecast() -> None:
    panel = one_row_panel([1.0, 0.0, 2.0])

    with pytest.raises(ForecastError, match=r"quantile_levels: .*got nan"):
        TSBForecaster().forecast(panel, 3, (0.1, float("nan"), 0.9))
