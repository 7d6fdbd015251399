"""Per-SKU policy records: every field's rule, named in the error."""

import math

import pytest

from optimization.params import PolicyError, PolicyTable, SkuPolicy


@pytest.mark.parametrize("service_level", [None, 0.95])
@pytest.mark.parametrize("cost", [math.inf, -math.inf, math.nan, 0.0, -1.0])
def test_stockout_cost_must_be_finite_and_positive(cost, service_level):
    with pytest.raises(PolicyError, match=r"^stockout_cost: .*finite") as error:
        SkuPolicy("A", stockout_cost=cost, service_level=service_level)

    assert error.value.field == "stockout_cost"
    assert error.value.value is cost
    assert repr(cost) in str(error.value)


def test_a_large_finite_stockout_cost_is_kept_as_given():
    table = PolicyTable.from_policies([SkuPolicy("A", stockout_cost=1e9)])

    assert table.stockout_cost.tolist() == [1e9]
