"""The end-of-demo report: KPIs of the closed loop and charts, from its topics.

:func:`build_report` takes what a demo read back from ``sales-events``,
``stock-events``, ``reorder-commands`` and ``forecasts`` as DataFrames (the
schema's field names as columns), rebuilds each SKU's stock day by day and
writes ``report.md``, ``kpis.json`` and one chart per top-selling SKU.

The daily ledger (:func:`reconstruct`) follows the worker's conventions:

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
import json
import math
import re
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

KPI_NAMES = (
    "demand_units",
    "served_units",
    "fill_rate",
    "stockout_days",
    "average_on_hand",
    "backordered_units",
    "inventory_turns",
    "orders_placed",
    "ordered_units",
    "received_units",
)
"""Inventory KPIs over ``start..end``, per SKU and overall."""
COVERAGE_HORIZONS = (7, 14)
COVERAGE_LEVELS = (0.9, 0.95)
COVERAGE_NAMES = tuple(
    f"coverage_cum{h}_q{q}" for h in COVERAGE_HORIZONS for q in COVERAGE_LEVELS
)
"""Share of scored forecasts whose realized demand over the ``h`` days after
``as_of`` fell at or below their ``q`` quantile."""
FAN_HORIZON = 7
FAN_LEVELS = (0.5, 0.9, 0.95)

_COLUMNS = {
    "sales": ("event_id", "sku", "quantity", "occurred_at"),
    "receipts": ("event_id", "sku", "kind", "quantity", "occurred_at"),
    "commands": ("command_id", "sku", "as_of", "quantity"),
    "forecasts": ("sku", "as_of", "quantile_levels", "values"),
}
_COVERAGE_ROWS = ("forecasts_scored", *COVERAGE_NAMES)
_OFFSET = r"(?:Z|[+-]\d\d:?\d\d)$"


class DemoReportError(ValueError):
    """An input breaks a rule; the message names the field, rule and value."""

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
class _Inputs:
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
    inputs = _normalise(
        sales, receipts, commands, start=start, end=end, timezone=timezone
    )
    return _ledger(inputs, start, end)


def forecast_coverage(
    forecasts: pd.DataFrame, ledger: InventoryLedger, *, start: dt.date, end: dt.date
) -> pd.DataFrame:
    """Whether each forecast's quantiles covered the demand that followed.

    Scored are the forecasts (the last per SKU and ``as_of``) whose
    ``max(COVERAGE_HORIZONS)`` days after ``as_of`` lie in ``start..end``.

    Returns
    -------
    pandas.DataFrame
        One row per scored forecast: ``sku``, ``as_of`` and a column per
        :data:`COVERAGE_NAMES` holding 1.0 (covered), 0.0, or NaN where the
        forecast lacks that horizon or quantile level or ``ledger`` those
        days.
    """
    frame = _frame("forecasts", forecasts)
    frame = frame.assign(day=_days("forecasts", frame["as_of"]))
    frame = frame.drop_duplicates(["sku", "day"], keep="last")
    first = np.datetime64(start, "D") - 1
    last = np.datetime64(end, "D") - max(COVERAGE_HORIZONS)
    frame = frame[(frame["day"] >= first) & (frame["day"] <= last)]

    quantiles = _quantiles(frame, COVERAGE_HORIZONS, COVERAGE_LEVELS)
    realized = _realized(ledger, frame, COVERAGE_HORIZONS)
    realized = realized[:, :, None]
    unknown = np.isnan(quantiles) | np.isnan(realized)
    covered = np.where(unknown, np.nan, realized <= quantiles + 1e-9)
    out = pd.DataFrame(
        covered.reshape(len(frame), len(COVERAGE_NAMES)), columns=list(COVERAGE_NAMES)
    )
    out.insert(0, "as_of", _day(frame))
    out.insert(0, "sku", frame["sku"].astype(str).to_numpy())
    return out


@dataclass(frozen=True)
class DemoReport:
    """The KPIs of a demo period and the files written for it.

    Attributes
    ----------
    start, end
        The period the KPIs cover, both days included.
    overall
        Every KPI over all SKUs (:data:`KPI_NAMES`, ``forecasts_scored`` and
        :data:`COVERAGE_NAMES`); sums of units, ratios of the sums.
    per_sku
        The same KPIs per SKU, indexed by ``sku``.
    top_skus
        The SKUs charted: the most units demanded over the period (at most
        ``n_skus``, each with some demand).
    ledger
        The daily reconstruction the KPIs come from.
    report_path, kpis_path
        ``report.md`` and ``kpis.json``.
    chart_paths
        One PNG per charted SKU.
    """

    start: dt.date
    end: dt.date
    overall: pd.Series
    per_sku: pd.DataFrame
    top_skus: tuple[str, ...]
    ledger: InventoryLedger
    report_path: Path
    kpis_path: Path
    chart_paths: dict[str, Path]

    def table(self) -> str:
        """KPIs by name (rows) for all SKUs and each charted SKU, aligned."""
        header, rows = _kpi_rows(self)
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in [header, *rows]
        ]
        return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def build_report(
    sales: pd.DataFrame,
    receipts: pd.DataFrame,
    commands: pd.DataFrame,
    forecasts: pd.DataFrame,
    *,
    start: dt.date,
    end: dt.date,
    out_dir: Path,
    timezone: str = "Europe/London",
    n_skus: int = 4,
) -> DemoReport:
    """Compute the demo's KPIs and write ``report.md``, ``kpis.json`` and charts.

    Parameters
    ----------
    sales, receipts, commands, forecasts
        Records read back from ``sales-events``, ``stock-events``,
        ``reorder-commands`` and ``forecasts``, one row per record with the
        schema's field names; any may be empty. ``occurred_at`` is ISO 8601
        text with an offset or tz-aware timestamps.
    start, end
        The demo period, both days included; earlier sales are the warm-up.
    out_dir
        Folder to write into (created if needed).
    timezone
        IANA zone whose calendar days the worker closes.
    n_skus
        SKUs charted, the top sellers by units over the period.

    Raises
    ------
    DemoReportError
        If an input breaks a rule (see :func:`reconstruct`).
    """
    inputs = _normalise(
        sales, receipts, commands, start=start, end=end, timezone=timezone
    )
    ledger = _ledger(inputs, start, end)
    per_sku = _kpis(ledger, start)
    coverage = forecast_coverage(forecasts, ledger, start=start, end=end)
    scored = coverage.groupby("sku")
    per_sku["forecasts_scored"] = scored.size().reindex(per_sku.index, fill_value=0)
    per_sku = per_sku.join(scored[list(COVERAGE_NAMES)].mean())
    overall = _overall(per_sku, ledger.days.size - max(ledger.index_of(start), 0))
    overall["forecasts_scored"] = len(coverage)
    for name in COVERAGE_NAMES:
        overall[name] = coverage[name].mean()
    ranked = per_sku["demand_units"].sort_values(ascending=False, kind="stable")
    top = tuple(str(s) for s in ranked[ranked > 0].index[: max(n_skus, 0)])

    out_dir.mkdir(parents=True, exist_ok=True)
    forecasts = _frame("forecasts", forecasts)
    charts = {
        sku: _chart(
            out_dir,
            sku,
            ledger=ledger,
            inputs=inputs,
            forecasts=forecasts,
            kpis=per_sku.loc[sku],
            start=start,
        )
        for sku in top
    }
    report = DemoReport(
        start,
        end,
        overall,
        per_sku,
        top,
        ledger,
        out_dir / "report.md",
        out_dir / "kpis.json",
        charts,
    )
    payload = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "timezone": timezone,
        "overall": _plain(overall),
        "per_sku": {str(s): _plain(row) for s, row in per_sku.iterrows()},
    }
    report.kpis_path.write_text(json.dumps(payload, allow_nan=False))
    report.report_path.write_text(_markdown(report, inputs, len(coverage), timezone))
    return report


def _normalise(
    sales: pd.DataFrame,
    receipts: pd.DataFrame,
    commands: pd.DataFrame,
    *,
    start: dt.date,
    end: dt.date,
    timezone: str,
) -> _Inputs:
    try:
        zone = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise DemoReportError(
            "timezone", "must be an IANA zone name", timezone
        ) from None
    if end < start:
        raise DemoReportError("end", f"must not precede start ({start})", end)
    sales = _frame("sales", sales).drop_duplicates("event_id")
    stock = _frame("receipts", receipts).drop_duplicates("event_id")
    commands = _frame("commands", commands).drop_duplicates("command_id")
    stock = stock.assign(instant=_instants("receipts", stock["occurred_at"]))
    sales = sales.assign(day=_local_days("sales", sales["occurred_at"], zone))
    stock = stock.assign(day=_local_days("receipts", stock["occurred_at"], zone))
    commands = commands.assign(day=_days("commands", commands["as_of"]))
    last = np.datetime64(end, "D")
    return _Inputs(*(f[f["day"] <= last] for f in (sales, stock, commands)))


def _ledger(inputs: _Inputs, start: dt.date, end: dt.date) -> InventoryLedger:
    sales, stock, commands = inputs.sales, inputs.stock, inputs.commands
    frames = (sales, stock, commands)
    first = min([np.datetime64(start, "D")] + [_day(f).min() for f in frames if len(f)])
    days = np.arange(first, np.datetime64(end, "D") + 1)
    skus = np.unique(np.concatenate([f["sku"].to_numpy(str) for f in frames]))

    def grid(frame: pd.DataFrame, weights: Any) -> np.ndarray:
        rows = np.searchsorted(skus, frame["sku"].to_numpy(str))
        cols = (_day(frame) - first).astype(np.int64)
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


def _kpis(ledger: InventoryLedger, start: dt.date) -> pd.DataFrame:
    """Per-SKU KPIs over ``start`` to the ledger's last day."""
    period = slice(max(ledger.index_of(start), 0), None)
    n_days = ledger.days[period].size
    demand = ledger.demand[:, period].sum(axis=1)
    served = ledger.served[:, period].sum(axis=1)
    on_hand = np.maximum(ledger.on_hand[:, period], 0.0).mean(axis=1)
    short = ledger.demand[:, period] - ledger.served[:, period] > 1e-9
    with np.errstate(invalid="ignore", divide="ignore"):
        fill = np.where(demand > 0, served / demand, np.nan)
        turns = np.where(on_hand > 0, served / on_hand * 365.0 / n_days, np.nan)
    columns = {
        "demand_units": demand,
        "served_units": served,
        "fill_rate": fill,
        "stockout_days": short.sum(axis=1),
        "average_on_hand": on_hand,
        "backordered_units": np.maximum(-ledger.on_hand[:, -1], 0.0),
        "inventory_turns": turns,
        "orders_placed": ledger.orders[:, period].sum(axis=1),
        "ordered_units": ledger.ordered[:, period].sum(axis=1),
        "received_units": ledger.received[:, period].sum(axis=1),
    }
    return pd.DataFrame(columns, index=pd.Index(ledger.skus, name="sku"))


