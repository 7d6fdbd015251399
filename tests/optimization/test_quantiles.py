import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from optimization.params import PolicyError
from optimization.quantiles import (
    HorizonExtrapolationWarning,
    cdf_at,
    expected_demand,
    expected_leftover,
    expected_shortage,
    fill_rate,
    interval_quantiles,
    lead_time_support,
    longest_lead_time,
    mixture_quantiles,
    quantile_at,
)

DENSE = np.linspace(0.0025, 0.9975, 399)
DEFAULT = np.array(
    [0.005, 0.025, 0.165, 0.25, 0.5, 0.75, 0.835, 0.9, 0.95, 0.975, 0.995]
)


def normal_loss(mean, sd, stock):
    z = (stock - mean) / sd
    return sd * (stats.norm.pdf(z) - z * stats.norm.sf(z))


@pytest.mark.parametrize("stock", [40.0, 80.0, 100.0, 120.0, 140.0, 160.0])
def test_shortage_of_a_normal_matches_its_loss_function(stock):
    mean, sd = 100.0, 20.0
    quantiles = stats.norm.ppf(DENSE, mean, sd)[None, :]

    shortage = expected_shortage(quantiles, DENSE, np.array([stock]))[0]

    assert shortage == pytest.approx(normal_loss(mean, sd, stock), abs=0.002 * sd)


def test_coarse_levels_stay_close_to_the_normal_loss():
    mean, sd = 100.0, 20.0
    quantiles = stats.norm.ppf(DEFAULT, mean, sd)[None, :]
    stock = np.linspace(40, 170, 27)

    shortage = expected_shortage(np.repeat(quantiles, 27, axis=0), DEFAULT, stock)

    assert np.max(np.abs(shortage - normal_loss(mean, sd, stock))) < 0.02 * sd


def test_exponential_upper_tail_is_exact_for_exponential_demand():
    scale = 5.0
    quantiles = stats.expon.ppf(DEFAULT, scale=scale)[None, :]
    stock = np.array([30.0])  # beyond the 0.995 quantile (26.5)

    shortage = expected_shortage(quantiles, DEFAULT, stock)[0]

    assert shortage == pytest.approx(scale * np.exp(-30.0 / scale), rel=1e-9)


def test_mean_leftover_and_fill_rate_of_a_normal():
    mean, sd = 100.0, 20.0
    quantiles = stats.norm.ppf(DENSE, mean, sd)[None, :]
    stock = np.array([125.0])
    loss = normal_loss(mean, sd, 125.0)

    assert expected_demand(quantiles, DENSE)[0] == pytest.approx(mean, rel=1e-3)
    leftover = expected_leftover(quantiles, DENSE, stock)[0]
    assert leftover == pytest.approx(125.0 - mean + loss, abs=0.05)
    assert fill_rate(quantiles, DENSE, stock)[0] == pytest.approx(
        1 - loss / mean, abs=1e-3
    )


@given(
    st.lists(st.floats(0, 50), min_size=11, max_size=11),
    st.floats(0.001, 0.999),
)
def test_cdf_inverts_quantile_at_any_level(increments, level):
    quantiles = np.cumsum(np.array(increments) + 0.01)[None, :]

    value = quantile_at(quantiles, DEFAULT, level)
    reached = cdf_at(quantiles, DEFAULT, value)[0]

    # The lower tail is clipped at 0, an atom: there the CDF jumps past level.
    if value[0] > 0:
        assert reached == pytest.approx(level, abs=1e-9)
    else:
        assert reached >= level - 1e-12


def test_quantile_at_interpolates_and_uses_tails():
    quantiles = stats.norm.ppf(DEFAULT, 100, 20)[None, :].repeat(3, axis=0)

    value = quantile_at(quantiles, DEFAULT, np.array([0.6, 0.999, 0.001]))

    between = quantiles[0, 4] + 0.4 * (quantiles[0, 5] - quantiles[0, 4])
    assert value[0] == pytest.approx(between)
    assert value[1] > quantiles[0, -1]
    assert 0 <= value[2] < quantiles[0, 0]


@settings(max_examples=50)
@given(st.lists(st.floats(0, 20), min_size=4, max_size=4), st.floats(0, 300))
def test_shortage_is_convex_decreasing_and_leftover_non_negative(steps, stock):
    quantiles = np.cumsum(np.array(steps))[None, :]
    levels = np.array([0.05, 0.3, 0.7, 0.95])
    s = np.array([stock, stock + 1.0, stock + 2.0])
    rows = np.repeat(quantiles, 3, axis=0)

    short = expected_shortage(rows, levels, s)

    assert np.all(np.diff(short) <= 1e-12)
    assert short[0] - 2 * short[1] + short[2] >= -1e-9
    assert np.all(expected_leftover(rows, levels, s) >= 0)


def cube(n=2, horizon=10, rate=3.0):
    days = np.arange(1, horizon + 1)[None, :, None]
    spread = stats.norm.ppf(DEFAULT)[None, None, :]
    return np.maximum(rate * days + spread * np.sqrt(days), 0.0).repeat(n, axis=0)


