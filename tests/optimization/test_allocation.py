import copy
import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from optimization.allocation import AllocationStatus, allocate
from optimization.base import ReviewInputs, SkuStatus
from optimization.budgeted import with_budget
from optimization.params import PolicyTable, SkuPolicy
from optimization.policy import QuantilePolicy
from tests.optimization.test_policy import make_inputs


def brute_force(inputs, budget):
    """Cheapest plan within budget by enumerating every pack combination."""
    plan = QuantilePolicy().plan(inputs)
    n = len(plan.skus)
    costs, spends = [], []
    for i, (top, low) in enumerate(zip(plan.order_packs, plan.min_packs, strict=True)):
        options = np.array([0.0, *range(int(low), int(top) + 1)] if top else [0.0])
        costs.append(plan.expected_cost_rows(np.full(options.size, i), options))
        spends.append(options * plan.case_pack[i] * plan.unit_cost[i])
    total_cost = sum(np.ix_(*costs)[i] for i in range(n))
    total_spend = sum(np.ix_(*spends)[i] for i in range(n))
    return float(np.min(np.where(total_spend <= budget + 1e-9, total_cost, np.inf)))


def reference(inputs, budget):
    """The policy's own orders' cost where they fit, else the brute-force best."""
    plan = QuantilePolicy().plan(inputs)
    spend = float(np.sum(plan.order_packs * plan.case_pack * plan.unit_cost))
    if spend <= budget + 1e-9:
        return float(plan.expected_cost(plan.order_packs).sum())
    return brute_force(inputs, budget)


sku_records = st.builds(
    SkuPolicy,
    sku=st.sampled_from(["A", "B", "C"]),
    lead_time_days=st.floats(1, 5),
    unit_cost=st.floats(0.5, 5),
    holding_cost_rate=st.floats(0.1, 5),
    ordering_cost=st.sampled_from([0.0, 0.0, 0.5]),
    stockout_cost=st.one_of(st.none(), st.floats(0.1, 5)),
    service_level=st.floats(0.6, 0.95),
    moq=st.integers(0, 8),
    case_pack=st.integers(1, 4),
    capacity=st.one_of(st.just(math.inf), st.floats(5, 30)),
)


def small_instance(data, records):
    n = len(records)
    position = data.draw(st.lists(st.floats(-2, 6), min_size=n, max_size=n))
    rates = data.draw(st.lists(st.floats(0.2, 1.5), min_size=n, max_size=n))
    return make_inputs(records, position, rates, horizon=10)


@settings(max_examples=60, deadline=None)
@given(st.lists(sku_records, min_size=1, max_size=3), st.floats(0, 40), st.data())
def test_milp_equals_brute_force(records, budget, data):
    inputs = small_instance(data, records)

    result = allocate(inputs, budget, exact=True)

    assert result.total_expected_cost == pytest.approx(
        reference(inputs, budget), rel=1e-7, abs=1e-9
    )
    assert result.budget_used <= budget + 1e-9


@settings(max_examples=60, deadline=None)
@given(st.lists(sku_records, min_size=1, max_size=3), st.floats(0, 40), st.data())
def test_lagrangian_is_feasible_and_brackets_the_optimum(records, budget, data):
    inputs = small_instance(data, records)
    before = copy.deepcopy(inputs)

    result = allocate(inputs, budget, exact=False)

    best = brute_force(inputs, budget)
    assert result.budget_used <= budget + 1e-9
    assert result.total_expected_cost >= best - 1e-9
    assert result.lower_bound <= best + 1e-9
    if result.status in (AllocationStatus.OPTIMAL, AllocationStatus.NOT_BINDING):
        assert result.total_expected_cost == pytest.approx(
            reference(inputs, budget), rel=1e-7, abs=1e-9
        )
    quantity = result.decision.order_quantity
    pack, moq = inputs.params.case_pack, inputs.params.moq
    assert np.all(quantity % pack == 0)
    assert np.all((quantity == 0) | (quantity >= moq))
    within = inputs.inventory_position + quantity <= inputs.params.capacity
    assert np.all((quantity == 0) | within)
    np.testing.assert_array_equal(inputs.inventory_position, before.inventory_position)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.2, 3), min_size=2, max_size=4),
    st.floats(0.5, 5),
    st.integers(0, 30),
    st.data(),
)
def test_marginal_allocation_is_optimal_for_identical_increments(
    stockout, unit_cost, packs_affordable, data
):
    records = [
        SkuPolicy("S", unit_cost=unit_cost, stockout_cost=p, holding_cost_rate=2.0)
        for p in stockout
    ]
    inputs = small_instance(data, records)
    budget = packs_affordable * unit_cost

    result = allocate(inputs, budget, exact=False)

    best = reference(inputs, budget)
    assert result.total_expected_cost == pytest.approx(best, rel=1e-6, abs=1e-9)


