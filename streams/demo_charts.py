"""The demo report's chart of one SKU: demand against its forecast fan, and stock.

:func:`write_chart` draws two panels from the
:class:`~streams.ledger.InventoryLedger` and the records read back: (a) daily
demand and, at each forecast's ``as_of`` day, the forecast quantiles of
demand over the next :data:`FAN_HORIZON` days against the demand realized;
(b) stock at close, reorder commands and receipt days.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from streams.demo_coverage import forecast_quantiles
from streams.ledger import (
    InventoryLedger,
    LedgerInputs,
    as_days,
    day_column,
    realized_demand,
)

FAN_HORIZON = 7
FAN_LEVELS = (0.5, 0.9, 0.95)


def write_chart(
    out_dir: Path,
    sku: str,
    *,
    ledger: InventoryLedger,
    inputs: LedgerInputs,
    forecasts: pd.DataFrame,
    kpis: pd.Series,
    start: dt.date,
) -> Path:
    """Write ``sku_<sku>.png`` into ``out_dir``; return its path.

    Parameters
    ----------
    out_dir
        Folder to write into; it must exist.
    sku
        The SKU charted; a row of ``ledger``.
    ledger, inputs
        The ledger and the records it was built from.
    forecasts
        Forecast records with the columns of ``forecasts`` (any SKU).
    kpis
        The SKU's KPIs, for the title: ``demand_units``, ``fill_rate``,
        ``stockout_days`` and ``orders_placed``.
    start
        First day charted.
    """
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.dates as mdates  # noqa: PLC0415
    import matplotlib.pyplot as plt  # noqa: PLC0415

    row = int(np.searchsorted(ledger.skus, sku))
    period = slice(max(ledger.index_of(start), 0), None)
    days = ledger.days[period]
    fan = forecasts[forecasts["sku"] == sku]
    fan = fan.assign(day=as_days("forecasts", fan["as_of"]))
    fan = fan[(fan["day"] >= days[0]) & (fan["day"] <= days[-1])]
    fan = fan.drop_duplicates("day", keep="last").sort_values("day")
    orders = inputs.commands[
        (inputs.commands["sku"] == sku) & (inputs.commands["day"] >= days[0])
    ]
    stock = inputs.stock
    receipts = stock[(stock["sku"] == sku) & (stock["kind"] == "receipt")]
    received = np.unique(day_column(receipts[receipts["day"] >= days[0]]))

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
    x = day_column(fan)
    low, mid, high = forecast_quantiles(fan, (FAN_HORIZON,), FAN_LEVELS)[:, 0, :].T
    ax.fill_between(x, mid, high, color="C0", alpha=0.15, label="forecast q0.9-q0.95")
    ax.fill_between(x, low, mid, color="C0", alpha=0.35, label="forecast median-q0.9")
    ax.plot(x, low, color="C0", linewidth=1.2, label="forecast median")
    realized = realized_demand(ledger, fan, (FAN_HORIZON,))[:, 0]
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
        x = day_column(orders)
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
