"""The daily inventory ledger a demo's topics imply, SKU by SKU.

:func:`reconstruct` takes what a demo read back from ``sales-events``,
``stock-events`` and ``reorder-commands`` as DataFrames (the schema's field
names as columns) and rebuilds each SKU's stock day by day. It follows the
worker's conventions:

- a day is the local calendar day of ``occurred_at`` in ``timezone``; a
  command's day is its ``as_of``;
- on hand starts at 0 on the first day any input holds (the first replayed
  day, warm-up included) and follows the back-order convention: net sales
  (returns add units back) decrement it even below zero, receipts and
  adjustments add to it, a count replaces it;
- demand is the day's net sales clipped at 0, as the worker closes a day;
- within a day, stock events come first: receipts and adjustments arrive at
  the start of the day (a count is taken after them), then the day's sales
  are served. Units served from stock are
  ``min(demand, max(on hand after receipts, 0))``, so receipts fill
  back-orders before the day's demand;
- stock events count by event time, whereas a worker applies them when it
  reads them: both agree on the inventory position, not always on how it
  splits between on hand and on order.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

_SALES_COLUMNS = ("event_id", "sku", "quantity", "occurred_at")
_RECEIPTS_COLUMNS = ("event_id", "sku", "kind", "quantity", "occurred_at")
_COMMANDS_COLUMNS = ("command_id", "sku", "as_of", "quantity")
_OFFSET = r"(?:Z|[+-]\d\d:?\d\d)$"


class DemoReportError(ValueError):
    """A demo report input breaks a rule; the message names field, rule, value."""

    def __init__(self, field: str, rule: str, value: object) -> None:
        super().__init__(f"{field}: {rule}, got {value!r}")
        self.field = field
        self.rule = rule
        self.value = value


@dataclass(frozen=True)
class InventoryLedger:
    """Per-SKU daily flows and stock from the first replayed day to ``end``.

    Every array but ``skus`` and ``days`` has shape ``(n_skus, n_days)``.

    Attributes
    ----------
    skus
        SKUs with a sale, stock event or command, sorted, shape ``(n_skus,)``.
    days
        Local calendar days, ``datetime64[D]``, shape ``(n_days,)``.
    demand
        Units demanded: net sales clipped at 0.
    received
        Units received (``receipt`` stock events).
    on_hand
        Units on hand at the close of the day; negative is back-ordered.
    served
        Units served from stock on the day they were demanded.
    ordered
        Units of the commands decided that day (``as_of``).
    orders
        Commands decided that day.
    """

    skus: np.ndarray
    days: np.ndarray
    demand: np.ndarray
    received: np.ndarray
    on_hand: np.ndarray
    served: np.ndarray
    ordered: np.ndarray
    orders: np.ndarray

    def index_of(self, day: dt.date) -> int:
        """Column of ``day``; outside ``0..n_days - 1`` when not in the ledger."""
        return int((np.datetime64(day, "D") - self.days[0]).astype(int))


@dataclass(frozen=True)
class LedgerInputs:
    """Deduplicated inputs, each with a ``day`` column (``datetime64[D]``)."""

    sales: pd.DataFrame
    stock: pd.DataFrame
    commands: pd.DataFrame


def reconstruct(
    sales: pd.DataFrame,
    receipts: pd.DataFrame,
    commands: pd.DataFrame,
    *,
    start: dt.date,
    end: dt.date,
    timezone: str = "Europe/London",
) -> InventoryLedger:
    """Rebuild every SKU's daily demand, receipts, orders and stock.

    Rows after ``end`` are left out; the ledger starts on the earliest day of
    any input, or on ``start`` if that is earlier. The module docstring
    states the conventions.

    Raises
    ------
    DemoReportError
        If a column is missing, a timestamp has no UTC offset, ``end``
        precedes ``start`` or ``timezone`` is not an IANA zone.
    """
    inputs = normalise_inputs(
        sales, receipts, commands, start=start, end=end, timezone=timezone
    )
    return build_ledger(inputs, start, end)


def normalise_inputs(
    sales: pd.DataFrame,
    receipts: pd.DataFrame,
    commands: pd.DataFrame,
    *,
    start: dt.date,
    end: dt.date,
    timezone: str,
) -> LedgerInputs:
    """Check and deduplicate the records, date them and drop those after ``end``.

    Raises
    ------
    DemoReportError
        As :func:`reconstruct`.
    """
    try:
        zone = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise DemoReportError(
            "timezone", "must be an IANA zone name", timezone
        ) from None
    if end < start:
        raise DemoReportError("end", f"must not precede start ({start})", end)
    sales = checked_frame("sales", sales, _SALES_COLUMNS)
    stock = checked_frame("receipts", receipts, _RECEIPTS_COLUMNS)
    commands = checked_frame("commands", commands, _COMMANDS_COLUMNS)
    sales = sales.drop_duplicates("event_id")
    stock = stock.drop_duplicates("event_id")
    commands = commands.drop_duplicates("command_id")
    stock = stock.assign(instant=_instants("receipts", stock["occurred_at"]))
    sales = sales.assign(day=_local_days("sales", sales["occurred_at"], zone))
    stock = stock.assign(day=_local_days("receipts", stock["occurred_at"], zone))
    commands = commands.assign(day=as_days("commands", commands["as_of"]))
    last = np.datetime64(end, "D")
    return LedgerInputs(*(f[f["day"] <= last] for f in (sales, stock, commands)))


def build_ledger(inputs: LedgerInputs, start: dt.date, end: dt.date) -> InventoryLedger:
    """The ledger of :func:`normalise_inputs`' records, as :func:`reconstruct`."""
    sales, stock, commands = inputs.sales, inputs.stock, inputs.commands
    frames = (sales, stock, commands)
    first = min(
        [np.datetime64(start, "D")] + [day_column(f).min() for f in frames if len(f)]
    )
    days = np.arange(first, np.datetime64(end, "D") + 1)
    skus = np.unique(np.concatenate([f["sku"].to_numpy(str) for f in frames]))

    def grid(frame: pd.DataFrame, weights: Any) -> np.ndarray:
        rows = np.searchsorted(skus, frame["sku"].to_numpy(str))
        cols = (day_column(frame) - first).astype(np.int64)
        flat = np.bincount(
            rows * days.size + cols,
            np.asarray(weights, float),
            minlength=skus.size * days.size,
        )
        return flat.reshape(skus.size, days.size)

    kind = stock["kind"].astype(str)
    net = grid(sales, sales["quantity"])
    received = grid(stock[kind == "receipt"], stock["quantity"][kind == "receipt"])
    adjusted = grid(
        stock[kind == "adjustment"], stock["quantity"][kind == "adjustment"]
    )
    counts = stock[kind == "count"].sort_values("instant")
    counts = counts.drop_duplicates(["sku", "day"], keep="last")
    counted = grid(counts, counts["quantity"])
    has_count = grid(counts, np.ones(len(counts))) > 0

    flows = np.cumsum(received + adjusted - net, axis=1)
    # A count on day k sets the close of k to count - net[k]; later closes
    # add the flows after k, so carry that offset forward from each count.
    offset = np.where(has_count, counted - net - flows, 0.0)
    last_count = np.maximum.accumulate(
        np.where(has_count, np.arange(days.size), -1), axis=1
    )
    carried = np.take_along_axis(offset, np.maximum(last_count, 0), axis=1)
    on_hand = flows + np.where(last_count >= 0, carried, 0.0)
    demand = np.maximum(net, 0.0)
    return InventoryLedger(
        skus=skus,
        days=days,
        demand=demand,
        received=received,
        on_hand=on_hand,
        served=np.minimum(demand, np.maximum(on_hand + net, 0.0)),
        ordered=grid(commands, commands["quantity"]),
        orders=grid(commands, np.ones(len(commands))).astype(np.int64),
    )


