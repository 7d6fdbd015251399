from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from optimization.fill_price import (
    FillPriceStatus,
    fill_price_levels,
    price_levels,
    select_fill_price,
    select_for_review,
)
from optimization.params import PolicyError, SkuPolicy
from optimization.pareto import with_service_level
from optimization.policy import QuantilePolicy
from optimization.quantiles import expected_leftover, expected_shortage, quantile_at
from tests.optimization.test_policy import make_inputs

# Finer levels than a forecast's, so that a brute-force grid can get close.
FINE = np.linspace(0.01, 0.99, 99)


def demand_quantiles(means, cvs, levels=FINE):
    """Gamma demand over the protection interval, one row per SKU."""
    shape = 1.0 / np.asarray(cvs, dtype=float) ** 2
    scale = np.asarray(means, dtype=float) / shape
    return stats.gamma.ppf(levels[None, :], shape[:, None], scale=scale[:, None])


def brute_force(quantiles, holding, stockout, allowed, points):
    """Least total cost over a grid of levels per SKU, shortage within ``allowed``.

    Every SKU's order-up-to level ranges over its quantiles at ``points``
    levels; all combinations are enumerated.
    """
    costs, shorts = [], []
    for i in range(quantiles.shape[0]):
        row = np.repeat(quantiles[i : i + 1], points.size, axis=0)
        stock = quantile_at(row, FINE, points)
        short = expected_shortage(row, FINE, stock)
        left = expected_leftover(row, FINE, stock)
        costs.append(holding[i] * left + stockout[i] * short)
        shorts.append(short)
    total_cost = sum(np.ix_(*costs))
    total_short = sum(np.ix_(*shorts))
    return float(np.min(np.where(total_short <= allowed, total_cost, np.inf)))


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(5, 200),  # mean demand
            st.floats(0.2, 1.5),  # coefficient of variation
            st.floats(0.01, 2.0),  # holding cost of a cycle
            st.sampled_from([0.0, 0.0, 0.5, 3.0]),  # stockout cost
        ),
        min_size=2,
        max_size=3,
    ),
    st.floats(0.5, 0.97),
)
def test_the_selection_is_no_worse_than_brute_force(skus, target):
    mean, cv, holding, stockout = (
        np.array(column) for column in zip(*skus, strict=True)
    )
    quantiles = demand_quantiles(mean, cv)
    cycle = mean / 2

    result = select_fill_price(
        quantiles,
        FINE,
        holding=holding,
        stockout=stockout,
        cycle_demand=cycle,
        target_fill_rate=target,
        max_level=0.99,
    )

    allowed = (1 - target) * cycle.sum()
    best = brute_force(
        quantiles, holding, stockout, allowed, np.linspace(0.01, 0.99, 60)
    )
    if result.status is FillPriceStatus.INFEASIBLE:
        assert best == np.inf
        return
    assert result.expected_fill_rate >= target - 1e-9
    assert result.expected_cost <= best * (1 + 1e-9) + 1e-9
    assert result.lower_bound <= best * (1 + 1e-9) + 1e-9
    assert result.expected_cost - result.lower_bound <= 1e-6 * max(best, 1.0)


def test_one_sku_stocks_exactly_what_the_target_allows_short():
    quantiles = demand_quantiles([100.0], [0.5])
    cycle = np.array([50.0])

    result = select_fill_price(
        quantiles,
        FINE,
        holding=np.array([1.0]),
        stockout=np.array([0.0]),
        cycle_demand=cycle,
        target_fill_rate=0.98,
    )

    def excess_short(stock: float) -> float:
        short = expected_shortage(quantiles, FINE, np.array([stock]))[0]
        return short - 0.02 * cycle[0]

    exact = optimize.brentq(excess_short, 0.0, 1000.0, xtol=1e-10)
    assert result.status is FillPriceStatus.OPTIMAL
    assert result.order_up_to_level[0] == pytest.approx(exact, rel=1e-8)
    assert result.expected_fill_rate == pytest.approx(0.98, abs=1e-9)
    # a service-level SKU is priced by the fill price alone
    price = result.fill_price
    assert result.service_level[0] == pytest.approx(price / (price + 1.0))


def select(means, cvs, holding, stockout=None, **options):
    """:func:`select_fill_price` on gamma demand; a cycle is half the interval."""
    means = np.asarray(means, dtype=float)
    return select_fill_price(
        demand_quantiles(means, cvs),
        FINE,
        holding=np.asarray(holding, dtype=float),
        stockout=np.zeros(means.size) if stockout is None else np.asarray(stockout),
        cycle_demand=means / 2,
        **options,
    )


def test_the_cheaper_sku_gets_the_higher_level():
    result = select([50, 50], [0.6, 0.6], [0.1, 1.0], target_fill_rate=0.95)

    assert result.status is FillPriceStatus.OPTIMAL
    assert result.service_level[0] > result.service_level[1]
    # identical SKUs at identical costs share one level
    twin = select([50, 50], [0.6, 0.6], [1.0, 1.0], target_fill_rate=0.95)
    assert twin.service_level[0] == pytest.approx(twin.service_level[1])