def _overall(per_sku: pd.DataFrame, n_days: int) -> pd.Series:
    """Sums of units and counts; ratios of the sums (turns in units)."""
    total = per_sku.sum(numeric_only=True)
    demand, served, held = (
        total["demand_units"],
        total["served_units"],
        total["average_on_hand"],
    )
    total["fill_rate"] = served / demand if demand > 0 else math.nan
    total["inventory_turns"] = served / held * 365.0 / n_days if held > 0 else math.nan
    return total.astype(float)


def _frame(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its required columns; an empty frame may lack them."""
    columns = _COLUMNS[name]
    if frame.empty:
        return pd.DataFrame(columns=list(dict.fromkeys([*columns, *frame.columns])))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DemoReportError(name, f"must have the columns {list(columns)}", missing)
    return frame.reset_index(drop=True)


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


def _day(frame: pd.DataFrame) -> np.ndarray:
    """The ``day`` column as ``datetime64[D]``, shape ``(n,)``."""
    return frame["day"].to_numpy().astype("datetime64[D]")


def _days(name: str, values: pd.Series) -> np.ndarray:
    try:
        return pd.to_datetime(values).to_numpy().astype("datetime64[D]")
    except (ValueError, TypeError):
        raise DemoReportError(
            f"{name}.as_of", "must be a date", values.iloc[0]
        ) from None


def _quantiles(
    frame: pd.DataFrame, horizons: tuple[int, ...], levels: tuple[float, ...]
) -> np.ndarray:
    """Values at ``horizons`` x ``levels``, shape ``(n, h, q)``; NaN if absent."""
    out = np.full((len(frame), len(horizons), len(levels)), np.nan)
    codes, keys = pd.factorize(frame["quantile_levels"].map(tuple))
    lengths = frame["values"].map(len).to_numpy()
    values = frame["values"].to_numpy()
    for code, key in enumerate(keys):
        have = np.asarray(key, float)
        cols = [np.flatnonzero(np.isclose(have, q)) for q in levels]
        found = [j for j, c in enumerate(cols) if c.size]
        picked = [int(cols[j][0]) for j in found]
        for i, h in enumerate(horizons):
            rows = np.flatnonzero((codes == code) & (lengths >= h))
            if rows.size and found:
                table = np.array([values[r][h - 1] for r in rows], float)
                out[rows[:, None], i, np.array(found)] = table[:, picked]
    return out


def _realized(
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
    after = (_day(frame) - ledger.days[0]).astype(np.int64) + 1
    out = np.full((len(frame), len(horizons)), np.nan)
    for i, h in enumerate(horizons):
        ok = (after >= 0) & (after + h <= ledger.days.size)
        out[ok, i] = (
            cumulative[rows[ok], after[ok] + h] - cumulative[rows[ok], after[ok]]
        )
    return out


def _chart(
    out_dir: Path,
    sku: str,
    *,
    ledger: InventoryLedger,
    inputs: _Inputs,
    forecasts: pd.DataFrame,
    kpis: pd.Series,
    start: dt.date,
) -> Path:
    """One PNG: (a) demand and the 7-day forecast fan, (b) stock and orders."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.dates as mdates  # noqa: PLC0415
    import matplotlib.pyplot as plt  # noqa: PLC0415

    row = int(np.searchsorted(ledger.skus, sku))
    period = slice(max(ledger.index_of(start), 0), None)
    days = ledger.days[period]
    fan = forecasts[forecasts["sku"] == sku]
    fan = fan.assign(day=_days("forecasts", fan["as_of"]))
    fan = fan[(fan["day"] >= days[0]) & (fan["day"] <= days[-1])]
    fan = fan.drop_duplicates("day", keep="last").sort_values("day")
    orders = inputs.commands[
        (inputs.commands["sku"] == sku) & (inputs.commands["day"] >= days[0])
    ]
    stock = inputs.stock
    receipts = stock[(stock["sku"] == sku) & (stock["kind"] == "receipt")]
    received = np.unique(_day(receipts[receipts["day"] >= days[0]]))

    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 6.4), sharex=True, layout="constrained"
    )
    top.bar(days, ledger.demand[row, period], width=0.8, color="0.7", label="demand")
    _fan(top, ledger, fan)
    top.set_title(
        f"(a) daily demand; demand over the {FAN_HORIZON} days after each as_of"
        " day, forecast and realized",
        fontsize=9,
    )
    _stock(bottom, days, ledger.on_hand[row, period], orders, received)
    bottom.set_title("(b) stock at close, reorder commands and receipts", fontsize=9)
    for ax in (top, bottom):
        ax.set_ylabel("units")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    locator = mdates.AutoDateLocator()
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    fig.suptitle(
        f"SKU {sku}: {kpis['demand_units']:,.0f} units demanded, fill rate"
        f" {kpis['fill_rate']:.2f}, {kpis['stockout_days']:.0f} stockout days,"
        f" {kpis['orders_placed']:.0f} reorder commands",
        fontsize=10,
    )
    path = out_dir / f"sku_{re.sub(r'[^A-Za-z0-9_-]', '_', sku)}.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _fan(ax: Any, ledger: InventoryLedger, fan: pd.DataFrame) -> None:
    """Forecast median and upper quantiles of 7-day demand against realized."""
    if fan.empty:
        return
    x = _day(fan)
    low, mid, high = _quantiles(fan, (FAN_HORIZON,), FAN_LEVELS)[:, 0, :].T
    ax.fill_between(x, mid, high, color="C0", alpha=0.15, label="forecast q0.9-q0.95")
    ax.fill_between(x, low, mid, color="C0", alpha=0.35, label="forecast median-q0.9")
    ax.plot(x, low, color="C0", linewidth=1.2, label="forecast median")
    realized = _realized(ledger, fan, (FAN_HORIZON,))[:, 0]
    ax.plot(x, realized, "k.-", linewidth=1, label=f"realized {FAN_HORIZON}-day")


