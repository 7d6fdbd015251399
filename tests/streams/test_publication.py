import datetime as dt

import numpy as np

from forecasting.base import QuantileForecast
from optimization.base import Decision
from streams.day_close import CloseResult
from streams.events import decode_forecast
from streams.publication import forecast_records

DAY = dt.date(2011, 8, 5)


def close_result(values: np.ndarray) -> CloseResult:
    n = values.shape[0]
    skus = np.array([f"S{i}" for i in range(n)], dtype=object)
    zeros = np.zeros(n)
    return CloseResult(
        day=DAY,
        skus=skus,
        forecast=QuantileForecast(skus, DAY, np.array([0.5, 0.9]), values),
        decision=Decision(zeros, zeros, zeros, zeros, zeros, zeros),
        reviewed=np.ones(n, dtype=bool),
        expected_arrival=[DAY] * n,
        policy_versions=["1"] * n,
        history=np.zeros((n, 3)),
        forecast_seconds=0.0,
    )


def test_forecast_records_decode_under_the_forecasts_schema() -> None:
    rng = np.random.default_rng(0)
    steps = rng.gamma(1.0, 1.0, size=(3, 7, 2)).astype(np.float32)
    values = np.cumsum(np.cumsum(steps, axis=2), axis=1)

    records = forecast_records(close_result(values), "lstm-1")

    assert [key for key, _ in records] == [b"S0", b"S1", b"S2"]
    for row, (_, raw) in enumerate(records):
        event = decode_forecast(raw)
        assert event.as_of == DAY and event.model_version == "lstm-1"
        assert event.horizons == tuple(range(1, 8))
        np.testing.assert_allclose(event.values, values[row], atol=5e-4)
