"""The ``forecasts`` topic: a SKU's cumulative-demand quantiles after a day close."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import ClassVar

from streams.events import rules
from streams.events.codec import (
    MAX_RECORD_BYTES,
    SCHEMA_VERSION,
    Fields,
    check_fields,
    check_version,
    load_object,
    parse_date,
)
from streams.events.errors import EventError, Reason

#: Longest horizon a forecast event may carry, in days.
MAX_HORIZON_DAYS = 366


@dataclass(frozen=True, slots=True)
class ForecastEvent:
    """Quantiles of a SKU's cumulative demand over days ``as_of + 1 .. as_of + h``.

    ``values[h - 1][j]`` is the ``quantile_levels[j]`` quantile of the units
    sold over the ``h`` days after ``as_of``, shape ``(H, q)`` as nested
    tuples. Values are finite, >= 0 and non-decreasing along both axes.

    Attributes
    ----------
    sku
        The SKU forecast.
    as_of
        The last closed day the forecast uses.
    model_version
        Version of the model weights that produced it.
    horizons
        ``(1, 2, ..., H)``, ``1 <= H <= 366``.
    quantile_levels
        Strictly increasing fractions in (0, 1), shape ``(q,)``.
    values
        Cumulative demand quantiles, shape ``(H, q)``.
    schema_version
        Version of this schema the event follows.
    """

    TOPIC: ClassVar[str] = "forecasts"

    sku: str
    as_of: dt.date
    model_version: str
    horizons: tuple[int, ...]
    quantile_levels: tuple[float, ...]
    values: tuple[tuple[float, ...], ...]
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        check_version(self.schema_version)
        rules.sku(self.sku)
        rules.date("as_of", self.as_of)
        rules.identifier("model_version", self.model_version)
        horizons = _horizons(self.horizons)
        levels = _levels(self.quantile_levels)
        values = _values(self.values, len(horizons), len(levels))
        object.__setattr__(self, "horizons", horizons)
        object.__setattr__(self, "quantile_levels", levels)
        object.__setattr__(self, "values", values)

    @property
    def horizon(self) -> int:
        """``H``, the longest horizon in days."""
        return len(self.horizons)


def _horizons(value: object) -> tuple[int, ...]:
    items = rules.sequence("horizons", value)
    if not 0 < len(items) <= MAX_HORIZON_DAYS:
        raise EventError(
            "horizons", f"must hold 1 to {MAX_HORIZON_DAYS} days", len(items)
        )
    for h, item in enumerate(items, start=1):
        rules.integer(f"horizons[{h - 1}]", item)
        if item != h:
            raise EventError(
                f"horizons[{h - 1}]",
                f"must be {h}: horizons are 1..H",
                item,
                Reason.INCONSISTENT,
            )
    return tuple(items)


def _levels(value: object) -> tuple[float, ...]:
    items = rules.sequence("quantile_levels", value)
    if not items:
        raise EventError("quantile_levels", "must not be empty", [])
    levels = tuple(
        rules.number(
            f"quantile_levels[{j}]", x, 0.0, 1.0, open_low=True, open_high=True
        )
        for j, x in enumerate(items)
    )
    for j in range(1, len(levels)):
        if levels[j] <= levels[j - 1]:
            raise EventError(
                f"quantile_levels[{j}]",
                f"must exceed the level before it ({levels[j - 1]})",
                levels[j],
                Reason.INCONSISTENT,
            )
    return levels


def _values(value: object, horizon: int, q: int) -> tuple[tuple[float, ...], ...]:
    rows = rules.sequence("values", value)
    if len(rows) != horizon:
        raise EventError(
            "values",
            f"must hold one row per horizon ({horizon})",
            len(rows),
            Reason.INCONSISTENT,
        )
    out: list[tuple[float, ...]] = []
    previous: tuple[float, ...] | None = None
    for i, row in enumerate(rows):
        items = rules.sequence(f"values[{i}]", row)
        if len(items) != q:
            raise EventError(
                f"values[{i}]",
                f"must hold one value per quantile level ({q})",
                len(items),
                Reason.INCONSISTENT,
            )
        current = tuple(
            rules.number(f"values[{i}][{j}]", x, low=0.0) for j, x in enumerate(items)
        )
        _check_monotone(i, current, previous)
        out.append(current)
        previous = current
    return tuple(out)


def _check_monotone(
    i: int, row: tuple[float, ...], previous: tuple[float, ...] | None
) -> None:
    for j in range(len(row)):
        if j and row[j] < row[j - 1]:
            raise EventError(
                f"values[{i}][{j}]",
                f"must not fall below the lower level's value ({row[j - 1]})",
                row[j],
                Reason.INCONSISTENT,
            )
        if previous is not None and row[j] < previous[j]:
            raise EventError(
                f"values[{i}][{j}]",
                f"must not fall below the shorter horizon's value ({previous[j]})",
                row[j],
                Reason.INCONSISTENT,
            )


_FORECAST = Fields(
    ForecastEvent.TOPIC,
    required=frozenset(
        {"sku", "as_of", "model_version", "horizons", "quantile_levels", "values"}
    ),
)


def decode_forecast(
    raw: bytes | None, max_bytes: int = MAX_RECORD_BYTES
) -> ForecastEvent:
    """Decode one ``forecasts`` record."""
    obj = load_object(raw, max_bytes)
    check_fields(obj, _FORECAST)
    return ForecastEvent(
        obj["sku"],
        parse_date("as_of", obj["as_of"]),
        obj["model_version"],
        obj["horizons"],
        obj["quantile_levels"],
        obj["values"],
        obj["schema_version"],
    )
