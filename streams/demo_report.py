"""The end-of-demo report: KPIs of the closed loop and charts, from its topics.

:func:`build_report` takes what a demo read back from ``sales-events``,
``stock-events``, ``reorder-commands`` and ``forecasts`` as DataFrames (the
schema's field names as columns), rebuilds each SKU's stock day by day
(:func:`~streams.ledger.reconstruct`, whose module states the conventions),
scores the forecasts (:mod:`streams.demo_coverage`) and writes ``report.md``,
``kpis.json`` and one chart per top-selling SKU (:mod:`streams.demo_charts`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from streams.demo_charts import FAN_HORIZON, write_chart
from streams.demo_coverage import (
    COVERAGE_HORIZONS,
    COVERAGE_NAMES,
    checked_forecasts,
    forecast_coverage,
)
from streams.ledger import (
    InventoryLedger,
    LedgerInputs,
    build_ledger,
    normalise_inputs,
)

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
_COVERAGE_ROWS = ("forecasts_scored", *COVERAGE_NAMES)


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
        If an input breaks a rule (see :func:`~streams.ledger.reconstruct`).
    """
    inputs = normalise_inputs(
        sales, receipts, commands, start=start, end=end, timezone=timezone
    )
    ledger = build_ledger(inputs, start, end)
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
    forecasts = checked_forecasts(forecasts)
    charts = {
        sku: write_chart(
            out_dir,
            sku,
            ledger=ledger,
            inputs=inputs,
            forecasts=forecasts,
            kpis=_sku_row(per_sku, sku),
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


def _kpi_rows(
    report: DemoReport, names: tuple[str, ...] = (*KPI_NAMES, *_COVERAGE_ROWS)
) -> tuple[list[str], list[list[str]]]:
    """Header and one row per KPI: all SKUs, then each charted SKU."""
    columns = [report.overall, *(_sku_row(report.per_sku, s) for s in report.top_skus)]
    header = ["kpi", "all SKUs", *report.top_skus]
    return header, [[n, *(_cell(n, c[n]) for c in columns)] for n in names]


def _sku_row(per_sku: pd.DataFrame, sku: str) -> pd.Series:
    """The KPIs of one SKU (the index holds each SKU once)."""
    return cast("pd.Series", per_sku.loc[sku])


def _cell(name: str, value: Any) -> str:
    if value is None or math.isnan(value):
        return "-"
    if name == "fill_rate" or name.startswith("coverage"):
        return f"{value:.3f}"
    if name in ("average_on_hand", "inventory_turns"):
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def _markdown(
    report: DemoReport, inputs: LedgerInputs, scored: int, timezone: str
) -> str:
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
