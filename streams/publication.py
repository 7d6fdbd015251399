"""The records a day close publishes: reorder commands and forecasts.

Both are encoded straight from the close's arrays, thousands at a time,
rather than through the event dataclasses: what the dataclasses would check
record by record is checked once per close on whole arrays, and tests decode
the records with the topics' own decoders.
"""

from __future__ import annotations

import math

import numpy as np
import orjson

from streams import events
from streams.day_close import CloseResult
from streams.events.commands import MAX_ORDER_QUANTITY

_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def command_records(
    result: CloseResult, command_ids: list[str], model_version: str
) -> list[tuple[bytes, bytes]]:
    """``reorder-commands`` records of a close's orders, as ``(key, value)``.

    Raises
    ------
    streams.events.EventError
        When a decision breaks a rule of the ``reorder-commands`` schema (a
        defect of the policy, never of the input): the message names the
        field, the rule, the value and the SKU.
    """
    ordered = result.ordered
    decision = result.decision
    skus = result.skus[ordered].tolist()
    quantity = decision.order_quantity[ordered]
    _check(skus, "quantity", quantity, 1, MAX_ORDER_QUANTITY, integral=True)
    _check(skus, "service_level", decision.service_level[ordered], 0.0, 1.0)
    _check(
        skus, "quantile_used", decision.quantile_used[ordered], 0.0, 1.0, nullable=True
    )
    _check(
        skus, "expected_cost", decision.expected_cost[ordered], 0.0, None, nullable=True
    )
    for name in ("inventory_position", "order_up_to_level"):
        _check(skus, name, getattr(decision, name)[ordered], None, None)

    as_of = result.day.isoformat()
    rows = zip(
        command_ids,
        skus,
        quantity.astype(np.int64).tolist(),
        [result.expected_arrival[i].isoformat() for i in ordered.tolist()],
        decision.inventory_position[ordered].tolist(),
        decision.order_up_to_level[ordered].tolist(),
        _nullable(decision.quantile_used[ordered]),
        decision.service_level[ordered].tolist(),
        _nullable(decision.expected_cost[ordered]),
        [result.policy_versions[i] for i in ordered.tolist()],
        strict=True,
    )
    return [
        (
            sku.encode(),
            orjson.dumps(
                {
                    "as_of": as_of,
                    "command_id": command_id,
                    "expected_arrival": arrival,
                    "expected_cost": cost,
                    "inventory_position": position,
                    "model_version": model_version,
                    "order_up_to_level": level,
                    "policy_version": version,
                    "quantile_used": used,
                    "quantity": units,
                    "schema_version": events.SCHEMA_VERSION,
                    "service_level": service,
                    "sku": sku,
                }
            ),
        )
        for (
            command_id,
            sku,
            units,
            arrival,
            position,
            level,
            used,
            service,
            cost,
            version,
        ) in rows
    ]


def forecast_records(
    result: CloseResult, model_version: str
) -> list[tuple[bytes, bytes]]:
    """``forecasts`` records of a close, as ``(key, value)``.

    The values are the network's (or the baseline's) output, monotone by
    construction; they are rounded to thousandths of a unit, which keeps them
    monotone and the records short. What every record of the close shares is
    encoded once: keys in sorted order, those before ``sku`` and ``values``.
    """
    forecast = result.forecast
    shared = orjson.dumps(
        {
            "as_of": result.day.isoformat(),
            "horizons": list(range(1, forecast.horizon + 1)),
            "model_version": model_version,
            "quantile_levels": forecast.quantile_levels.tolist(),
            "schema_version": events.SCHEMA_VERSION,
        }
    )
    head = shared[:-1] + b',"sku":'
    values = np.round(np.maximum(forecast.values, 0.0).astype(np.float32), 3)
    return [
        (
            sku.encode(),
            b"".join(
                (
                    head,
                    orjson.dumps(sku),
                    b',"values":',
                    orjson.dumps(rows, option=_NUMPY),
                    b"}",
                )
            ),
        )
        for sku, rows in zip(forecast.skus.tolist(), values, strict=True)
    ]


def _check(
    skus: list[str],
    name: str,
    values: np.ndarray,
    low: float | None,
    high: float | None,
    *,
    nullable: bool = False,
    integral: bool = False,
) -> None:
    """Raise unless every value is finite (or NaN where ``nullable``) in range."""
    finite = np.isfinite(values)
    bad = ~finite if not nullable else np.isinf(values)
    if integral:
        bad |= finite & (values != np.floor(values))
    if low is not None:
        bad |= finite & (values < low)
    if high is not None:
        bad |= finite & (values > high)
    if np.any(bad):
        first = int(np.flatnonzero(bad)[0])
        raise events.EventError(
            name,
            f"must be {'a whole number' if integral else 'finite'} in"
            f" [{low}, {high}] (sku {skus[first]!r})",
            float(values[first]),
        )


def _nullable(values: np.ndarray) -> list[float | None]:
    """``values`` as floats, None where a policy left the term undefined."""
    return [v if math.isfinite(v) else None for v in values.tolist()]
