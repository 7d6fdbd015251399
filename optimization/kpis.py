"""Inventory KPIs of a simulated policy, per SKU and over the portfolio.

Definitions (all over the simulated days of a
:class:`~optimization.simulator.SimulationResult`):

- ``fill_rate``: units served from on hand on the day they were demanded over
  units demanded; NaN for a SKU without demand.
- ``value_fill_rate``: the same weighted by ``unit_cost``: value served over
  value demanded. Per SKU it equals ``fill_rate``; over a portfolio it tells
  whether dear or cheap units were lost.
- ``stockout_days``: days on which some demand went unserved.
- ``cycle_service_level``: share of replenishment cycles without a stockout
  day. Cycles are delimited by reviews: a cycle runs from the day after one
  review to the day of the next, and the days before the first review form
  a cycle of their own. Every cycle counts, with or without demand.
- ``lost_units``: unserved units under lost sales; ``backordered_units``:
  unserved units under back-orders (each is zero in the other mode).
- ``average_on_hand``: mean units on hand at the close of day.
- ``inventory_turns``: units served over average on hand, annualized
  (x 365 / days); NaN where nothing was held.
- ``purchase_cost``: units ordered x ``unit_cost``.
- ``holding_cost``: closing on hand x ``daily_holding_cost``, summed over days.
- ``ordering_cost``: orders placed x ``ordering_cost``.
- ``stockout_cost``: unserved units x ``stockout_cost`` (zero for SKUs driven
  by a service level, unless a penalty is given to :func:`compute_kpis`).
- ``total_cost``: holding + ordering + stockout; purchase cost is reported
  apart because it mostly moves with the units sold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from optimization.simulator import SimulationResult


@dataclass(frozen=True)
class KpiSummary:
    """Portfolio KPIs: sums of units and costs, ratios of the sums."""

    fill_rate: float
    value_fill_rate: float
    cycle_service_level: float
    stockout_days: int
    lost_units: float
    backordered_units: float
    demand_units: float
    served_units: float
    average_on_hand: float
    inventory_turns: float
    orders_placed: int
    purchase_cost: float
    holding_cost: float
    ordering_cost: float
    stockout_cost: float
    total_cost: float

    def to_dict(self) -> dict[str, float | int | None]:
        """Plain values; NaN becomes None so the dict serializes to JSON."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class InventoryKpis:
    """KPIs per SKU (arrays of shape ``(n_skus,)``) and their portfolio summary."""

    skus: np.ndarray
    fill_rate: np.ndarray
    value_fill_rate: np.ndarray
    cycle_service_level: np.ndarray
    stockout_days: np.ndarray
    lost_units: np.ndarray
    backordered_units: np.ndarray
    demand_units: np.ndarray
    served_units: np.ndarray
    average_on_hand: np.ndarray
    inventory_turns: np.ndarray
    orders_placed: np.ndarray
    purchase_cost: np.ndarray
    holding_cost: np.ndarray
    ordering_cost: np.ndarray
    stockout_cost: np.ndarray
    total_cost: np.ndarray
    cycles: np.ndarray
    overall: KpiSummary

    def to_dict(self, per_sku: bool = False) -> dict[str, object]:
        """``{"overall": {...}}``, plus ``"per_sku": {sku: {...}}`` if asked."""
        out: dict[str, object] = {"overall": self.overall.to_dict()}
        if per_sku:
            names = [f.name for f in fields(KpiSummary)]
            out["per_sku"] = {
                str(sku): {name: _plain(getattr(self, name)[i]) for name in names}
                for i, sku in enumerate(self.skus)
            }
        return out