def realized_demand(
    ledger: InventoryLedger, frame: pd.DataFrame, horizons: tuple[int, ...]
) -> np.ndarray:
    """Demand over the ``h`` days after each row's ``day``, shape ``(n, h)``.

    NaN where those days leave the ledger; 0 for a SKU the ledger lacks.
    """
    cumulative = np.zeros((ledger.skus.size + 1, ledger.days.size + 1))
    cumulative[:-1, 1:] = np.cumsum(ledger.demand, axis=1)
    sku = frame["sku"].to_numpy(str)
    rows = np.searchsorted(ledger.skus, sku)
    known = rows < ledger.skus.size
    known[known] = ledger.skus[rows[known]] == sku[known]
    rows = np.where(known, rows, ledger.skus.size)
    after = (day_column(frame) - ledger.days[0]).astype(np.int64) + 1
    out = np.full((len(frame), len(horizons)), np.nan)
    for i, h in enumerate(horizons):
        ok = (after >= 0) & (after + h <= ledger.days.size)
        out[ok, i] = (
            cumulative[rows[ok], after[ok] + h] - cumulative[rows[ok], after[ok]]
        )
    return out


def checked_frame(
    name: str, frame: pd.DataFrame, columns: tuple[str, ...]
) -> pd.DataFrame:
    """``frame`` with its required ``columns``; an empty frame may lack them."""
    if frame.empty:
        return pd.DataFrame(columns=list(dict.fromkeys([*columns, *frame.columns])))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DemoReportError(name, f"must have the columns {list(columns)}", missing)
    return frame.reset_index(drop=True)


def day_column(frame: pd.DataFrame) -> np.ndarray:
    """The ``day`` column as ``datetime64[D]``, shape ``(n,)``."""
    return frame["day"].to_numpy().astype("datetime64[D]")


def as_days(name: str, values: pd.Series) -> np.ndarray:
    """Dates (``name.as_of``) as ``datetime64[D]``, shape ``(n,)``."""
    try:
        return pd.to_datetime(values).to_numpy().astype("datetime64[D]")
    except (ValueError, TypeError):
        raise DemoReportError(
            f"{name}.as_of", "must be a date", values.iloc[0]
        ) from None


def _instants(name: str, values: pd.Series) -> pd.DatetimeIndex:
    field = f"{name}.occurred_at"
    if values.empty:
        return pd.DatetimeIndex([], tz="UTC")
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return pd.DatetimeIndex(values).tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        raise DemoReportError(field, "must carry a UTC offset", values.iloc[0])
    text = values.astype(str)
    naive = ~text.str.contains(_OFFSET)
    if naive.any():
        raise DemoReportError(field, "must carry a UTC offset", text[naive].iloc[0])
    try:
        return pd.DatetimeIndex(pd.to_datetime(text, utc=True, format="ISO8601"))
    except ValueError as error:
        raise DemoReportError(
            field, "must be an ISO 8601 datetime", str(error)
        ) from None


def _local_days(name: str, values: pd.Series, zone: zoneinfo.ZoneInfo) -> np.ndarray:
    local = _instants(name, values).tz_convert(zone).tz_localize(None)
    return local.to_numpy().astype("datetime64[D]")