def test_zero_budget_orders_nothing_and_flags_the_cut():
    inputs = make_inputs([SkuPolicy("A"), SkuPolicy("B")], [0.0, 0.0])

    result = allocate(inputs, 0.0)

    assert result.decision.order_quantity.tolist() == [0, 0]
    assert result.status == AllocationStatus.OPTIMAL
    assert result.budget_used == 0.0
    flags = result.decision.sku_status
    assert flags is not None
    assert np.all(flags & SkuStatus.BUDGET_CUT)
    assert "order cut by the budget: 2 SKU(s)" in result.decision.message


def test_negative_budget_is_a_result_not_an_exception():
    inputs = make_inputs([SkuPolicy("A")], [0.0])

    result = allocate(inputs, -5.0)

    assert result.status == AllocationStatus.INFEASIBLE
    assert "budget: must be a number >= 0, got -5.0" in result.message
    assert result.decision.order_quantity.tolist() == [0]


def test_ample_budget_does_not_bind_and_keeps_the_policy_orders():
    inputs = make_inputs([SkuPolicy("A"), SkuPolicy("B", moq=40)], [0.0, 0.0])
    policy = QuantilePolicy().decide(inputs)

    result = allocate(inputs, 1e9)

    assert result.status == AllocationStatus.NOT_BINDING
    np.testing.assert_array_equal(result.decision.order_quantity, policy.order_quantity)
    assert result.lower_bound == pytest.approx(brute_force(inputs, math.inf))
    assert result.gap == pytest.approx(result.total_expected_cost - result.lower_bound)


def normal_review(policy, mean, sd, position):
    """One SKU whose protection-interval demand is normal(mean, sd) at any lead."""
    levels = np.array([0.005, 0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975, 0.995])
    curve = mean + stats.norm.ppf(levels) * sd
    return ReviewInputs(
        as_of=dt.date(2011, 12, 9),
        inventory_position=np.array([position]),
        params=PolicyTable.from_policies([policy]),
        quantile_levels=levels,
        cumulative_quantiles=np.broadcast_to(curve, (1, 28, levels.size)).copy(),
    )


@pytest.mark.parametrize("budget", [1e12, math.inf])
def test_a_budget_that_does_not_bind_orders_what_the_policy_orders(budget):
    # S = 50.4 at the 0.95 level, position 35: the policy rounds 15.4 up to two
    # packs of 12, where one pack costs less in the cycle cost model.
    sd = 6.0
    sku = SkuPolicy("A", case_pack=12, service_level=0.95)
    inputs = normal_review(sku, 50.4 - stats.norm.ppf(0.95) * sd, sd, 35.0)
    policy = QuantilePolicy().decide(inputs)
    assert policy.order_up_to_level[0] == pytest.approx(50.4, abs=0.05)

    decision = with_budget(QuantilePolicy(), budget).decide(inputs)

    assert policy.order_quantity.tolist() == [24]
    assert decision.order_quantity.tolist() == [24]
    assert decision.status == 0
    assert decision.sku_status is not None
    assert not decision.sku_status[0] & SkuStatus.BUDGET_CUT


def test_an_ordering_cost_does_not_drop_an_order_an_infinite_budget_allows():
    sku = SkuPolicy("A", ordering_cost=50.0, service_level=0.95)
    inputs = normal_review(sku, 45.0, 3.0, 34.0)
    asked = QuantilePolicy().decide(inputs).order_quantity

    result = allocate(inputs, math.inf)

    assert asked.tolist() == [16]
    assert result.status == AllocationStatus.NOT_BINDING
    assert result.decision.order_quantity.tolist() == [16]


def test_a_budget_below_the_policy_orders_gets_the_cheapest_plan_and_flags_it():
    sku = SkuPolicy("A", ordering_cost=50.0, service_level=0.95)
    inputs = normal_review(sku, 45.0, 3.0, 34.0)

    result = allocate(inputs, 15.0)

    assert result.status == AllocationStatus.OPTIMAL
    assert result.decision.order_quantity.tolist() == [0]
    assert result.decision.sku_status is not None
    assert result.decision.sku_status[0] & SkuStatus.BUDGET_CUT
    assert result.gap == 0.0


def test_large_instance_uses_the_lagrangian_and_honours_the_budget():
    rng = np.random.default_rng(7)
    n = 500
    records = [
        SkuPolicy(
            f"S{i}",
            unit_cost=float(c),
            stockout_cost=float(p),
            moq=int(m),
            case_pack=int(k),
        )
        for i, (c, p, m, k) in enumerate(
            zip(
                rng.uniform(1, 10, n),
                rng.uniform(0.5, 5, n),
                rng.integers(0, 30, n),
                rng.integers(1, 12, n),
                strict=True,
            )
        )
    ]
    inputs = make_inputs(records, np.zeros(n), rng.uniform(0.5, 20, n))
    full = QuantilePolicy().decide(inputs)
    budget = 0.5 * float(np.sum(full.order_quantity * inputs.params.unit_cost))

    result = allocate(inputs, budget)

    assert result.method == "lagrangian"
    assert result.budget_used <= budget
    assert result.budget_used >= 0.95 * budget
    assert result.lower_bound <= result.total_expected_cost
    assert result.gap <= 1e-3 * result.total_expected_cost
