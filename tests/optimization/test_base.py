import dataclasses
import math

import numpy as np
import pytest

from optimization.params import PolicyError, SkuPolicy
from tests.optimization.test_policy import make_inputs


@pytest.mark.parametrize(
    ("backorders", "shown"),
    [([-1.0], "row 0 (A), got -1.0"), ([math.nan], "got nan"), ([1.0, 2.0], "(2,)")],
)
def test_back_orders_that_are_negative_or_misshapen_are_refused(backorders, shown):
    inputs = make_inputs([SkuPolicy("A")], [0.0])

    with pytest.raises(PolicyError, match="backorders") as caught:
        dataclasses.replace(inputs, backorders=np.array(backorders))

    assert shown in str(caught.value)


def test_what_is_held_adds_the_back_orders_to_the_position():
    inputs = make_inputs([SkuPolicy("A"), SkuPolicy("B")], [-4.0, 10.0])

    with_backorders = dataclasses.replace(inputs, backorders=np.array([6.0, 0.0]))

    assert inputs.held.tolist() == [-4.0, 10.0]
    assert with_backorders.held.tolist() == [2.0, 10.0]
