import copy
import dataclasses
import datetime as dt
import math
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from optimization.base import Policy, ReviewInputs, SkuStatus
from optimization.params import PolicyError, PolicyTable, SkuPolicy
from optimization.policy import CycleCosts, QuantilePolicy
from optimization.quantiles import HorizonExtrapolationWarning, quantile_at

LEVELS = np.array(
    [0.005, 0.025, 0.165, 0.25, 0.5, 0.75, 0.835, 0.9, 0.95, 0.975, 0.995]
)


def make_inputs(policies, position, rates=None, horizon=28, noise=1.0):
    """Reviews of normal daily demand: mean ``rates[i]``, sd ``noise * sqrt``."""
    n = len(policies)
    rates = np.full(n, 5.0) if rates is None else np.asarray(rates, dtype=float)
    days = np.arange(1, horizon + 1)[None, :, None]
    sd = noise * np.sqrt(rates[:, None, None] * days)
    cube = rates[:, None, None] * days + stats.norm.ppf(LEVELS) * sd
    cube = np.maximum.accumulate(np.maximum(cube, 0.0), axis=1)
    return ReviewInputs(
        as_of=dt.date(2011, 12, 9),
        inventory_position=np.asarray(position, dtype=float),
        params=PolicyTable.from_policies(policies),
        quantile_levels=LEVELS.copy(),
        cumulative_quantiles=cube,
    )


def test_satisfies_the_policy_protocol_and_pickles():
    policy = QuantilePolicy()

    assert isinstance(policy, Policy)
    assert policy.name == "quantile"
    assert pickle.loads(pickle.dumps(policy)).support_points == policy.support_points


def test_level_is_the_quantile_at_the_critical_ratio():
    sku = SkuPolicy("A", stockout_cost=2.0, unit_cost=4.0, review_period_days=7)
    inputs = make_inputs([sku], [0.0])

    decision = QuantilePolicy().decide(inputs)

    overage = 4.0 * 0.25 / 365 * 7
    ratio = 2.0 / (2.0 + overage)
    assert decision.quantile_used[0] == pytest.approx(ratio)
    # Lead 7 + review 7 = 14 days: row 13 of the cube.
    quantiles = inputs.cumulative_quantiles[:, 13, :]
    level = quantile_at(quantiles, LEVELS, ratio)[0]
    assert decision.order_up_to_level[0] == pytest.approx(level)
    assert decision.order_quantity[0] == math.ceil(level)


def test_service_level_sku_reports_cost_with_the_implied_stockout_cost():
    sku = SkuPolicy("A", service_level=0.9)
    table = PolicyTable.from_policies([sku])

    costs = CycleCosts.from_params(table)

    assert costs.target_level[0] == pytest.approx(0.9)
    assert costs.underage[0] == pytest.approx(costs.overage[0] * 0.9 / 0.1)


def test_rounds_up_to_packs_and_raises_to_the_moq():
    skus = [
        SkuPolicy("A", case_pack=12),
        SkuPolicy("B", case_pack=5, moq=100),
    ]
    inputs = make_inputs(skus, [0.0, 0.0])

    decision = QuantilePolicy().decide(inputs)

    level = decision.order_up_to_level
    assert decision.order_quantity[0] == 12 * math.ceil(level[0] / 12)
    assert decision.order_quantity[1] == 100
    assert decision.status == 0


def test_capacity_below_the_moq_orders_nothing_and_says_so():
    skus = [
        SkuPolicy("A", moq=50, capacity=70.0),
        SkuPolicy("B", case_pack=10, capacity=35.0),
    ]
    inputs = make_inputs(skus, [30.0, 0.0])

    decision = QuantilePolicy().decide(inputs)

    assert decision.order_quantity.tolist() == [0, 30]
    assert decision.sku_status is not None
    assert decision.sku_status.tolist() == [
        SkuStatus.MOQ_BLOCKED,
        SkuStatus.CAPACITY_CUT,
    ]
    assert decision.status == 1
    assert "capacity below the MOQ, no order: 1 SKU(s) (A)" in decision.message


def test_capacity_limits_on_hand_and_on_order_not_the_position():
    # 10 units back-ordered, 20 on order: position 10, 20 units held.
    inputs = make_inputs([SkuPolicy("A", capacity=30.0)], [10.0])
    inputs = dataclasses.replace(inputs, backorders=np.array([10.0]))

    decision = QuantilePolicy().decide(inputs)

    assert inputs.held.tolist() == [20.0]
    assert decision.order_quantity.tolist() == [10]
    assert decision.sku_status is not None
    assert decision.sku_status.tolist() == [SkuStatus.CAPACITY_CUT]


