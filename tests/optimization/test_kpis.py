"""KPIs of a hand-computed simulation, checked exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from optimization.kpis import compute_kpis
from optimization.simulator import simulate
from tests.optimization.test_simulator import DEMAND, OrderUpTo, one_sku


def test_every_kpi_of_the_lost_sales_scenario() -> None:
    result = simulate(OrderUpTo(8.0), DEMAND, one_sku(), None, 0, initial_on_hand=5)
    kpis = compute_kpis(result)
    overall = kpis.overall

    assert overall.demand_units == 20
    assert overall.served_units == 15
    assert overall.fill_rate == pytest.approx(0.75)
    # cycles by review: {0}, {1, 2}, {3, 4}, {5}; stockouts on days 1, 3, 5
    np.testing.assert_array_equal(kpis.cycles, [4])
    assert overall.cycle_service_level == pytest.approx(0.25)
    assert overall.stockout_days == 3
    assert overall.lost_units == 5
    assert overall.backordered_units == 0
    assert overall.average_on_hand == pytest.approx(10 / 6)
    assert overall.inventory_turns == pytest.approx(15 / (10 / 6) * 365 / 6)
    assert overall.orders_placed == 3
    assert overall.purchase_cost == pytest.approx(14 * 2.0)
    # daily holding cost: 2.0 * 0.365 / 365 = 0.002 per unit
    assert overall.holding_cost == pytest.approx(10 * 0.002)
    assert overall.ordering_cost == pytest.approx(3 * 5.0)
    assert overall.stockout_cost == pytest.approx(5 * 3.0)
    assert overall.total_cost == pytest.approx(0.02 + 15.0 + 15.0)


def test_back_orders_are_not_lost() -> None:
    result = simulate(
        OrderUpTo(8.0), DEMAND, one_sku(), None, 0, initial_on_hand=5, lost_sales=False
    )
    overall = compute_kpis(result).overall
    assert overall.fill_rate == pytest.approx(12 / 20)
    assert overall.lost_units == 0
    assert overall.backordered_units == 8
    assert overall.stockout_cost == pytest.approx(8 * 3.0)


def test_portfolio_sums_and_ratios() -> None:
    demand = np.vstack([DEMAND, np.zeros_like(DEMAND)])
    params = one_sku()
    params = type(params)(**{k: np.repeat(v, 2) for k, v in vars(params).items()})
    result = simulate(OrderUpTo(8.0), demand, params, None, 0, initial_on_hand=5)
    kpis = compute_kpis(result, stockout_penalty=1.0)

    assert np.isnan(kpis.fill_rate[1])
    assert kpis.overall.fill_rate == pytest.approx(0.75)
    assert kpis.overall.stockout_cost == pytest.approx(5.0)
    assert kpis.overall.cycle_service_level == pytest.approx((1 + 4) / 8)


def test_value_fill_rate_weights_units_by_their_cost() -> None:
    demand = np.vstack([DEMAND, DEMAND])
    params = one_sku()
    params = type(params)(**{k: np.repeat(v, 2) for k, v in vars(params).items()})
    params = type(params)(**{**vars(params), "unit_cost": np.array([2.0, 6.0])})
    # the dear SKU starts with enough stock never to run out
    result = simulate(OrderUpTo(8.0), demand, params, None, 0, initial_on_hand=[5, 99])
    overall = compute_kpis(result).overall

    assert overall.fill_rate == pytest.approx(35 / 40)
    assert overall.value_fill_rate == pytest.approx((15 * 2 + 20 * 6) / (20 * 8))


def test_to_dict_is_json_ready() -> None:
    demand = np.zeros((1, 6))
    result = simulate(OrderUpTo(0.0), demand, one_sku(), None, 0, initial_on_hand=0)
    payload = compute_kpis(result).to_dict(per_sku=True)

    text = json.dumps(payload)
    assert json.loads(text)["overall"]["fill_rate"] is None
    per_sku = payload["per_sku"]
    assert isinstance(per_sku, dict)
    assert set(per_sku) == {"A"}
