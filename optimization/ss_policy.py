"""The ``(s, S)`` policy, with both levels tuned per SKU by simulation.

:class:`SSPolicy` orders up to ``S`` when the inventory position falls to
``s`` or below. Both levels are multiples of the SKU's mean daily demand,
picked from a grid that :meth:`SSPolicy.fit` simulates on a training period;
orders are rounded like every baseline's (:func:`round_order`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from optimization.base import Decision, ReviewInputs
from optimization.baselines import round_order, target_service_level
from optimization.kpis import compute_kpis
from optimization.params import PolicyError, PolicyTable
from optimization.simulator import select_params, simulate

DEFAULT_REORDER_MULTIPLES = (0.0, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 14.0, 21.0, 28.0)
DEFAULT_SPREAD_MULTIPLES = (1.0, 3.0, 7.0, 14.0, 21.0, 28.0, 42.0)
_GRID_CELLS_PER_RUN = 2_000_000


@dataclass
class SSPolicy:
    """Order up to ``S`` when the position falls to ``s`` or below.

    :meth:`fit` simulates every pair ``s = a mu``, ``S = s + b mu`` (``mu`` the
    SKU's mean daily demand over the training days, ``a`` in
    ``reorder_multiples``, ``b`` in ``spread_multiples``) for all SKUs at
    once, then keeps per SKU the cheapest pair: lowest holding + ordering +
    stockout cost for a SKU with a ``stockout_cost``; otherwise lowest holding
    + ordering cost among pairs whose fill rate meets the target level (the
    highest fill rate when none does). With ``implied_cost`` a target level
    ``a`` is read the way the quantile policy reads it, as the stockout cost
    it implies, ``p = h R a / (1 - a)``, and the pair with the lowest holding
    + ordering + ``p`` x unserved units is kept.

    Parameters
    ----------
    reorder_multiples, spread_multiples
        The grid, in days of mean demand.
    service_level
        Overrides the SKUs' target levels when tuning: one level, or one per
        fitted SKU in the order of :meth:`fit`.
    implied_cost
        Pick by the stockout cost a target level implies instead of by the
        fill rate it asks for.
    lost_sales
        Tune under lost sales (default) or back-orders.
    seed
        Seeds the training simulation's lead times.
    """

    reorder_multiples: tuple[float, ...] = DEFAULT_REORDER_MULTIPLES
    spread_multiples: tuple[float, ...] = DEFAULT_SPREAD_MULTIPLES
    service_level: float | np.ndarray | None = None
    implied_cost: bool = False
    lost_sales: bool = True
    seed: int = 0
    name: str = "ss"

    def fit(self, demand: np.ndarray, params: PolicyTable) -> SSPolicy:
        """Tune ``s`` and ``S`` per SKU on ``demand`` ``(n, d)`` (training days).

        The first quarter of the days (at most 28) only sets the initial stock;
        the rest are simulated.
        """
        demand = np.asarray(demand, dtype=float)
        if demand.ndim != 2 or demand.shape[0] != len(params) or demand.shape[1] < 2:
            raise PolicyError(
                "demand",
                "must be (n_skus, >= 2 days) aligned with params",
                demand.shape,
            )
        grid = np.array(
            [(a, a + b) for a in self.reorder_multiples for b in self.spread_multiples]
        )
        n, g = len(params), len(grid)
        warmup = min(28, demand.shape[1] // 4)
        per_run = max(1, _GRID_CELLS_PER_RUN // max(1, n * demand.shape[1]))
        scores = np.empty((3, g, n))
        for first in range(0, g, per_run):
            pairs = grid[first : first + per_run]
            scores[:, first : first + len(pairs)] = self._score(
                demand, params, pairs, warmup
            )
        self.skus_ = np.asarray(params.skus).astype(str)
        self._order = np.argsort(self.skus_)
        kept, unserved, fill = scores
        mean_demand = demand[:, warmup:].mean(axis=1)
        self._scores = _GridScores(grid, kept, unserved, fill, mean_demand, params)
        return self._choose()

    def retarget(
        self, service_level: float | np.ndarray, *, implied_cost: bool | None = None
    ) -> SSPolicy:
        """A copy re-picked for ``service_level`` from the same fitted grid runs.

        ``service_level`` is one level, or one per fitted SKU.

        ``implied_cost`` overrides how the level is read (see the class
        docstring); None keeps this policy's choice.
        """
        if not hasattr(self, "_scores"):
            raise PolicyError("SSPolicy", "must be fitted before retarget", self.name)
        by_cost = self.implied_cost if implied_cost is None else implied_cost
        other = replace(self, service_level=service_level, implied_cost=by_cost)
        other.skus_, other._order, other._scores = self.skus_, self._order, self._scores
        return other._choose()

    def _choose(self) -> SSPolicy:
        scores = self._scores
        params = scores.params
        target = target_service_level(params, self.service_level)
        priced = ~np.isnan(params.stockout_cost) & (self.service_level is None)
        penalty = np.nan_to_num(params.stockout_cost, nan=0.0)
        if self.implied_cost:
            overage = params.daily_holding_cost * params.review_period_days
            level = np.minimum(target, 1.0 - 1e-9)
            penalty = np.where(priced, penalty, overage * level / (1.0 - level))
            priced = np.ones(len(params), dtype=bool)
        cost = scores.kept + np.where(priced, penalty, 0.0) * scores.unserved
        best = _pick(cost, scores.fill, target, priced)
        self.reorder_point_ = scores.grid[best, 0] * scores.mean_demand
        self.order_up_to_level_ = scores.grid[best, 1] * scores.mean_demand
        return self

    def _score(
        self, demand: np.ndarray, params: PolicyTable, pairs: np.ndarray, warmup: int
    ) -> np.ndarray:
        """Holding + ordering cost, unserved units and fill rate of each pair.

        Returns shape ``(3, len(pairs), n)``.
        """
        n = len(params)
        rows = np.tile(np.arange(n), len(pairs))
        table = select_params(params, rows)
        table = PolicyTable(
            **{**vars(table), "skus": np.arange(len(rows)).astype(str).astype(object)}
        )
        mu = demand[:, warmup:].mean(axis=1)[rows]
        levels = _FixedLevels(
            np.repeat(pairs[:, 0], n) * mu, np.repeat(pairs[:, 1], n) * mu
        )
        result = simulate(
            levels,
            demand[rows],
            table,
            None,
            warmup,
            lost_sales=self.lost_sales,
            seed=self.seed,
        )
        kpis = compute_kpis(result, stockout_penalty=0.0)
        kept = kpis.holding_cost + kpis.ordering_cost
        unserved = result.unserved.sum(axis=1)
        fill = np.nan_to_num(kpis.fill_rate, nan=1.0)
        return np.stack([kept, unserved, fill]).reshape(3, len(pairs), n)

    def decide(self, inputs: ReviewInputs) -> Decision:
        if not hasattr(self, "skus_"):
            raise PolicyError("SSPolicy", "must be fitted before decide", self.name)
        keys = np.asarray(inputs.skus).astype(str)
        pos = np.searchsorted(self.skus_, keys, sorter=self._order)
        pos = self._order[np.minimum(pos, len(self._order) - 1)]
        unknown = self.skus_[pos] != keys
        if np.any(unknown):
            raise PolicyError("skus", "must have been fitted", keys[unknown][0])
        reorder, level = self.reorder_point_[pos], self.order_up_to_level_[pos]
        position = inputs.inventory_position
        raw = np.where(position <= reorder, level - position, 0.0)
        levels = self.service_level
        if levels is not None and np.ndim(levels) == 1:
            levels = np.asarray(levels)[pos]
        target = target_service_level(inputs.params, levels)
        return Decision(
            order_quantity=round_order(raw, inputs.held, inputs.params),
            order_up_to_level=level,
            inventory_position=position.copy(),
            quantile_used=np.full(len(keys), np.nan),
            service_level=target,
            expected_cost=np.full(len(keys), np.nan),
        )


@dataclass(frozen=True)
class _GridScores:
    """What the (s, S) grid runs measured; arrays are ``(pairs, n_skus)``."""

    grid: np.ndarray
    kept: np.ndarray
    unserved: np.ndarray
    fill: np.ndarray
    mean_demand: np.ndarray
    params: PolicyTable


@dataclass
class _FixedLevels:
    """(s, S) with levels per simulated row; SKU codes are the row numbers."""

    reorder_point: np.ndarray
    order_up_to_level: np.ndarray
    name: str = "ss_grid"

    def decide(self, inputs: ReviewInputs) -> Decision:
        rows = np.asarray(inputs.skus).astype(np.int64)
        position = inputs.inventory_position
        level = self.order_up_to_level[rows]
        raw = np.where(position <= self.reorder_point[rows], level - position, 0.0)
        nan = np.full(len(rows), np.nan)
        order = round_order(raw, inputs.held, inputs.params)
        return Decision(order, level, position, nan, nan, nan)


def _pick(
    cost: np.ndarray, fill: np.ndarray, target: np.ndarray, priced: np.ndarray
) -> np.ndarray:
    """Index ``(n,)`` of the chosen grid pair per SKU from ``(g, n)`` scores."""
    meets = fill >= target[None, :] - 1e-9
    constrained = np.where(meets, cost, np.inf)
    best_fill = np.argmax(fill - 1e-12 * cost, axis=0)
    feasible = np.argmin(constrained, axis=0)
    by_service = np.where(meets.any(axis=0), feasible, best_fill)
    return np.where(priced, np.argmin(cost, axis=0), by_service)