def test_interval_quantiles_read_interpolate_and_start_at_zero():
    cq = cube()

    result = interval_quantiles(cq, np.array([4.0, 4.25]))
    zero = interval_quantiles(cq, np.array([0.0, 0.5]))

    np.testing.assert_allclose(result[0], cq[0, 3])
    np.testing.assert_allclose(result[1], 0.75 * cq[1, 3] + 0.25 * cq[1, 4])
    np.testing.assert_allclose(zero[0], 0.0)
    np.testing.assert_allclose(zero[1], 0.5 * cq[1, 0])


def test_beyond_the_horizon_extends_the_last_week_and_warns():
    cq = cube(horizon=10)

    with pytest.warns(HorizonExtrapolationWarning, match="1 SKU"):
        result = interval_quantiles(cq, np.array([10.0, 13.0]))

    weekly = (cq[1, 9] - cq[1, 2]) / 7
    np.testing.assert_allclose(result[1], cq[1, 9] + 3 * weekly)
    assert np.all(np.diff(result[1]) >= 0)


def test_interval_quantiles_reject_negative_days():
    with pytest.raises(PolicyError, match="days"):
        interval_quantiles(cube(), np.array([1.0, -1.0]))


def test_mixture_without_spread_is_the_plain_interval():
    cq = cube()
    plain = interval_quantiles(cq, np.array([5.0, 5.0]))

    mixed = mixture_quantiles(cq, DEFAULT, np.full(2, 4.0), np.zeros(2), np.ones(2))

    np.testing.assert_allclose(mixed, plain)


def test_mixture_matches_the_mixed_normal_cdfs():
    # Daily demand N(3, 1): demand over t days is N(3t, t); lead time mean 6,
    # spread 2, review 1. The reference mixes the exact normal CDFs over the
    # same lead-time points and inverts them numerically.
    horizon, rate = 20, 3.0
    levels = np.linspace(0.01, 0.99, 99)
    days = np.arange(1, horizon + 1)[:, None]
    cq = (rate * days + stats.norm.ppf(levels)[None, :] * np.sqrt(days))[None]
    mean, spread = np.array([6.0]), np.array([2.0])

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mixed = mixture_quantiles(cq, levels, mean, spread, np.ones(1))[0]

    points, weights = lead_time_support(mean, spread, 7)
    t = points[0] + 1.0
    xs = np.linspace(0, 60, 60_001)
    cdf = stats.norm.cdf((xs[:, None] - rate * t) / np.sqrt(t)) @ weights
    reference = np.interp(levels, cdf, xs)
    np.testing.assert_allclose(mixed, reference, atol=0.05)
    plain = interval_quantiles(cq, np.array([7.0]))[0]
    assert mixed[-1] > plain[-1] + 1.0
    assert mixed[0] < plain[0] - 1.0


@pytest.mark.parametrize("level", [0.95, 0.99, 0.999])
def test_mixture_covers_high_levels_of_demand_over_a_gamma_lead_time(level):
    # Daily demand N(5, sqrt(5)): demand over d days is N(5d, sqrt(5d)); the
    # lead time is a gamma of mean 7 and spread 3, the review period 1 day.
    horizon, rate, review = 28, 5.0, 1.0
    days = np.arange(1, horizon + 1)[:, None]
    cq = rate * days + stats.norm.ppf(DEFAULT)[None, :] * np.sqrt(rate * days)
    mean, spread = 7.0, 3.0

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mixed = mixture_quantiles(
            cq[None], DEFAULT, np.array([mean]), np.array([spread]), np.ones(1)
        )
    stock = quantile_at(mixed, DEFAULT, level)[0]

    rng = np.random.default_rng(11)
    shape = (mean / spread) ** 2
    lead = rng.gamma(shape, mean / shape, 1_000_000) + review
    demand = rng.normal(rate * lead, np.sqrt(rate * lead))
    coverage = np.mean(demand <= stock)
    assert coverage == pytest.approx(level, abs=0.003)


@pytest.mark.parametrize("support_points", [2, 3, 7, 20])
def test_lead_time_points_keep_the_mean_and_most_of_the_spread(support_points):
    mean = np.array([7.0, 2.0, 10.0, 5.0])
    spread = np.array([3.0, 3.0, 1.0, 0.0])

    points, weights = lead_time_support(mean, spread, support_points)

    assert weights.sum() == pytest.approx(1.0)
    assert np.all(np.diff(weights) < 0)
    assert np.all(np.diff(points, axis=1) >= 0)
    np.testing.assert_allclose(points @ weights, mean, rtol=1e-9)
    discrete = np.sqrt(((points - mean[:, None]) ** 2) @ weights)
    assert np.all(discrete <= spread + 1e-12)
    assert np.all(discrete[:3] >= spread[:3] * (0.7 if support_points < 7 else 0.95))


def test_longest_lead_time_is_the_top_support_point():
    mean = np.array([10.0, 7.0, 2.0, 5.0, 0.0])
    spread = np.array([4.0, 3.0, 3.0, 0.0, 1.0])

    points, _ = lead_time_support(mean, spread, 7)

    np.testing.assert_array_equal(longest_lead_time(mean, spread, 7), points.max(1))
    assert longest_lead_time(mean, spread, 7)[0] > 14.0
