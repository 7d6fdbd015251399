"""Budgets per review: allocation for the quantile policy, a cap for the others."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from optimization.allocation import allocate
from optimization.base import Decision, Policy, ReviewInputs, SkuStatus
from optimization.baselines import BaseStockNormal, MyopicNewsvendor
from optimization.budgeted import (
    AllocatedPolicy,
    BudgetCapped,
    cap_to_budget,
    with_budget,
)
from optimization.params import PolicyError, PolicyTable, SkuPolicy
from optimization.policy import QuantilePolicy
from optimization.simulator import simulate
from optimization.ss_policy import SSPolicy
from tests.optimization.test_policy import LEVELS, make_inputs


class Asks:
    """Orders fixed quantities up to fixed levels, whatever the position."""

    name = "asks"

    def __init__(self, quantity: list[float], level: list[float]) -> None:
        self.quantity = np.asarray(quantity, dtype=float)
        self.level = np.asarray(level, dtype=float)

    def decide(self, inputs: ReviewInputs) -> Decision:
        nan = np.full(self.quantity.shape, np.nan)
        return Decision(
            self.quantity.copy(), self.level, inputs.inventory_position, nan, nan, nan
        )


def review(params: PolicyTable, position: list[float]) -> ReviewInputs:
    n = len(params)
    return ReviewInputs(
        as_of=dt.date(2011, 7, 1),
        inventory_position=np.asarray(position, dtype=float),
        params=params,
        quantile_levels=np.zeros(0),
        cumulative_quantiles=np.zeros((n, 0, 0)),
    )


def test_cap_scales_down_and_refills_the_neediest_by_hand() -> None:
    params = PolicyTable.from_policies(
        [SkuPolicy("a", case_pack=5, moq=10), SkuPolicy("b", case_pack=5, moq=10)]
    )
    # half the spend: a keeps 1 pack (< MOQ of 2, dropped), b keeps 2 packs;
    # the 5 left buy b a third pack (a would need the whole MOQ, 10)
    cut = cap_to_budget(
        np.array([10.0, 20.0]),
        params,
        shortfall=np.array([10.0, 20.0]),
        scale=np.array([10.0, 20.0]),
        budget=15.0,
    )
    np.testing.assert_array_equal(cut, [0.0, 15.0])


def test_cap_hands_leftovers_to_the_sku_furthest_below_its_level() -> None:
    params = PolicyTable.from_policies([SkuPolicy("a"), SkuPolicy("b")])
    # scaled to 3 and 3 (spend 6 of 7); b stands 9 of its 10 below, a 3 of 10
    cut = cap_to_budget(
        np.array([4.0, 5.0]),
        params,
        shortfall=np.array([4.0, 9.0]),
        scale=np.array([10.0, 10.0]),
        budget=7.0,
    )
    np.testing.assert_array_equal(cut, [3.0, 4.0])


def test_capped_policy_flags_cut_skus_and_keeps_levels() -> None:
    params = PolicyTable.from_policies([SkuPolicy("a"), SkuPolicy("b", unit_cost=2)])
    policy = BudgetCapped(Asks([10.0, 10.0], [12.0, 12.0]), budget=15.0)

    decision = policy.decide(review(params, [2.0, 2.0]))

    assert float(np.sum(decision.order_quantity * params.unit_cost)) <= 15.0
    assert decision.status == 1
    assert decision.sku_status is not None
    assert np.all(decision.sku_status & SkuStatus.BUDGET_CUT)
    np.testing.assert_array_equal(decision.order_up_to_level, [12.0, 12.0])
    assert "budget" in decision.message


def test_capped_policy_leaves_a_decision_within_budget_alone() -> None:
    params = PolicyTable.from_policies([SkuPolicy("a")])
    inner = Asks([3.0], [5.0])
    inputs = review(params, [2.0])

    decision = BudgetCapped(inner, budget=3.0).decide(inputs)

    np.testing.assert_array_equal(decision.order_quantity, [3.0])
    assert decision.status == 0


def test_allocated_policy_is_the_allocation() -> None:
    skus = [SkuPolicy(s, stockout_cost=2.0, case_pack=2) for s in "ABC"]
    inputs = make_inputs(skus, [0.0, 10.0, 30.0])
    full = QuantilePolicy().decide(inputs).order_quantity.sum()

    decision = AllocatedPolicy(budget=full / 2).decide(inputs)

    expected = allocate(inputs, full / 2).decision
    np.testing.assert_array_equal(decision.order_quantity, expected.order_quantity)
    assert decision.order_quantity.sum() <= full / 2


def test_with_budget_picks_the_rule_per_policy() -> None:
    quantile = QuantilePolicy()
    assert with_budget(quantile, None) is quantile
    assert isinstance(with_budget(quantile, 10.0), AllocatedPolicy)
    capped = with_budget(BaseStockNormal(), 10.0)
    assert isinstance(capped, BudgetCapped)
    assert capped.name == "base_stock"
    assert isinstance(capped, Policy)


@pytest.mark.parametrize("budget", [-1.0, math.nan])
def test_bad_budget_names_the_field(budget: float) -> None:
    with pytest.raises(PolicyError, match="budget"):
        with_budget(BaseStockNormal(), budget)
    with pytest.raises(PolicyError, match="budget"):
        AllocatedPolicy(budget)


def poisson_forecasts(rates: np.ndarray, horizon: int) -> np.ndarray:
    """Cumulative quantiles ``(n, horizon, q)`` of Poisson demand at ``rates``."""
    days = np.arange(1, horizon + 1)[None, :, None]
    return stats.poisson.ppf(LEVELS[None, None, :], rates[:, None, None] * days)


POLICIES = ("quantile", "base_stock", "newsvendor", "ss")


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(POLICIES),
    st.lists(
        st.tuples(
            st.floats(0.5, 5.0),  # unit cost
            st.integers(1, 6),  # case pack
            st.integers(0, 15),  # MOQ
            st.one_of(st.just(math.inf), st.floats(10.0, 80.0)),  # capacity
            st.floats(0.2, 6.0),  # demand rate
        ),
        min_size=1,
        max_size=5,
    ),
    st.floats(0.0, 120.0),
    st.tuples(st.integers(0, 3), st.integers(1, 3), st.integers(0, 2**16)),
)
def test_budgeted_simulation_never_overspends_nor_breaks_a_rule(
    name: str,
    skus: list[tuple[float, int, int, float, float]],
    budget: float,
    timing: tuple[int, int, int],
) -> None:
    lead_time, review_period, seed = timing
    records = [
        SkuPolicy(
            f"s{i}",
            lead_time_days=float(lead_time),
            lead_time_spread_days=0.5,
            review_period_days=review_period,
            unit_cost=cost,
            stockout_cost=cost,
            service_level=None,
            case_pack=pack,
            moq=moq,
            capacity=capacity,
        )
        for i, (cost, pack, moq, capacity, _) in enumerate(skus)
    ]
    params = PolicyTable.from_policies(records)
    rates = np.array([rate for *_, rate in skus])
    rng = np.random.default_rng(seed)
    demand = rng.poisson(rates[:, None], size=(len(skus), 50)).astype(float)
    cube = poisson_forecasts(rates, 10)
    choices: dict[str, Policy] = {
        "quantile": QuantilePolicy(),
        "base_stock": BaseStockNormal(window=14),
        "newsvendor": MyopicNewsvendor(window=14),
        "ss": SSPolicy(reorder_multiples=(1.0, 3.0), spread_multiples=(2.0, 6.0)),
    }
    policy = choices[name]
    if isinstance(policy, SSPolicy):
        policy.fit(demand[:, :20], params)

    result = simulate(
        with_budget(policy, budget),
        demand,
        params,
        lambda _t: (cube, LEVELS),
        20,
        seed=seed,
        budget=budget,
    )

    assert result.total_violations == 0
    spend = (result.orders * params.unit_cost[:, None]).sum(axis=0)
    assert np.all(spend <= budget * (1 + 1e-9) + 1e-9)
    packs = result.orders / params.case_pack[:, None]
    np.testing.assert_allclose(packs, np.round(packs), atol=1e-9)
    ordered = result.orders > 0
    assert np.all(
        result.orders[ordered]
        >= np.broadcast_to(params.moq[:, None], ordered.shape)[ordered]
    )
    held = np.broadcast_to(params.capacity[:, None], ordered.shape)
    assert np.all(result.inventory_position[ordered] <= held[ordered] + 1e-9)
