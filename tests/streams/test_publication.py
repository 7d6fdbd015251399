import datetime as dt

import numpy as np
import pytest

from forecasting.base import QuantileForecast
from optimization.base import Decision
from streams import events
from streams.day_close import CloseResult
from streams.events import decode_command, decode_forecast
from streams.publication import command_records, forecast_records

DAY = dt.date(2011, 8, 5)


def close_result(values: np.ndarray, decision: Decision | None = None) -> CloseResult:
    n = values.shape[0]
    skus = np.array([f"S{i}" for i in range(n)], dtype=object)
    zeros = np.zeros(n)
    return CloseResult(
        day=DAY,
        skus=skus,
        forecast=QuantileForecast(skus, DAY, np.array([0.5, 0.9]), values),
        decision=decision or Decision(zeros, zeros, zeros, zeros, zeros, zeros),
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
        assert raw == events.encode(event)
        assert event.as_of == DAY and event.model_version == "lstm-1"
        assert event.horizons == tuple(range(1, 8))
        np.testing.assert_allclose(event.values, values[row], atol=5e-4)


def decision(**terms: list[float]) -> Decision:
    columns = {
        "order_quantity": [0.0, 12.0, 30.0],
        "order_up_to_level": [4.0, 20.5, 31.0],
        "inventory_position": [5.0, 8.5, 1.0],
        "quantile_used": [0.95, 0.95, np.nan],
        "service_level": [0.95, 0.95, 0.9],
        "expected_cost": [1.5, 2.25, np.nan],
    }
    columns.update(terms)
    return Decision(**{k: np.array(v) for k, v in columns.items()})


def test_command_records_decode_to_the_commands_the_schema_builds() -> None:
    result = close_result(np.zeros((3, 2, 2)), decision())
    ids = [events.command_id(f"S{i}", DAY, "1") for i in (1, 2)]

    records = command_records(result, ids, "lstm-1")

    assert [key for key, _ in records] == [b"S1", b"S2"]

    def command(sku: str, **terms: float | int | None) -> events.ReorderCommand:
        return events.ReorderCommand.issue(
            sku=sku,
            as_of=DAY,
            expected_arrival=DAY,
            policy_version="1",
            model_version="lstm-1",
            **terms,  # type: ignore[arg-type]
        )

    assert [decode_command(raw) for _, raw in records] == [
        command(
            "S1",
            quantity=12,
            inventory_position=8.5,
            order_up_to_level=20.5,
            quantile_used=0.95,
            service_level=0.95,
            expected_cost=2.25,
        ),
        command(
            "S2",
            quantity=30,
            inventory_position=1.0,
            order_up_to_level=31.0,
            quantile_used=None,
            service_level=0.9,
            expected_cost=None,
        ),
    ]
    assert records[0][1] == events.encode(decode_command(records[0][1]))


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ({"order_quantity": [0.0, 2.5, 30.0]}, "quantity: must be a whole number"),
        ({"service_level": [0.9, 1.5, 0.9]}, "service_level: must be finite in"),
        ({"expected_cost": [0.0, -1.0, 0.0]}, "expected_cost: must be finite in"),
        ({"inventory_position": [0.0, np.inf, 0.0]}, "inventory_position: must be"),
    ],
)
def test_a_decision_breaking_the_schema_is_refused_naming_field_and_sku(
    terms: dict[str, list[float]], message: str
) -> None:
    result = close_result(np.zeros((3, 2, 2)), decision(**terms))
    ids = [events.command_id(f"S{i}", DAY, "1") for i in (1, 2)]

    with pytest.raises(events.EventError, match=message) as refused:
        command_records(result, ids, "lstm-1")

    assert "sku 'S1'" in str(refused.value)