def compute_kpis(
    result: SimulationResult, stockout_penalty: np.ndarray | float | None = None
) -> InventoryKpis:
    """Every KPI of ``result``, per SKU and overall.

    Parameters
    ----------
    result
        A simulated policy.
    stockout_penalty
        Cost per unserved unit, scalar or ``(n_skus,)``; by default the SKUs'
        ``stockout_cost``, with zero where a SKU is driven by a service level.

    Returns
    -------
    InventoryKpis
    """
    params = result.params
    n_days = result.n_days
    if stockout_penalty is None:
        penalty = np.nan_to_num(params.stockout_cost, nan=0.0)
    else:
        penalty = np.broadcast_to(np.asarray(stockout_penalty, float), (len(params),))

    demand = result.demand.sum(axis=1)
    served = result.served.sum(axis=1)
    unserved = result.unserved.sum(axis=1)
    short_day = result.unserved > 1e-9
    cycles, clean = _cycles(result.reviewed, short_day)
    on_hand = result.on_hand.mean(axis=1)
    orders = (result.orders > 0).sum(axis=1)

    holding = result.on_hand.sum(axis=1) * params.daily_holding_cost
    ordering = orders * params.ordering_cost
    stockout = unserved * penalty
    with np.errstate(invalid="ignore", divide="ignore"):
        fill = np.where(demand > 0, served / demand, np.nan)
        turns = np.where(on_hand > 0, served / on_hand * 365.0 / n_days, np.nan)

    kpis = {
        "fill_rate": fill,
        "value_fill_rate": fill,
        "cycle_service_level": clean / cycles,
        "stockout_days": short_day.sum(axis=1),
        "lost_units": unserved if result.lost_sales else np.zeros_like(unserved),
        "backordered_units": np.zeros_like(unserved) if result.lost_sales else unserved,
        "demand_units": demand,
        "served_units": served,
        "average_on_hand": on_hand,
        "inventory_turns": turns,
        "orders_placed": orders,
        "purchase_cost": result.orders.sum(axis=1) * params.unit_cost,
        "holding_cost": holding,
        "ordering_cost": ordering,
        "stockout_cost": stockout,
        "total_cost": holding + ordering + stockout,
    }
    return InventoryKpis(
        skus=result.skus,
        cycles=cycles,
        overall=_summary(kpis, cycles, clean, params.unit_cost, n_days),
        **kpis,
    )


def _cycles(
    reviewed: np.ndarray, short_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cycles per SKU and cycles without a stockout day, both ``(n_skus,)``."""
    n_skus, n_days = reviewed.shape
    before = np.zeros_like(reviewed, dtype=np.int64)
    before[:, 1:] = np.cumsum(reviewed[:, :-1], axis=1)
    cycles = before[:, -1] + 1 if n_days else np.zeros(n_skus, dtype=np.int64)
    key = np.arange(n_skus)[:, None] * (n_days + 1) + before
    hit = np.zeros(n_skus * (n_days + 1), dtype=bool)
    hit[key[short_day]] = True
    dirty = hit.reshape(n_skus, n_days + 1).sum(axis=1)
    return cycles, cycles - dirty


def _summary(
    kpis: dict[str, np.ndarray],
    cycles: np.ndarray,
    clean: np.ndarray,
    unit_cost: np.ndarray,
    n_days: int,
) -> KpiSummary:
    demand = float(kpis["demand_units"].sum())
    served = float(kpis["served_units"].sum())
    value_on_hand = float(np.sum(kpis["average_on_hand"] * unit_cost))
    value_served = float(np.sum(kpis["served_units"] * unit_cost))
    value_demanded = float(np.sum(kpis["demand_units"] * unit_cost))
    total_cycles = int(cycles.sum())
    return KpiSummary(
        fill_rate=served / demand if demand > 0 else math.nan,
        value_fill_rate=value_served / value_demanded
        if value_demanded > 0
        else math.nan,
        cycle_service_level=float(clean.sum()) / total_cycles
        if total_cycles
        else math.nan,
        stockout_days=int(kpis["stockout_days"].sum()),
        lost_units=float(kpis["lost_units"].sum()),
        backordered_units=float(kpis["backordered_units"].sum()),
        demand_units=demand,
        served_units=served,
        average_on_hand=float(kpis["average_on_hand"].sum()),
        inventory_turns=value_served / value_on_hand * 365.0 / n_days
        if value_on_hand > 0
        else math.nan,
        orders_placed=int(kpis["orders_placed"].sum()),
        purchase_cost=float(kpis["purchase_cost"].sum()),
        holding_cost=float(kpis["holding_cost"].sum()),
        ordering_cost=float(kpis["ordering_cost"].sum()),
        stockout_cost=float(kpis["stockout_cost"].sum()),
        total_cost=float(kpis["total_cost"].sum()),
    )


def _plain(value: object) -> float | int | None:
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number
