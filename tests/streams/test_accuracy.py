import datetime as dt

import numpy as np
import pytest

from forecasting.base import QuantileForecast
from streams.accuracy import RollingAccuracy

LEVELS = np.array([0.5, 0.9])


def forecast(skus: list[str], one_day: list[list[float]]) -> QuantileForecast:
    values = np.asarray(one_day, dtype=float)[:, None, :].repeat(3, axis=1)
    return QuantileForecast(
        np.array(skus, dtype=object), dt.date(2011, 8, 1), LEVELS, values
    )


def test_coverage_and_error_score_yesterdays_one_day_quantiles() -> None:
    accuracy = RollingAccuracy(LEVELS)
    made = forecast(["A", "B"], [[1.0, 3.0], [2.0, 4.0]])

    scored = accuracy.update(
        made,
        np.array(["B", "A", "NEW"], dtype=object),
        actual=np.array([5.0, 1.0, 9.0]),
        scale=np.array([2.0, 2.0, 1.0]),
    )

    assert scored
    # A: 1 <= 1 and 1 <= 3; B: 5 > 2 and 5 > 4. NEW was not forecast.
    np.testing.assert_allclose(accuracy.coverage, [0.5, 0.5])
    assert accuracy.scaled_error == pytest.approx(((5 - 2) + (1 - 1)) / 2 / 2.0)


def test_later_closes_are_smoothed_in() -> None:
    accuracy = RollingAccuracy(LEVELS, smoothing=0.5)
    made = forecast(["A"], [[1.0, 3.0]])
    accuracy.update(made, np.array(["A"], dtype=object), np.array([0.0]), np.ones(1))

    accuracy.update(made, np.array(["A"], dtype=object), np.array([9.0]), np.ones(1))

    np.testing.assert_allclose(accuracy.coverage, [0.5, 0.5])


def test_nothing_is_scored_without_common_skus() -> None:
    accuracy = RollingAccuracy(LEVELS)
    made = forecast(["A"], [[1.0, 3.0]])

    assert not accuracy.update(
        made, np.array(["Z"], dtype=object), np.array([1.0]), np.ones(1)
    )
    assert accuracy.coverage is None
