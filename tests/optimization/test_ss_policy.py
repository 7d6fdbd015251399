"""The (s, S) policy: tuning on a grid, retargeting, and deciding."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from optimization.base import ReviewInputs
from optimization.params import PolicyError, PolicyTable, SkuPolicy
from optimization.simulator import select_params
from optimization.ss_policy import SSPolicy
from tests.optimization.test_baselines import inputs, table


def test_ss_tuning_picks_the_cheapest_pair_without_stockouts() -> None:
    # constant demand of 2 a day, next-morning delivery, daily review: s = 0,
    # S = 2 never runs out and never holds stock overnight
    params = PolicyTable.uniform(
        ["A"],
        SkuPolicy("A", lead_time_days=0.0, stockout_cost=100.0, service_level=None),
    )
    policy = SSPolicy().fit(np.full((1, 60), 2.0), params)

    np.testing.assert_allclose(policy.reorder_point_, [0.0])
    np.testing.assert_allclose(policy.order_up_to_level_, [2.0])
    for position, order in [(0.0, 2.0), (1.0, 0.0), (-1.0, 3.0)]:
        got = policy.decide(inputs(params, position)).order_quantity
        assert got[0] == order


def fitted_on_poisson(seed: int) -> tuple[SSPolicy, PolicyTable]:
    """(s, S) tuned on 120 days of Poisson(3) demand of four SKUs."""
    demand = np.random.default_rng(seed).poisson(3.0, size=(4, 120)).astype(float)
    params = PolicyTable.uniform(
        [f"s{i}" for i in range(4)], SkuPolicy("x", lead_time_days=2.0)
    )
    return SSPolicy().fit(demand, params), params


def test_ss_retarget_trades_stock_for_fill_rate() -> None:
    policy, _ = fitted_on_poisson(5)
    low, high = policy.retarget(0.6), policy.retarget(0.99)

    assert np.all(high.order_up_to_level_ >= low.order_up_to_level_)
    assert np.any(high.order_up_to_level_ > low.order_up_to_level_)
    np.testing.assert_array_equal(policy.skus_, high.skus_)


def test_ss_refuses_unknown_skus() -> None:
    params = table()
    policy = SSPolicy().fit(np.full((1, 30), 1.0), params)
    other = PolicyTable.from_policies([SkuPolicy("B")])
    with pytest.raises(PolicyError, match="skus"):
        policy.decide(inputs(other))


def test_ss_implied_cost_prices_unserved_units_by_the_level() -> None:
    rng = np.random.default_rng(11)
    demand = rng.poisson(2.0, size=(3, 120)).astype(float)
    params = PolicyTable.uniform(
        ["a", "b", "c"], SkuPolicy("x", lead_time_days=3.0, review_period_days=7)
    )
    policy = SSPolicy(implied_cost=True).fit(demand, params)
    low, high = policy.retarget(0.5), policy.retarget(0.999)

    assert np.all(high.order_up_to_level_ >= low.order_up_to_level_)
    assert np.any(high.order_up_to_level_ > low.order_up_to_level_)
    by_fill = policy.retarget(0.999, implied_cost=False)
    assert not by_fill.implied_cost
    assert high.implied_cost

    # the level 0.999 implies p = h R 0.999 / 0.001: the cost the pick minimizes
    scores = policy._scores
    overage = float(params.daily_holding_cost[0]) * 7
    cost = scores.kept + overage * 0.999 / 0.001 * scores.unserved
    chosen = np.argmin(cost, axis=0)
    mu = scores.mean_demand
    np.testing.assert_allclose(high.order_up_to_level_, scores.grid[chosen, 1] * mu)


def test_ss_retargets_each_sku_to_its_own_level() -> None:
    policy, params = fitted_on_poisson(7)
    levels = np.array([0.6, 0.99, 0.6, 0.99])

    mixed = policy.retarget(levels)

    low, high = policy.retarget(0.6), policy.retarget(0.99)
    assert not np.allclose(low.order_up_to_level_, high.order_up_to_level_)
    expected = np.where(levels < 0.9, low.order_up_to_level_, high.order_up_to_level_)
    np.testing.assert_allclose(mixed.order_up_to_level_, expected)
    # a review of some SKUs, in another order, reports each SKU's own target
    review = select_params(params, np.array([3, 0]))
    decided = mixed.decide(
        ReviewInputs(
            as_of=dt.date(2011, 7, 1),
            inventory_position=np.zeros(2),
            params=review,
            quantile_levels=np.zeros(0),
            cumulative_quantiles=np.zeros((2, 0, 0)),
        )
    )
    np.testing.assert_allclose(decided.service_level, [0.99, 0.6])
    with pytest.raises(PolicyError, match=r"^service_level: "):
        policy.retarget(np.array([0.6, 0.9]))
