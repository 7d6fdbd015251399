from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from forecasting.base import DemandPanel
from forecasting.features import (
    N_CALENDAR,
    N_INPUT,
    FeatureConfig,
    FeatureError,
    calendar_features,
    infer_closed_weekdays,
    panel_features,
    reference_price,
    running_scale,
)
from tests.forecasting.conftest import synthetic_panel

CONFIG = FeatureConfig()


def calendar_of(day: dt.date) -> np.ndarray:
    return calendar_features(np.array([day.toordinal()]), CONFIG)[0]


def test_running_scale_is_the_trailing_mean_with_a_floor() -> None:
    rng = np.random.default_rng(0)
    demand = rng.poisson(2.0, size=(3, 40)).astype(float)
    demand[2] = 0.0
    config = FeatureConfig(scale_window=7, scale_floor=0.5)

    scale = running_scale(demand, config)

    for t in range(40):
        window = demand[:, max(0, t - 6) : t + 1]
        expected = np.maximum(window.mean(axis=1), 0.5)
        np.testing.assert_allclose(scale[:, t], expected)
    assert np.all(scale[2] == 0.5)


def test_reference_price_is_the_mean_of_prices_seen_so_far() -> None:
    price = np.array([[np.nan, 2.0, np.nan, 4.0, 6.0]])

    ref = reference_price(price)

    np.testing.assert_allclose(ref[0, 1:], [2.0, 2.0, 3.0, 4.0])
    assert np.isnan(ref[0, 0])


def test_calendar_flags_weekday_holiday_and_closure() -> None:
    monday, saturday = (
        calendar_of(dt.date(2011, 3, 7)),
        calendar_of(dt.date(2011, 3, 12)),
    )
    good_friday = calendar_of(dt.date(2011, 4, 22))
    new_years_eve = calendar_of(dt.date(2010, 12, 31))

    assert monday[0] == 1 and monday[:7].sum() == 1
    assert saturday[5] == 1
    assert monday[9] == 1 and monday[10] == 0
    assert saturday[9] == 0
    assert good_friday[9] == 0 and good_friday[10] == 1
    assert new_years_eve[9] == 0 and new_years_eve[10] == 0


def test_calendar_day_of_year_and_shape() -> None:
    days = np.array(
        [[dt.date(2011, 1, 1).toordinal(), dt.date(2011, 7, 2).toordinal()]]
    )

    out = calendar_features(days, CONFIG)

    assert out.shape == (1, 2, N_CALENDAR)
    assert out[0, 0, 7] == pytest.approx(0.0, abs=1e-6)
    assert out[0, 1, 8] == pytest.approx(-1.0, abs=1e-3)


def test_closed_weekdays_are_inferred_from_sales() -> None:
    panel = synthetic_panel(n_skus=5, n_days=70)
    demand = panel.demand.copy()
    demand[:, 5::7] = 0.0
    shop = DemandPanel(panel.skus, panel.start, demand)

    assert infer_closed_weekdays(shop) == (5,)


def test_panel_features_shapes_and_planned_discount() -> None:
    panel = synthetic_panel(n_skus=4, n_days=30)
    discount = np.zeros((4, 40))
    discount[1, 32] = 0.3
    promoted = DemandPanel(panel.skus, panel.start, panel.demand, None, discount)

    features = panel_features(promoted, CONFIG, extra_days=5)
    inputs = features.inputs(np.arange(4)[:, None], np.arange(30))
    future = features.known(np.arange(4)[:, None], 30 + np.arange(5))

    assert features.observed.shape == (4, 30, 3)
    assert inputs.shape == (4, 30, N_INPUT)
    assert future[1, 2, -1] == pytest.approx(0.3)
    assert future[0, :, -1].sum() == 0.0
    assert np.all(features.observed[..., 1] == 0.0)


def test_config_rejects_a_bad_window_and_round_trips() -> None:
    with pytest.raises(FeatureError, match="scale_window"):
        FeatureConfig(scale_window=0)

    config = FeatureConfig(closed_weekdays=(5, 6))
    assert FeatureConfig.from_dict(config.to_dict()) == config