def _stock(
    ax: Any,
    days: np.ndarray,
    on_hand: np.ndarray,
    orders: pd.DataFrame,
    received: np.ndarray,
) -> None:
    """On hand (back-orders shaded), each command's decision, receipt days."""
    ax.axhline(0, color="0.4", linewidth=0.8)
    ax.step(days, on_hand, where="mid", color="C0", label="on hand")
    back = np.minimum(on_hand, 0.0)
    ax.fill_between(
        days, back, 0, step="mid", color="C3", alpha=0.3, label="back-ordered"
    )
    if len(orders) and {"inventory_position", "order_up_to_level"} <= set(orders):
        x = _day(orders)
        level = orders["order_up_to_level"].to_numpy(float)
        position = orders["inventory_position"].to_numpy(float)
        ax.vlines(
            x,
            position,
            level,
            color="C1",
            linewidth=2,
            label="order: position to\norder-up-to level",
        )
        ax.scatter(x, level, marker="_", s=160, color="C1")
    if received.size:
        level = on_hand[(received - days[0]).astype(np.int64)]
        ax.scatter(
            received, level, marker="^", s=45, color="C2", zorder=3, label="receipt day"
        )


def _kpi_rows(
    report: DemoReport, names: tuple[str, ...] = (*KPI_NAMES, *_COVERAGE_ROWS)
) -> tuple[list[str], list[list[str]]]:
    """Header and one row per KPI: all SKUs, then each charted SKU."""
    columns = [report.overall, *(report.per_sku.loc[s] for s in report.top_skus)]
    header = ["kpi", "all SKUs", *report.top_skus]
    return header, [[n, *(_cell(n, c[n]) for c in columns)] for n in names]


