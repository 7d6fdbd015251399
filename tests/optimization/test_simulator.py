"""Closed-loop simulator: timing, lost sales vs back-orders, seeds, reviews."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import stats

from optimization.base import Decision, Policy, ReviewInputs
from optimization.baselines import BaseStockNormal, MyopicNewsvendor, PointAtPercentile
from optimization.params import PolicyTable, SkuPolicy
from optimization.policy import QuantilePolicy
from optimization.simulator import SimulationError, simulate

DEMAND = np.array([[3.0, 4.0, 2.0, 5.0, 0.0, 6.0]])


@dataclass
class OrderUpTo:
    """Orders exactly ``level - inventory_position`` (no rounding)."""

    level: float
    name: str = "order_up_to"
    seen: list[ReviewInputs] | None = None

    def decide(self, inputs: ReviewInputs) -> Decision:
        if self.seen is not None:
            self.seen.append(inputs)
        n = len(inputs.params)
        level = np.full(n, self.level)
        order = np.maximum(level - inputs.inventory_position, 0.0)
        nan = np.full(n, np.nan)
        return Decision(order, level, inputs.inventory_position, nan, nan, nan)


@dataclass
class Fixed:
    """Orders ``quantity`` at every review, whatever the position."""

    quantity: float
    name: str = "fixed"

    def decide(self, inputs: ReviewInputs) -> Decision:
        n = len(inputs.params)
        nan = np.full(n, np.nan)
        order = np.full(n, self.quantity)
        return Decision(order, nan, inputs.inventory_position, nan, nan, nan)


def one_sku(**overrides: object) -> PolicyTable:
    values: dict[str, object] = {
        "lead_time_days": 1.0,
        "review_period_days": 2,
        "unit_cost": 2.0,
        "holding_cost_rate": 0.365,
        "ordering_cost": 5.0,
        "stockout_cost": 3.0,
        "service_level": None,
    }
    values.update(overrides)
    policy = SkuPolicy("A", **values)  # type: ignore[arg-type]
    return PolicyTable.from_policies([policy])


def test_policies_satisfy_the_protocol() -> None:
    assert isinstance(OrderUpTo(8.0), Policy)
    assert isinstance(Fixed(1.0), Policy)


def test_lost_sales_trajectory_by_hand() -> None:
    result = simulate(OrderUpTo(8.0), DEMAND, one_sku(), None, 0, initial_on_hand=5)

    np.testing.assert_array_equal(result.served, [[3, 2, 2, 4, 0, 4]])
    np.testing.assert_array_equal(result.unserved, [[0, 2, 0, 1, 0, 2]])
    np.testing.assert_array_equal(result.arrivals, [[0, 0, 6, 0, 4, 0]])
    np.testing.assert_array_equal(result.orders, [[6, 0, 4, 0, 4, 0]])
    np.testing.assert_array_equal(result.on_hand, [[2, 0, 4, 0, 4, 0]])
    np.testing.assert_array_equal(result.inventory_position, [[8, 6, 8, 4, 8, 4]])
    np.testing.assert_array_equal(result.backorders, np.zeros((1, 6)))
    np.testing.assert_array_equal(result.reviewed, [[1, 0, 1, 0, 1, 0]])
    assert result.total_violations == 0


def test_back_order_trajectory_by_hand() -> None:
    result = simulate(
        OrderUpTo(8.0), DEMAND, one_sku(), None, 0, initial_on_hand=5, lost_sales=False
    )

    np.testing.assert_array_equal(result.served, [[3, 2, 2, 2, 0, 3]])
    np.testing.assert_array_equal(result.unserved, [[0, 2, 0, 3, 0, 3]])
    np.testing.assert_array_equal(result.backorders, [[0, 2, 0, 3, 0, 3]])
    np.testing.assert_array_equal(result.on_hand, [[2, 0, 2, 0, 3, 0]])
    np.testing.assert_array_equal(result.orders, [[6, 0, 6, 0, 5, 0]])
    np.testing.assert_array_equal(result.inventory_position, [[8, 4, 8, 3, 8, 2]])


def test_zero_lead_time_arrives_next_morning() -> None:
    params = one_sku(lead_time_days=0.0, review_period_days=1)
    result = simulate(OrderUpTo(6.0), DEMAND, params, None, 0, initial_on_hand=6)
    np.testing.assert_array_equal(result.arrivals[0, 1:], result.orders[0, :-1])


def test_policy_sees_history_up_to_as_of_and_the_calendar() -> None:
    seen: list[ReviewInputs] = []
    policy = OrderUpTo(8.0, seen=seen)
    first = dt.date(2011, 7, 1)
    simulate(policy, DEMAND, one_sku(), None, 2, initial_on_hand=5, first_day=first)

    assert [inputs.as_of for inputs in seen] == [
        dt.date(2011, 7, 3),
        first.replace(day=5),
    ]
    history = seen[0].demand_history
    assert history is not None
    np.testing.assert_array_equal(history, DEMAND[:, :3])
    assert not history.flags.writeable


def test_review_periods_are_respected() -> None:
    skus = [SkuPolicy(str(r), review_period_days=r) for r in (1, 3, 7)]
    params = PolicyTable.from_policies(skus)
    demand = np.ones((3, 40))
    result = simulate(OrderUpTo(10.0), demand, params, None, 5)

    days = np.arange(35)
    for row, period in enumerate((1, 3, 7)):
        np.testing.assert_array_equal(result.reviewed[row], days % period == 0)
        assert np.all(result.orders[row, days % period != 0] == 0)


def test_seeded_runs_repeat_and_seeds_differ() -> None:
    rng = np.random.default_rng(1)
    demand = rng.poisson(3.0, size=(20, 80)).astype(float)
    policy = SkuPolicy("x", lead_time_days=5.0, lead_time_spread_days=2.0)
    params = PolicyTable.uniform([f"s{i}" for i in range(20)], policy)

    runs = [
        simulate(OrderUpTo(25.0), demand, params, None, 20, seed=s) for s in (7, 7, 8)
    ]

    np.testing.assert_array_equal(runs[0].arrivals, runs[1].arrivals)
    np.testing.assert_array_equal(runs[0].on_hand, runs[1].on_hand)
    assert not np.array_equal(runs[0].arrivals, runs[2].arrivals)


def test_violations_are_counted_not_fixed() -> None:
    params = one_sku(
        lead_time_days=0.0, review_period_days=1, moq=10, case_pack=5, capacity=20.0
    )
    demand = np.zeros((1, 5))
    result = simulate(
        Fixed(7.0), demand, params, None, 0, initial_on_hand=0, budget=5.0
    )

    np.testing.assert_array_equal(result.orders, np.full((1, 5), 7.0))
    assert result.violations == {
        "negative": 0,
        "case_pack": 5,
        "moq": 5,
        "capacity": 3,
        "budget": 5,
    }
    np.testing.assert_array_equal(result.violations_per_sku, [13])


@pytest.mark.parametrize(
    "policy",
    [QuantilePolicy(), BaseStockNormal(), MyopicNewsvendor(), PointAtPercentile()],
)
def test_a_back_order_simulation_with_a_capacity_has_no_violations(
    policy: Policy,
) -> None:
    rng = np.random.default_rng(3)
    n, days = 4, 60
    demand = rng.poisson(5.0, (n, days)).astype(float)
    sku = SkuPolicy("A", lead_time_days=3.0, service_level=0.99, capacity=30.0)
    params = PolicyTable.uniform([f"s{i}" for i in range(n)], sku)
    levels = np.array([0.005, 0.05, 0.25, 0.5, 0.75, 0.95, 0.995])
    horizon = np.arange(1, 29)[None, :, None]
    cube = 5.0 * horizon + stats.norm.ppf(levels) * np.sqrt(5.0 * horizon)
    forecasts = np.broadcast_to(np.maximum(cube, 0.0), (days, n, 28, levels.size))

    result = simulate(
        policy,
        demand,
        params,
        forecasts,
        20,
        quantile_levels=levels,
        lost_sales=False,
        initial_on_hand=0.0,
    )

    assert result.backorders.max() > 0
    assert result.orders.sum() > 0
    assert result.violations["capacity"] == 0
    assert result.total_violations == 0


def test_the_policy_sees_the_back_orders_beside_the_position() -> None:
    seen: list[ReviewInputs] = []
    result = simulate(
        OrderUpTo(6.0, seen=seen),
        DEMAND,
        one_sku(review_period_days=1),
        None,
        0,
        initial_on_hand=5,
        lost_sales=False,
    )

    backorders = [float(r.backorders[0]) for r in seen]
    held = [float(r.held[0] - r.inventory_position[0]) for r in seen]
    assert backorders == result.backorders[0].tolist()
    assert held == backorders
    assert max(backorders) > 0


def test_negative_orders_are_counted_and_place_nothing() -> None:
    result = simulate(Fixed(-1.0), DEMAND, one_sku(), None, 0, initial_on_hand=0)
    assert result.violations["negative"] == 3
    assert result.orders.sum() == 0


def test_precomputed_forecasts_reach_the_policy() -> None:
    seen: list[ReviewInputs] = []
    table = np.arange(6 * 1 * 2 * 3, dtype=float).reshape(6, 1, 2, 3)
    levels = np.array([0.1, 0.5, 0.9])
    simulate(
        OrderUpTo(8.0, seen=seen), DEMAND, one_sku(), table, 0, quantile_levels=levels
    )

    np.testing.assert_array_equal(seen[1].cumulative_quantiles, table[2])
    np.testing.assert_array_equal(seen[1].quantile_levels, levels)


def test_bad_inputs_name_the_field() -> None:
    with pytest.raises(SimulationError, match="start, end"):
        simulate(OrderUpTo(1.0), DEMAND, one_sku(), None, 6)
    with pytest.raises(SimulationError, match="quantile_levels"):
        simulate(OrderUpTo(1.0), DEMAND, one_sku(), np.zeros((6, 1, 2, 3)), 0)
    with pytest.raises(SimulationError, match="demand"):
        simulate(OrderUpTo(1.0), -DEMAND, one_sku(), None, 0)


@pytest.mark.parametrize(
    ("value", "shown"), [(-1.0, "got -1.0"), (np.nan, "got nan"), (np.inf, "got inf")]
)
def test_bad_demand_shows_the_first_bad_value_with_its_row_and_column(
    value: float, shown: str
) -> None:
    demand = np.ones((2, 6))
    demand[1, 4] = value
    demand[1, 5] = -7.0
    params = PolicyTable.from_policies([SkuPolicy("A"), SkuPolicy("B")])

    with pytest.raises(SimulationError, match=r"^demand: ") as error:
        simulate(OrderUpTo(1.0), demand, params, None, 0)

    assert f"{shown} at row 1 (SKU B), column 4" in str(error.value)


def test_bad_initial_stock_shows_the_value_and_its_row() -> None:
    params = PolicyTable.from_policies([SkuPolicy("A"), SkuPolicy("B")])

    with pytest.raises(SimulationError, match=r"^initial_on_hand: ") as error:
        simulate(
            OrderUpTo(1.0), np.ones((2, 6)), params, None, 0, initial_on_hand=[3, -2]
        )

    assert "got -2.0 at row 1 (SKU B)" in str(error.value)
