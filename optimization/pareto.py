"""The trade-off between total cost and fill rate, and how to pick a point on it.

A sweep runs one policy at several values of a parameter (a service level, a
cost weight, a budget) and records each run's total cost and fill rate. The
:class:`Frontier` keeps every point and marks the non-dominated ones (no other
point is at least as cheap with at least the fill rate, and better in one).
Points come from simulation (:func:`simulated_sweep`, one SKU or the
portfolio from the same runs) or from the forecast distribution itself
(:func:`expected_frontier`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from optimization.kpis import InventoryKpis
from optimization.params import PolicyError, PolicyTable
from optimization.quantiles import (
    expected_demand,
    expected_leftover,
    expected_shortage,
    interval_quantiles,
    quantile_at,
)


def non_dominated(cost: np.ndarray, fill_rate: np.ndarray) -> np.ndarray:
    """Mask ``(m,)`` of the points no other point dominates.

    Of several identical points only the first is kept. NaN points are never
    kept.
    """
    cost = np.asarray(cost, dtype=float)
    fill = np.asarray(fill_rate, dtype=float)
    valid = np.isfinite(cost) & np.isfinite(fill)
    order = np.lexsort((-fill, cost))
    order = order[valid[order]]
    best_before = np.maximum.accumulate(np.concatenate([[-np.inf], fill[order]]))[:-1]
    keep = np.zeros(cost.shape, dtype=bool)
    keep[order[fill[order] > best_before]] = True
    return keep


@dataclass(frozen=True)
class Frontier:
    """Swept points of cost and fill rate, with the efficient ones marked.

    Attributes
    ----------
    parameter
        The swept value behind each point, shape ``(m,)``.
    cost
        Total cost of each point, shape ``(m,)``.
    fill_rate
        Fill rate of each point, shape ``(m,)``.
    name
        What ``parameter`` is, e.g. ``"service_level"``.
    """

    parameter: np.ndarray
    cost: np.ndarray
    fill_rate: np.ndarray
    name: str = "service_level"

    @property
    def efficient(self) -> np.ndarray:
        """Indices of the non-dominated points, by increasing cost."""
        keep = np.flatnonzero(non_dominated(self.cost, self.fill_rate))
        return keep[np.argsort(self.cost[keep], kind="stable")]

    def pick(
        self,
        *,
        service_target: float | None = None,
        cost_weight: float | None = None,
        budget: float | None = None,
    ) -> int:
        """Index of the efficient point chosen by exactly one criterion.

        ``service_target``: the cheapest point whose fill rate reaches it (the
        highest fill rate if none does). ``cost_weight``: the point minimizing
        ``cost - cost_weight * fill_rate`` (cost per unit of fill rate).
        ``budget``: the highest fill rate costing at most it (the cheapest
        point if none does).
        """
        given = [v is not None for v in (service_target, cost_weight, budget)]
        if sum(given) != 1:
            raise PolicyError(
                "service_target, cost_weight, budget", "give exactly one", given
            )
        idx = self.efficient
        if idx.size == 0:
            raise PolicyError("cost, fill_rate", "need one finite point", self.cost)
        cost, fill = self.cost[idx], self.fill_rate[idx]
        if service_target is not None:
            meets = fill >= service_target - 1e-12
            return int(idx[np.argmax(meets)] if meets.any() else idx[-1])
        if cost_weight is not None:
            return int(idx[np.argmin(cost - cost_weight * fill)])
        limit = np.inf if budget is None else budget
        within = np.flatnonzero(cost <= limit + 1e-12)
        return int(idx[within[-1]] if within.size else idx[0])


def kpi_frontier(
    parameter: Sequence[float],
    runs: Sequence[InventoryKpis],
    sku: int | None = None,
    name: str = "service_level",
) -> Frontier:
    """The frontier of one SKU (row ``sku``) or of the portfolio (None)."""
    if sku is None:
        cost = [k.overall.total_cost for k in runs]
        fill = [k.overall.fill_rate for k in runs]
    else:
        cost = [float(k.total_cost[sku]) for k in runs]
        fill = [float(k.fill_rate[sku]) for k in runs]
    return Frontier(
        np.asarray(parameter, float), np.asarray(cost), np.asarray(fill), name
    )


def simulated_sweep(
    values: Sequence[float], run: Callable[[float], InventoryKpis]
) -> list[InventoryKpis]:
    """KPIs of ``run(value)`` for each value; feed them to :func:`kpi_frontier`.

    ``run`` typically builds a policy at ``value`` (a service level, a budget,
    or params from :func:`with_cost_weight`), simulates it and computes KPIs.
    """
    return [run(float(value)) for value in values]


def with_service_level(params: PolicyTable, level: ArrayLike) -> PolicyTable:
    """``params`` with every SKU driven by a service level.

    ``level`` is one level for every SKU or one per SKU, shape ``(n,)``
    (e.g. :func:`optimization.fill_price.fill_price_levels`).
    """
    levels = np.broadcast_to(np.asarray(level, dtype=float), (len(params),))
    if not np.all((levels > 0) & (levels < 1)):
        raise PolicyError("service_level", "must lie in (0, 1)", level)
    fields = dict(vars(params))
    fields["stockout_cost"] = np.full(len(params), np.nan)
    fields["service_level"] = levels.copy()
    return PolicyTable(**fields)


def with_cost_weight(params: PolicyTable, weight: float) -> PolicyTable:
    """``params`` with ``stockout_cost = weight * unit_cost`` for every SKU."""
    if not weight > 0:
        raise PolicyError("cost_weight", "must be positive", weight)
    fields = dict(vars(params))
    fields["stockout_cost"] = weight * params.unit_cost
    fields["service_level"] = np.full(len(params), np.nan)
    return PolicyTable(**fields)


def expected_frontier(
    cumulative_quantiles: np.ndarray,
    quantile_levels: np.ndarray,
    params: PolicyTable,
    service_levels: Sequence[float],
    stockout_penalty: np.ndarray | float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected cost and fill rate per review period from the forecast alone.

    For each service level ``a`` each SKU orders up to ``S`` = the ``a``
    quantile of demand over ``L + R`` days (mean lead time). With back-order
    accounting per review period: shortage ``E[(D_{L+R} - S)^+] - E[(D_L -
    S)^+]``, fill rate ``1 - shortage / E[D_R]``, holding ``h R (E[(S -
    D_{L+R})^+] + E[D_R] / 2)``, stockout ``penalty x shortage`` and one
    ordering cost per review.

    Parameters
    ----------
    cumulative_quantiles
        Shape ``(n, H, q)``.
    quantile_levels
        Shape ``(q,)``.
    params
        The ``n`` SKUs.
    service_levels
        The ``m`` levels swept.
    stockout_penalty
        Cost per short unit; by default ``stockout_cost`` (0 where unset).

    Returns
    -------
    cost, fill_rate
        Each ``(m, n)``; the portfolio is ``cost.sum(1)`` and the
        demand-weighted mean of ``fill_rate`` (see :func:`portfolio_frontier`).
    """
    lead = interval_quantiles(cumulative_quantiles, params.lead_time_days)
    cover = interval_quantiles(
        cumulative_quantiles, params.lead_time_days + params.review_period_days
    )
    period_demand = np.maximum(
        expected_demand(cover, quantile_levels)
        - expected_demand(lead, quantile_levels),
        0.0,
    )
    if stockout_penalty is None:
        penalty = np.nan_to_num(params.stockout_cost, nan=0.0)
    else:
        penalty = np.broadcast_to(np.asarray(stockout_penalty, float), (len(params),))
    holding = params.daily_holding_cost * params.review_period_days

    cost = np.empty((len(service_levels), len(params)))
    fill = np.empty_like(cost)
    for k, level in enumerate(service_levels):
        stock = quantile_at(cover, quantile_levels, level)
        short = expected_shortage(cover, quantile_levels, stock) - expected_shortage(
            lead, quantile_levels, stock
        )
        short = np.clip(short, 0.0, period_demand)
        left = expected_leftover(cover, quantile_levels, stock)
        cost[k] = (
            holding * (left + period_demand / 2)
            + penalty * short
            + params.ordering_cost * (period_demand > 0)
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            fill[k] = np.where(period_demand > 0, 1 - short / period_demand, 1.0)
        fill[k] = np.where(period_demand > 0, fill[k], np.nan)
    return cost, fill


def portfolio_frontier(
    service_levels: Sequence[float],
    cost: np.ndarray,
    fill_rate: np.ndarray,
    weight: np.ndarray,
) -> Frontier:
    """Sum ``cost`` ``(m, n)`` and average ``fill_rate`` weighted by ``weight``."""
    valid = np.isfinite(fill_rate)
    w = np.where(valid, weight[None, :], 0.0)
    total = np.maximum(w.sum(axis=1), 1e-300)
    fill = np.where(valid, fill_rate, 0.0) @ weight / total
    return Frontier(np.asarray(service_levels, float), cost.sum(axis=1), fill)


def plot_frontier(
    path: str | Path,
    frontiers: Mapping[str, Frontier],
    points: Mapping[str, tuple[float, float]] | None = None,
    title: str = "Total cost against fill rate",
) -> Path:
    """Draw each sweep (joined by fill rate, efficient points solid) to a PNG.

    Parameters
    ----------
    path
        Where the PNG goes.
    frontiers
        Curves by label.
    points
        Single ``(cost, fill_rate)`` points by label, e.g. each policy's
        simulated result at the target service level.
    title
        Figure title.
    """
    figure = Figure(figsize=(7.5, 5.0), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    for label, frontier in frontiers.items():
        valid = np.isfinite(frontier.cost) & np.isfinite(frontier.fill_rate)
        order = np.flatnonzero(valid)[np.argsort(frontier.fill_rate[valid])]
        line = ax.plot(
            frontier.fill_rate[order],
            frontier.cost[order],
            marker="o",
            markersize=3,
            alpha=0.6,
            label=label,
        )
        idx = frontier.efficient
        ax.scatter(
            frontier.fill_rate[idx], frontier.cost[idx], color=line[0].get_color()
        )
    for label, (cost, fill) in (points or {}).items():
        ax.scatter([fill], [cost], marker="*", s=160, label=label, zorder=3)
    ax.set_xlabel("fill rate")
    ax.set_ylabel("total cost (holding + ordering + stockout)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    return out


def cost_at_fill_rate(frontier: Frontier, fill_rate: ArrayLike) -> np.ndarray:
    """The swept policy's cost where it runs at each ``fill_rate``.

    The swept points, ordered by fill rate, are joined linearly (what mixing
    two neighbouring settings would give), so the cost is read where the
    policy actually runs at that fill rate, dominated or not: with stockouts
    priced, total cost falls as the fill rate rises and only the top points
    are efficient. NaN outside the fill rates swept.

    Parameters
    ----------
    frontier
        The swept points.
    fill_rate
        Fill rates to read the cost at, shape ``(m,)``.

    Returns
    -------
    numpy.ndarray
        Costs, shape ``(m,)``.
    """
    wanted = np.atleast_1d(np.asarray(fill_rate, dtype=float))
    valid = np.isfinite(frontier.cost) & np.isfinite(frontier.fill_rate)
    if not valid.any():
        return np.full(wanted.shape, np.nan)
    fill, cost = frontier.fill_rate[valid], frontier.cost[valid]
    order = np.lexsort((cost, fill))
    fill, cost = fill[order], cost[order]
    keep = np.concatenate([[True], np.diff(fill) > 0])
    out = np.interp(wanted, fill[keep], cost[keep])
    inside = (wanted >= fill[0] - 1e-12) & (wanted <= fill[-1] + 1e-12)
    return np.where(inside, out, np.nan)


@dataclass(frozen=True)
class FillRateComparison:
    """One policy's cost against the best baseline's at equal fill rates.

    Attributes
    ----------
    policy
        The policy compared.
    fill_rate
        Fill rates where the policy and at least one baseline have a cost,
        shape ``(m,)``.
    cost
        Cost per policy and baseline at each fill rate (NaN outside its
        range), each shape ``(m,)``.
    best_baseline
        Name of the cheapest baseline at each fill rate, shape ``(m,)``.
    margin
        ``1 - cost[policy] / cost[best_baseline]``: the share of the best
        baseline's cost the policy saves (negative where it costs more),
        shape ``(m,)``.
    """

    policy: str
    fill_rate: np.ndarray
    cost: dict[str, np.ndarray]
    best_baseline: np.ndarray
    margin: np.ndarray

    def meets(self, target: float) -> np.ndarray:
        """Fill rates where the policy saves at least ``target`` of the cost."""
        return self.fill_rate[self.margin >= target - 1e-12]


def compare_at_fill_rate(
    frontiers: Mapping[str, Frontier],
    policy: str,
    baselines: Sequence[str],
    step: float = 0.005,
) -> FillRateComparison:
    """Costs of ``policy`` and ``baselines`` read off their frontiers.

    The fill rates are a grid of ``step`` over the range ``policy`` covers,
    kept where at least one baseline covers it too; each cost comes from
    :func:`cost_at_fill_rate`.
    """
    if policy not in frontiers or not baselines:
        raise PolicyError(
            "policy, baselines", "must name swept frontiers", (policy, baselines)
        )
    own = frontiers[policy]
    low, high = float(np.nanmin(own.fill_rate)), float(np.nanmax(own.fill_rate))
    grid = np.round(np.arange(np.ceil(low / step) * step, high + 1e-12, step), 10)
    cost = {
        name: cost_at_fill_rate(frontiers[name], grid) for name in [policy, *baselines]
    }
    table = np.vstack([cost[name] for name in baselines])
    covered = np.isfinite(table).any(axis=0) & np.isfinite(cost[policy])
    grid, table = grid[covered], table[:, covered]
    cost = {name: values[covered] for name, values in cost.items()}
    best = np.nanargmin(np.where(np.isfinite(table), table, np.inf), axis=0)
    cheapest = table[best, np.arange(grid.size)]
    return FillRateComparison(
        policy=policy,
        fill_rate=grid,
        cost=cost,
        best_baseline=np.asarray(baselines, dtype=object)[best],
        margin=1.0 - cost[policy] / cheapest,
    )
