"""The shared shapes: quantile levels every forecaster validates alike."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forecasting.base import ForecastError, check_quantile_levels


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_quantile_levels_that_are_not_finite_are_refused_by_value(
    bad: float,
) -> None:
    with pytest.raises(ForecastError, match=rf"quantile_levels: .*got {bad}"):
        check_quantile_levels((0.1, bad, 0.9))


def test_valid_quantile_levels_come_back_as_a_float_array() -> None:
    levels = check_quantile_levels((0.1, 0.5, 0.9))

    assert levels.dtype == float
    np.testing.assert_array_equal(levels, [0.1, 0.5, 0.9])
