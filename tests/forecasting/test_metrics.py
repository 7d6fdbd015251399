"""Metrics against values worked out by hand on tiny cases."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from forecasting.base import DEFAULT_QUANTILE_LEVELS, DemandPanel, QuantileForecast
from forecasting.metrics import (
    M5_QUANTILE_LEVELS,
    MetricError,
    coverage,
    evaluate,
    m5_scales,
    pinball,
    revenue_weights,
    rmsse,
    spl,
)

START = dt.date(2021, 3, 1)
LEVELS = np.array(DEFAULT_QUANTILE_LEVELS)


def test_scales_count_from_the_first_sale() -> None:
    history = np.array([[0.0, 0.0, 2.0, 0.0, 4.0], [0.0, 0.0, 0.0, 0.0, 0.0]])

    squared, absolute = m5_scales(history)

    # differences from the first sale on: 0 - 2 = -2 and 4 - 0 = 4
    assert squared[0] == pytest.approx((4 + 16) / 2)
    assert absolute[0] == pytest.approx((2 + 4) / 2)
    assert np.isnan(squared[1]) and np.isnan(absolute[1])


def test_pinball_weighs_under_and_over_forecasts_by_level() -> None:
    loss = pinball(np.array([3.0, 1.0]), np.array([1.0, 3.0]), 0.9)

    np.testing.assert_allclose(loss, [0.9 * 2, 0.1 * 2])


def test_rmsse_and_spl_on_two_days() -> None:
    actual = np.array([[1.0, 2.0]])

    assert rmsse(actual, np.zeros((1, 2)), np.array([2.5]))[0] == pytest.approx(1.0)
    quantiles = np.array([[[0.0, 2.0], [2.0, 2.0]]])
    # level 0.25: (0.25 * 1 + 0) ; level 0.75: (0.25 * 1 + 0); mean of 4, scale 0.5
    value = spl(actual, quantiles, np.array([0.25, 0.75]), np.array([0.5]))
    assert value[0] == pytest.approx((0.25 + 0.0 + 0.25 + 0.0) / 4 / 0.5)


def test_coverage_counts_ties_as_covered() -> None:
    actual = np.array([[0.0, 1.0], [2.0, 5.0]])
    quantiles = np.stack([actual - 1, actual, actual + 1], axis=2)

    np.testing.assert_allclose(coverage(actual, quantiles), [0.0, 1.0, 1.0])


def test_revenue_weights_ignore_missing_prices_and_old_days() -> None:
    demand = np.array([[5.0, 1.0, 2.0], [0.0, 0.0, 3.0]])
    price = np.array([[9.0, 2.0, np.nan], [np.nan, np.nan, 4.0]])
    panel = DemandPanel(np.array(["a", "b"]), START, demand, price)

    np.testing.assert_allclose(revenue_weights(panel, days=2), [2.0, 12.0])


def test_revenue_weights_fall_back_to_units_with_a_warning() -> None:
    panel = DemandPanel(np.array(["a"]), START, np.array([[1.0, 2.0]]))

    with pytest.warns(UserWarning, match="unit_price"):
        np.testing.assert_allclose(revenue_weights(panel), [3.0])


def _case(
    extra_idle_sku: bool = False,
) -> tuple[QuantileForecast, DemandPanel, np.ndarray]:
    """SKU a: revenue 2, scales 1; SKU b: revenue 12, scales 4 and 2."""
    demand = [[1.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 2.0]]
    price = [[1.0, np.nan, 1.0, np.nan], [np.nan, 3.0, np.nan, 3.0]]
    skus = ["a", "b"]
    daily_forecast = [0.0, 2.0]
    actual = [np.ones(14), np.full(14, 2.0)]
    if extra_idle_sku:
        demand.append([0.0] * 4)
        price.append([np.nan] * 4)
        skus.append("idle")
        daily_forecast.append(0.0)
        actual.append(np.zeros(14))
    history = DemandPanel(np.array(skus), START, np.array(demand), np.array(price))
    cumulative = np.array(daily_forecast)[:, None] * np.arange(1, 15)[None, :]
    values = np.repeat(cumulative[:, :, None], len(LEVELS), axis=2)
    forecast = QuantileForecast(history.skus, history.end, LEVELS, values)
    return forecast, history, np.array(actual)


@pytest.mark.parametrize("idle", [False, True])
def test_evaluate_matches_the_hand_computation(idle: bool) -> None:
    forecast, history, actual = _case(idle)

    result = evaluate(forecast, history, actual)

    # weights 2/14 and 12/14; only SKU a is wrong, by one unit a day
    w_a = 2 / 14
    assert result["wrmsse"] == pytest.approx(w_a * 1.0)
    assert result["wspl"] == pytest.approx(w_a * np.mean(M5_QUANTILE_LEVELS))
    assert result["bias"] == pytest.approx(28 / 42 - 1)
    for h in (7, 14):
        assert result[f"spl_cum{h}_q0.9"] == pytest.approx(w_a * 0.9)
        assert result[f"spl_cum{h}_q0.95"] == pytest.approx(w_a * 0.95)
    for level in DEFAULT_QUANTILE_LEVELS:  # over scored SKUs: a missed, b tied
        assert result[f"coverage_q{level:g}"] == pytest.approx(0.5)
    assert result["n_scored"] == 2
    assert result["n_skus"] == (3 if idle else 2)


def test_evaluate_weighs_skus_by_units_when_the_panel_has_no_price() -> None:
    forecast, priced, actual = _case()
    no_price = np.full(priced.demand.shape, np.nan)  # a price-less tidy file
    history = DemandPanel(priced.skus, START, priced.demand, no_price)

    with pytest.warns(UserWarning, match="weighting SKUs by units"):
        result = evaluate(forecast, history, actual)

    # units 2 and 4 weigh a and b 1/3 and 2/3; only SKU a is wrong
    assert result["wrmsse"] == pytest.approx(1 / 3)
    assert result["n_scored"] == 2


def test_evaluate_is_zero_for_a_perfect_forecast() -> None:
    forecast, history, actual = _case()
    exact = np.repeat(np.cumsum(actual, axis=1)[:, :, None], len(LEVELS), axis=2)
    perfect = QuantileForecast(forecast.skus, forecast.as_of, LEVELS, exact)

    result = evaluate(perfect, history, actual)

    assert result["wrmsse"] == 0 and result["wspl"] == 0 and result["bias"] == 0


def test_evaluate_names_a_missing_level() -> None:
    forecast, history, actual = _case()
    keep = ~np.isclose(LEVELS, 0.835)
    partial = QuantileForecast(
        forecast.skus, forecast.as_of, LEVELS[keep], forecast.values[:, :, keep]
    )

    with pytest.raises(MetricError, match=r"quantile_levels: must include 0\.835"):
        evaluate(partial, history, actual)


def test_evaluate_rejects_actuals_of_the_wrong_shape() -> None:
    forecast, history, actual = _case()

    with pytest.raises(MetricError, match="actual"):
        evaluate(forecast, history, actual[:, :7])
