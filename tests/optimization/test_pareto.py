"""Pareto frontier: only non-dominated points, monotone, picking, plotting."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from optimization.baselines import BaseStockNormal
from optimization.kpis import compute_kpis
from optimization.params import PolicyError, PolicyTable, SkuPolicy
from optimization.pareto import (
    Frontier,
    compare_at_fill_rate,
    cost_at_fill_rate,
    expected_frontier,
    kpi_frontier,
    non_dominated,
    plot_frontier,
    portfolio_frontier,
    simulated_sweep,
    with_cost_weight,
    with_service_level,
)
from optimization.simulator import simulate

COST = np.array([5.0, 3.0, 4.0, 8.0, 3.0, 6.0])
FILL = np.array([0.90, 0.80, 0.75, 0.99, 0.80, 0.85])


def test_non_dominated_by_hand() -> None:
    # (4, .75) loses to (3, .80); (6, .85) loses to (5, .90); the second
    # (3, .80) repeats the first
    np.testing.assert_array_equal(
        non_dominated(COST, FILL), [True, True, False, True, False, False]
    )


points = st.lists(
    st.tuples(st.floats(0, 100), st.floats(0, 1)), min_size=1, max_size=40
)


@given(points)
def test_frontier_is_non_dominated_and_monotone(
    pairs: list[tuple[float, float]],
) -> None:
    cost, fill = np.array(pairs).T
    frontier = Frontier(np.arange(len(pairs), dtype=float), cost, fill)
    idx = frontier.efficient

    assert np.all(np.diff(cost[idx]) > 0)
    assert np.all(np.diff(fill[idx]) > 0)
    for i in idx:
        better = (cost <= cost[i]) & (fill >= fill[i])
        strictly = (cost < cost[i]) | (fill > fill[i])
        assert not np.any(better & strictly)
    for j in np.setdiff1d(np.arange(len(pairs)), idx):
        assert np.any((cost[idx] <= cost[j]) & (fill[idx] >= fill[j]))


def test_pick_by_target_weight_and_budget() -> None:
    frontier = Frontier(np.arange(6.0), COST, FILL)
    assert frontier.pick(service_target=0.85) == 0
    assert frontier.pick(service_target=0.999) == 3
    assert frontier.pick(budget=7.0) == 0
    assert frontier.pick(budget=1.0) == 1
    assert frontier.pick(cost_weight=1.0) == 1
    assert frontier.pick(cost_weight=100.0) == 3
    with pytest.raises(PolicyError, match="exactly one"):
        frontier.pick(service_target=0.9, budget=3.0)


def params(n: int) -> PolicyTable:
    # service-level SKUs: total cost is holding + ordering, which buys fill rate
    sku = SkuPolicy("x", lead_time_days=3.0, review_period_days=7, ordering_cost=1.0)
    return PolicyTable.uniform([f"s{i}" for i in range(n)], sku)


def test_simulated_sweep_gives_sku_and_portfolio_frontiers() -> None:
    rng = np.random.default_rng(0)
    demand = rng.poisson(2.0, size=(5, 150)).astype(float)
    table = params(5)

    def run(level: float) -> object:
        result = simulate(BaseStockNormal(service_level=level), demand, table, None, 60)
        return compute_kpis(result)

    levels = [0.5, 0.8, 0.95, 0.99]
    runs = simulated_sweep(levels, run)  # type: ignore[arg-type]
    portfolio = kpi_frontier(levels, runs)
    one = kpi_frontier(levels, runs, sku=2)

    assert portfolio.fill_rate[-1] > portfolio.fill_rate[0]
    assert portfolio.cost[-1] > portfolio.cost[0]
    assert len(portfolio.efficient) >= 2
    assert one.cost[0] == pytest.approx(runs[0].total_cost[2])


def test_cost_weight_replaces_the_service_level() -> None:
    table = with_cost_weight(
        PolicyTable.uniform(["a"], SkuPolicy("a", unit_cost=4.0)), 2.5
    )
    np.testing.assert_allclose(table.stockout_cost, [10.0])
    assert np.isnan(table.service_level).all()


def test_service_level_replaces_the_stockout_cost() -> None:
    sku = SkuPolicy("a", stockout_cost=3.0, service_level=None)
    table = with_service_level(PolicyTable.uniform(["a"], sku), 0.9)
    np.testing.assert_allclose(table.service_level, [0.9])
    assert np.isnan(table.stockout_cost).all()
    with pytest.raises(PolicyError, match="service_level"):
        with_service_level(table, 1.0)


def test_expected_frontier_trades_cost_for_fill_rate() -> None:
    horizons = np.arange(1, 29, dtype=float)[None, :, None]
    levels = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    spread = np.array([0.4, 0.75, 1.0, 1.3, 1.9])
    cumulative = np.repeat(horizons * spread * 2.0, 3, axis=0)
    table = params(3)
    service = [0.5, 0.75, 0.9, 0.95]

    cost, fill = expected_frontier(cumulative, levels, table, service)
    portfolio = portfolio_frontier(service, cost, fill, np.ones(3))

    assert cost.shape == fill.shape == (4, 3)
    assert np.all(np.diff(fill, axis=0) > 0)
    assert np.all((fill > 0) & (fill <= 1))
    assert np.all(np.diff(cost, axis=0) > 0)
    np.testing.assert_array_equal(portfolio.efficient, np.arange(4))


def test_plot_frontier_writes_a_png(tmp_path: object) -> None:
    frontier = Frontier(np.arange(6.0), COST, FILL)
    out = plot_frontier(
        tmp_path / "frontier.png",  # type: ignore[operator]
        {"quantile": frontier},
        {"base_stock": (5.5, 0.88)},
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cost_at_fill_rate_follows_the_sweep_not_only_the_efficient_points() -> None:
    # priced stockouts: cost falls as the fill rate rises, so only the last
    # point is efficient, yet the policy runs at every fill rate swept
    frontier = Frontier(
        np.array([0.5, 0.9, 0.99]), np.array([30.0, 20.0, 10.0]), FILL[[2, 1, 3]]
    )
    got = cost_at_fill_rate(frontier, [0.70, 0.75, 0.80, 0.895, 0.99, 1.0])

    np.testing.assert_allclose(got[:5], [np.nan, 30.0, 20.0, 15.0, 10.0])
    assert np.isnan(got[5])
    np.testing.assert_array_equal(frontier.efficient, [2])


def test_compare_at_fill_rate_by_hand() -> None:
    frontiers = {
        "quantile": Frontier(
            np.arange(3.0), np.array([8.0, 9.0, 12.0]), np.array([0.80, 0.85, 0.90])
        ),
        "a": Frontier(np.arange(2.0), np.array([10.0, 20.0]), np.array([0.80, 0.90])),
        "b": Frontier(np.arange(2.0), np.array([9.0, 11.0]), np.array([0.82, 0.86])),
    }
    found = compare_at_fill_rate(frontiers, "quantile", ["a", "b"], step=0.02)

    np.testing.assert_allclose(found.fill_rate, [0.80, 0.82, 0.84, 0.86, 0.88, 0.90])
    # at 0.84: quantile 8.8, a 14, b 10 -> b is cheapest, saving 12%
    assert list(found.best_baseline) == ["a", "b", "b", "b", "a", "a"]
    np.testing.assert_allclose(found.margin[2], 1 - 8.8 / 10.0)
    np.testing.assert_allclose(found.margin[0], 1 - 8.0 / 10.0)
    np.testing.assert_allclose(found.meets(0.15), [0.80, 0.88, 0.90])


def test_compare_at_fill_rate_needs_named_frontiers() -> None:
    with pytest.raises(PolicyError, match="policy, baselines"):
        compare_at_fill_rate({}, "quantile", ["a"])
