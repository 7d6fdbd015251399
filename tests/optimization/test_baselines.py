"""Classical baselines: order-up-to levels by hand, rounding, the protocol."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pytest

from optimization.base import Policy, ReviewInputs
from optimization.baselines import (
    BaseStockNormal,
    MyopicNewsvendor,
    PointAtPercentile,
    round_order,
    target_service_level,
)
from optimization.kpis import compute_kpis
from optimization.params import PolicyError, PolicyTable, SkuPolicy
from optimization.simulator import simulate
from optimization.ss_policy import SSPolicy

HISTORY = np.array([[2.0, 4.0, 6.0, 8.0]])
SIGMA = math.sqrt(20.0 / 3.0)  # sample std of 2, 4, 6, 8


def inputs(
    params: PolicyTable,
    position: float = 10.0,
    cumulative: np.ndarray | None = None,
    levels: np.ndarray | None = None,
) -> ReviewInputs:
    return ReviewInputs(
        as_of=dt.date(2011, 7, 1),
        inventory_position=np.array([position]),
        params=params,
        quantile_levels=np.zeros(0) if levels is None else levels,
        cumulative_quantiles=np.zeros((1, 0, 0)) if cumulative is None else cumulative,
        demand_history=HISTORY,
    )


def table(**values: object) -> PolicyTable:
    policy = SkuPolicy("A", **values)  # type: ignore[arg-type]
    return PolicyTable.from_policies([policy])


@pytest.mark.parametrize(
    "policy",
    [BaseStockNormal(), MyopicNewsvendor(), PointAtPercentile(), SSPolicy()],
)
def test_baselines_satisfy_the_protocol(policy: object) -> None:
    assert isinstance(policy, Policy)


def test_base_stock_level_by_hand() -> None:
    params = table(lead_time_days=3.0, review_period_days=1, case_pack=5)
    decision = BaseStockNormal(window=4).decide(inputs(params))

    # mu (L + R) + z(0.95) sigma sqrt(L + R) = 5 * 4 + 1.6449 * sigma * 2
    expected = 20.0 + 1.6448536269514722 * SIGMA * 2.0
    assert decision.order_up_to_level[0] == pytest.approx(expected)
    assert decision.order_quantity[0] == 20.0  # 18.49 up to whole cases of 5
    assert decision.service_level[0] == pytest.approx(0.95)


def test_newsvendor_level_by_hand() -> None:
    # daily holding 1.0 for R = 1 day against stockout 9.0: critical ratio 0.9
    params = table(
        lead_time_days=3.0,
        review_period_days=1,
        holding_cost_rate=365.0,
        stockout_cost=9.0,
        service_level=None,
    )
    decision = MyopicNewsvendor(window=4).decide(inputs(params))

    expected = 5.0 * 3 + 5.0 * 1 + 1.2815515655446004 * SIGMA * 1.0
    assert decision.service_level[0] == pytest.approx(0.9)
    assert decision.order_up_to_level[0] == pytest.approx(expected)
    assert decision.order_quantity[0] == math.ceil(expected - 10.0)


def point_inputs() -> ReviewInputs:
    horizons = np.arange(1, 6, dtype=float)[:, None]
    cumulative = (horizons * np.array([1.0, 2.0, 5.0]))[None]
    params = table(lead_time_days=2.5, review_period_days=1)
    return inputs(params, 0.0, cumulative, np.array([0.1, 0.5, 0.9]))


def test_point_at_percentile_reads_the_median_at_l_plus_r() -> None:
    decision = PointAtPercentile().decide(point_inputs())
    assert decision.order_up_to_level[0] == pytest.approx(2.0 * 3.5)
    assert decision.quantile_used[0] == pytest.approx(0.95)


def test_point_at_percentile_mean_integrates_the_quantiles() -> None:
    decision = PointAtPercentile(point="mean").decide(point_inputs())
    # quantiles over 3.5 days: 3.5, 7, 17.5 at levels .1, .5, .9; linear inside,
    # exponential tails through the outer two quantiles on each side
    inner = 0.4 * (3.5 + 7) / 2 + 0.4 * (7 + 17.5) / 2
    upper = 0.1 * (17.5 + 10.5 / math.log(5))
    low_scale = 3.5 / math.log(5)
    lower = 0.1 * (3.5 - low_scale + low_scale * math.exp(-3.5 / low_scale))
    assert decision.order_up_to_level[0] == pytest.approx(inner + upper + lower)


def test_point_at_percentile_needs_quantiles() -> None:
    with pytest.raises(PolicyError, match="cumulative_quantiles"):
        PointAtPercentile().decide(inputs(table()))


def test_round_order_honours_pack_moq_and_capacity() -> None:
    params = PolicyTable.from_policies(
        [
            SkuPolicy("a", case_pack=6),
            SkuPolicy("b", case_pack=6, moq=20),
            SkuPolicy("c", case_pack=6, capacity=30.0),
            SkuPolicy("d", case_pack=6, moq=24, capacity=30.0),
            SkuPolicy("e"),
        ]
    )
    raw = np.array([7.0, 7.0, 40.0, 7.0, -3.0])
    position = np.array([0.0, 0.0, 10.0, 10.0, 0.0])
    np.testing.assert_array_equal(
        round_order(raw, position, params), [12, 24, 18, 0, 0]
    )


def test_baselines_size_capacity_room_by_what_is_on_hand_and_on_order() -> None:
    params = table(capacity=30.0)
    review = inputs(params, position=-40.0)
    review = dataclasses.replace(review, backorders=np.array([50.0]))

    decision = BaseStockNormal().decide(review)

    assert review.held.tolist() == [10.0]
    assert decision.order_quantity.tolist() == [20.0]


def test_critical_ratio_uses_holding_over_the_review_period() -> None:
    params = table(
        review_period_days=7,
        holding_cost_rate=365.0,
        stockout_cost=3.0,
        service_level=None,
    )
    np.testing.assert_allclose(target_service_level(params), [3.0 / (3.0 + 7.0)])
    np.testing.assert_allclose(target_service_level(params, 0.8), [0.8])


@pytest.mark.parametrize("factory", [BaseStockNormal, MyopicNewsvendor])
def test_baselines_honour_every_constraint_in_simulation(factory: type) -> None:
    rng = np.random.default_rng(3)
    demand = rng.poisson(4.0, size=(30, 120)).astype(float)
    sku = SkuPolicy(
        "x",
        lead_time_days=4.0,
        lead_time_spread_days=1.0,
        review_period_days=7,
        moq=12,
        case_pack=6,
        capacity=90.0,
    )
    params = PolicyTable.uniform([f"s{i}" for i in range(30)], sku)

    result = simulate(factory(), demand, params, None, 60, seed=1)

    assert result.total_violations == 0
    assert result.orders.sum() > 0
    assert compute_kpis(result).overall.fill_rate > 0.8