def _cell(name: str, value: float) -> str:
    if value is None or math.isnan(value):
        return "-"
    if name == "fill_rate" or name.startswith("coverage"):
        return f"{value:.3f}"
    if name in ("average_on_hand", "inventory_turns"):
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def _markdown(report: DemoReport, inputs: _Inputs, scored: int, timezone: str) -> str:
    first = report.ledger.days[0].astype(dt.date)
    horizon = max(COVERAGE_HORIZONS)
    lines = [
        "# Demo report",
        "",
        f"Period: {report.start} to {report.end}, calendar days in {timezone}.",
        f"Replayed {len(inputs.sales):,} sale events of"
        f" {inputs.sales['sku'].nunique():,} SKUs from {first}"
        f" ({(report.start - first).days} warm-up"
        f" days before the period); read back {len(inputs.commands):,} reorder"
        f" commands and {len(inputs.stock):,} stock events.",
        "",
        "## KPIs",
        "",
        "Over the period; stock starts at 0 on the first replayed day, receipts"
        " arrive at the start of their day and sales that find no stock are"
        " back-ordered. `fill_rate` is the share of demand served from stock on"
        " its day, `stockout_days` counts SKU-days with unserved demand,"
        " `average_on_hand` the mean positive stock at close, `backordered_units`"
        " the back-orders at the end, `inventory_turns` served units over average"
        " on hand, annualized. For all SKUs, units, days and average on hand are"
        " sums over SKUs and ratios are ratios of the sums.",
        "",
        *_markdown_table(*_kpi_rows(report, KPI_NAMES)),
        "",
        "## Forecast coverage",
        "",
        f"{scored:,} forecasts scored: those whose {horizon} days after `as_of` lie"
        f" in the period. `coverage_cumH_qQ` is the share whose realized demand"
        " over the H days after `as_of` fell at or below the Q quantile; a"
        " calibrated forecast gives about Q.",
        "",
        *_markdown_table(*_kpi_rows(report, _COVERAGE_ROWS)),
        "",
    ]
    if report.chart_paths:
        lines += [
            "## Charts",
            "",
            f"The {len(report.chart_paths)} SKUs with the most units demanded."
            " Panel (a): grey bars are daily demand; at each forecast's `as_of` day"
            f" the blue line and bands are the forecast median, q0.9 and q0.95 of"
            f" demand over the next {FAN_HORIZON} days, and the black dots the"
            f" demand realized over those days (up to {FAN_HORIZON} days before the"
            " end). Dots above the bands are misses. Panel (b): on hand at close,"
            " red below zero (back-orders); an orange bar per reorder command runs"
            " from the inventory position to the order-up-to level on its `as_of`"
            " day, so its height is the order quantity before MOQ and case-pack"
            " rounding; green triangles mark receipt days.",
            "",
            *(f"![{sku}]({path.name})" for sku, path in report.chart_paths.items()),
            "",
        ]
    return "\n".join(lines)


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _plain(values: pd.Series) -> dict[str, float | int | None]:
    """JSON-ready values: NaN as None, counts as integers."""
    out: dict[str, float | int | None] = {}
    for name, value in values.items():
        number = float(value)
        if math.isnan(number):
            out[str(name)] = None
        elif name in ("stockout_days", "orders_placed", "forecasts_scored"):
            out[str(name)] = int(number)
        else:
            out[str(name)] = number
    return out