@pytest.mark.parametrize(
    ("lead", "spread", "extrapolated"),
    [(10.0, 4.0, True), (10.0, 0.0, False), (6.0, 1.0, False), (13.0, 0.0, False)],
)
def test_extrapolated_flag_follows_the_longest_lead_time_read(
    lead, spread, extrapolated
):
    sku = SkuPolicy("A", lead_time_days=lead, lead_time_spread_days=spread)
    inputs = make_inputs([sku], [0.0], horizon=14)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decision = QuantilePolicy().decide(inputs)

    warned = any(issubclass(w.category, HorizonExtrapolationWarning) for w in caught)
    assert warned == extrapolated
    assert decision.sku_status is not None
    assert bool(decision.sku_status[0] & SkuStatus.EXTRAPOLATED) == extrapolated
    assert (decision.message != "ok") == extrapolated


def test_high_position_orders_nothing():
    decision = QuantilePolicy().decide(make_inputs([SkuPolicy("A")], [1e4]))

    assert decision.order_quantity[0] == 0
    assert decision.service_level[0] == pytest.approx(1.0)


def test_expected_cost_is_holding_plus_shortage_plus_ordering():
    sku = SkuPolicy("A", stockout_cost=1.0, ordering_cost=3.0)
    decision = QuantilePolicy().decide(make_inputs([sku], [0.0]))

    assert decision.order_quantity[0] > 0
    assert 3.0 < decision.expected_cost[0] < 3.0 + 1.0


policy_records = st.builds(
    SkuPolicy,
    sku=st.just("S"),
    lead_time_days=st.floats(0, 20),
    lead_time_spread_days=st.sampled_from([0.0, 0.0, 1.5]),
    review_period_days=st.integers(1, 7),
    unit_cost=st.floats(0.1, 50),
    holding_cost_rate=st.floats(0, 1),
    stockout_cost=st.one_of(st.none(), st.floats(0.01, 100)),
    service_level=st.floats(0.5, 0.999),
    moq=st.integers(0, 60),
    case_pack=st.integers(1, 24),
    capacity=st.one_of(st.just(math.inf), st.floats(1, 500)),
)


@pytest.mark.filterwarnings(
    "ignore::optimization.quantiles.HorizonExtrapolationWarning"
)
@settings(max_examples=80, deadline=None)
@given(
    st.lists(policy_records, min_size=1, max_size=6),
    st.data(),
)
def test_moq_case_pack_and_capacity_always_hold(records, data):
    n = len(records)
    position = data.draw(st.lists(st.floats(-50, 400), min_size=n, max_size=n))
    rates = data.draw(st.lists(st.floats(0, 30), min_size=n, max_size=n))
    inputs = make_inputs(records, position, rates)
    before = copy.deepcopy(inputs)

    decision = QuantilePolicy().decide(inputs)

    quantity = decision.order_quantity
    pack = inputs.params.case_pack
    moq = inputs.params.moq
    assert np.all(quantity >= 0)
    assert np.all(quantity % pack == 0)
    assert np.all((quantity == 0) | (quantity >= moq))
    within = inputs.inventory_position + quantity <= inputs.params.capacity
    assert np.all((quantity == 0) | within)
    np.testing.assert_array_equal(inputs.inventory_position, before.inventory_position)
    np.testing.assert_array_equal(
        inputs.cumulative_quantiles, before.cumulative_quantiles
    )


# spread lead times reach past the 28-day horizon at the top of the range;
# the extrapolation warning itself is tested with the quantile tools
@pytest.mark.filterwarnings(
    "ignore::optimization.quantiles.HorizonExtrapolationWarning"
)
@settings(max_examples=40, deadline=None)
@given(st.floats(0.5, 0.99), st.floats(0.001, 0.009), st.floats(0, 20), st.floats(0, 5))
def test_level_grows_with_service_level_and_lead_time(service, step, lead, spread):
    skus = [
        SkuPolicy("low", service_level=service, lead_time_days=lead),
        SkuPolicy("high", service_level=service + step, lead_time_days=lead),
        SkuPolicy("later", service_level=service, lead_time_days=lead + 1.5),
        SkuPolicy(
            "spread",
            service_level=service,
            lead_time_days=lead + 0.5,
            lead_time_spread_days=spread,
        ),
        SkuPolicy(
            "spread later",
            service_level=service,
            lead_time_days=lead + 2.0,
            lead_time_spread_days=spread,
        ),
    ]
    decision = QuantilePolicy().decide(make_inputs(skus, np.zeros(5)))

    level = decision.order_up_to_level
    assert level[1] >= level[0]
    assert level[2] >= level[0]
    assert level[4] >= level[3] - 1e-9


def test_rejects_a_cube_of_the_wrong_shape():
    inputs = make_inputs([SkuPolicy("A")], [0.0])
    bad = ReviewInputs(
        inputs.as_of,
        inputs.inventory_position,
        inputs.params,
        inputs.quantile_levels,
        inputs.cumulative_quantiles[:, :, :5],
    )

    with pytest.raises(PolicyError, match="cumulative_quantiles"):
        QuantilePolicy().decide(bad)


def test_rejects_a_bad_configuration():
    with pytest.raises(PolicyError, match="max_service_level"):
        QuantilePolicy(max_service_level=1.0)
