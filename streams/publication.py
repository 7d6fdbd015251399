"""The records a day close publishes: reorder commands and forecasts."""

from __future__ import annotations

import math

import numpy as np
import orjson

from streams import events
from streams.day_close import CloseResult


def command_records(
    result: CloseResult, command_ids: list[str], model_version: str
) -> list[tuple[bytes, bytes]]:
    """``reorder-commands`` records of a close's orders, as ``(key, value)``."""
    decision = result.decision
    records = []
    for index, command_id in zip(result.ordered, command_ids, strict=True):
        sku = str(result.skus[index])
        command = events.ReorderCommand(
            command_id=command_id,
            sku=sku,
            as_of=result.day,
            quantity=int(decision.order_quantity[index]),
            expected_arrival=result.expected_arrival[index],
            inventory_position=float(decision.inventory_position[index]),
            order_up_to_level=float(decision.order_up_to_level[index]),
            quantile_used=_finite(decision.quantile_used[index]),
            service_level=float(decision.service_level[index]),
            expected_cost=_finite(decision.expected_cost[index]),
            policy_version=result.policy_versions[index],
            model_version=model_version,
        )
        records.append((sku.encode(), events.encode(command)))
    return records


def forecast_records(
    result: CloseResult, model_version: str
) -> list[tuple[bytes, bytes]]:
    """``forecasts`` records of a close, as ``(key, value)``.

    Encoded straight from the arrays: the values are the network's (or the
    baseline's) output, monotone by construction, so the per-value checks of
    :class:`~streams.events.ForecastEvent` are not repeated here for every
    SKU; a test checks that these records decode. Values are rounded to
    thousandths of a unit, which keeps them monotone and the records short.
    """
    forecast = result.forecast
    levels = forecast.quantile_levels.tolist()
    horizons = list(range(1, forecast.horizon + 1))
    values = np.round(np.maximum(forecast.values, 0.0).astype(float), 3).tolist()
    as_of = result.day.isoformat()
    return [
        (
            str(sku).encode(),
            orjson.dumps(
                {
                    "as_of": as_of,
                    "horizons": horizons,
                    "model_version": model_version,
                    "quantile_levels": levels,
                    "schema_version": events.SCHEMA_VERSION,
                    "sku": str(sku),
                    "values": rows,
                }
            ),
        )
        for sku, rows in zip(forecast.skus, values, strict=True)
    ]


def _finite(value: float) -> float | None:
    """``value`` as a float, or None where a policy left the term undefined."""
    number = float(value)
    return number if math.isfinite(number) else None