def test_a_target_the_costs_already_meet_is_not_binding():
    holding, stockout = np.array([0.2, 0.1]), np.array([10.0, 5.0])

    result = select([50, 80], [0.5, 0.3], holding, stockout, target_fill_rate=0.6)

    assert result.status is FillPriceStatus.NOT_BINDING
    assert result.fill_price == 0.0
    np.testing.assert_allclose(result.service_level, stockout / (stockout + holding))


def test_an_unreachable_target_is_a_result_not_an_exception():
    result = select(
        [50, 80], [0.5, 0.3], [0.2, 0.1], target_fill_rate=0.999, max_level=0.9
    )

    assert result.status is FillPriceStatus.INFEASIBLE
    assert result.fill_price == np.inf
    assert result.lower_bound == -np.inf
    np.testing.assert_allclose(result.service_level, 0.9)
    assert result.expected_fill_rate < 0.999
    assert "target_fill_rate: 0.999" in result.message


@pytest.mark.parametrize(
    ("keyword", "value", "field"),
    [
        ("target_fill_rate", 1.0, "target_fill_rate"),
        ("holding", np.array([-1.0, 0.1]), "holding"),
        ("cycle_demand", np.array([1.0]), "cycle_demand"),
        ("quantiles", np.ones((2, 3)), "quantiles"),
    ],
)
def test_bad_input_names_the_field(keyword, value, field):
    arguments = {
        "quantiles": demand_quantiles([50.0, 80.0], [0.5, 0.3]),
        "quantile_levels": FINE,
        "holding": np.array([0.2, 0.1]),
        "stockout": np.zeros(2),
        "cycle_demand": np.array([25.0, 40.0]),
        "target_fill_rate": 0.9,
        keyword: value,
    }

    with pytest.raises(PolicyError, match=rf"^{field}: "):
        select_fill_price(**arguments)


@pytest.mark.parametrize(
    ("keyword", "values", "shown"),
    [
        ("holding", [1.0, 1.0, 1.0, 1.0, -2.0], "element 4 of 5 is not, got -2.0"),
        ("stockout", [0.0, np.nan, 0.0, 0.0, 0.0], "element 1 of 5 is not, got nan"),
        ("cycle_demand", [1.0] * 3 + [np.inf] * 2, "element 3 of 5 is not, got inf"),
    ],
)
def test_bad_input_shows_the_first_bad_element_and_its_value(keyword, values, shown):
    arguments = {
        "quantiles": demand_quantiles([50.0] * 5, [0.5] * 5),
        "quantile_levels": FINE,
        "holding": np.ones(5),
        "stockout": np.zeros(5),
        "cycle_demand": np.full(5, 25.0),
        "target_fill_rate": 0.9,
        keyword: np.array(values),
    }

    with pytest.raises(PolicyError, match=rf"^{keyword}: ") as error:
        select_fill_price(**arguments)

    assert shown in str(error.value)


@given(
    st.lists(st.floats(0.0, 10.0), min_size=1, max_size=5),
    st.lists(st.floats(0.0, 10.0), min_size=5, max_size=5),
    st.floats(0.0, 100.0),
    st.floats(0.0, 100.0),
)
def test_levels_rise_with_the_fill_price(holding, stockout, low, high):
    holding = np.array(holding)
    stockout = np.array(stockout[: holding.size])
    low, high = sorted((low, high))

    below = price_levels(holding, stockout, low)
    above = price_levels(holding, stockout, high)

    assert np.all(above >= below)
    assert np.all((below > 0) & (above < 1))


def test_levels_of_a_policy_table():
    priced = SkuPolicy("A", unit_cost=3.65, review_period_days=7, stockout_cost=2.0)
    by_service = SkuPolicy("B", unit_cost=3.65, review_period_days=7)
    params = make_inputs([priced, by_service], [0.0, 0.0]).params
    holding = 3.65 * 0.25 / 365 * 7  # 0.0175 a cycle

    at_zero = fill_price_levels(params, 0.0)
    at_one = fill_price_levels(params, 1.0)

    assert at_zero[0] == pytest.approx(2.0 / (2.0 + holding))
    assert at_zero[1] < 1e-300
    assert at_one[0] == pytest.approx(3.0 / (3.0 + holding))
    assert at_one[1] == pytest.approx(1.0 / (1.0 + holding))
    with pytest.raises(PolicyError, match=r"^fill_price: "):
        fill_price_levels(params, -1.0)


def test_the_review_selection_is_what_the_policy_then_orders():
    records = [
        SkuPolicy(sku, unit_cost=cost, lead_time_days=3.0, review_period_days=7)
        for sku, cost in (("A", 0.5), ("B", 2.0), ("C", 8.0))
    ]
    inputs = make_inputs(records, [0.0, 5.0, 10.0], rates=[4.0, 2.0, 1.0])

    result = select_for_review(inputs, 0.97)

    assert result.status is FillPriceStatus.OPTIMAL
    assert result.expected_fill_rate >= 0.97 - 1e-9
    assert result.service_level[0] > result.service_level[1] > result.service_level[2]
    at_levels = replace(
        inputs, params=with_service_level(inputs.params, result.service_level)
    )
    decision = QuantilePolicy().decide(at_levels)
    np.testing.assert_allclose(decision.order_up_to_level, result.order_up_to_level)
