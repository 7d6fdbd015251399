"""Classical ordering policies that the quantile policy is measured against.

All of them implement :class:`~optimization.base.Policy` and round their raw
order the same way (:func:`round_order`: whole case packs, MOQ, capacity), so
a simulation compares decisions, not rounding. Each protects against demand
over the lead time plus the review period, ``L + R`` days, matching the
simulator's timing.

- :class:`BaseStockNormal`: order up to ``mu (L + R) + z sigma sqrt(L + R)``
  from the mean and standard deviation of recent daily demand.
- :class:`MyopicNewsvendor`: a single-period newsvendor: lead-time demand at
  its mean, the critical-ratio quantile of one review period's demand on a
  normal approximation.
- :class:`PointAtPercentile`: the ablation of the quantile policy: the
  forecast's point value (median or mean) over ``L + R`` days used as if it
  were the quantile at the target level.
- :class:`SSPolicy`: ``(s, S)`` with both levels, in multiples of mean daily
  demand, tuned per SKU by simulating a grid on a training period.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from optimization.base import Decision, ReviewInputs
from optimization.kpis import compute_kpis
from optimization.params import PolicyError, PolicyTable
from optimization.quantiles import (
    check_levels,
    expected_demand,
    interval_quantiles,
    quantile_at,
)
from optimization.simulator import select_params, simulate

DEFAULT_WINDOW_DAYS = 56


def round_order(
    quantity: np.ndarray, inventory_position: np.ndarray, params: PolicyTable
) -> np.ndarray:
    """Round raw order quantities to orders that honour every per-SKU rule.

    A positive raw quantity is rounded up to whole case packs and raised to the
    MOQ (in whole cases); it is then cut to the whole cases that fit under
    ``capacity - inventory_position``, and dropped if that falls below the
    MOQ. Non-positive quantities give no order.

    Parameters
    ----------
    quantity
        Raw order quantities, shape ``(n,)``.
    inventory_position
        Inventory positions before ordering, shape ``(n,)``.
    params
        Parameters of the same ``n`` SKUs.

    Returns
    -------
    numpy.ndarray
        Orders in units, shape ``(n,)``, multiples of ``case_pack``.
    """
    pack = params.case_pack.astype(float)
    cases = np.ceil(np.maximum(quantity, 0.0) / pack - 1e-9)
    moq_cases = np.ceil(params.moq / pack)
    cases = np.where(cases > 0, np.maximum(cases, moq_cases), 0.0)
    with np.errstate(invalid="ignore"):
        room = np.floor((params.capacity - inventory_position) / pack + 1e-9)
    cases = np.minimum(cases, np.maximum(room, 0.0))
    cases = np.where(cases < np.maximum(moq_cases, 1.0), 0.0, cases)
    return cases * pack


def target_service_level(
    params: PolicyTable, service_level: float | None = None
) -> np.ndarray:
    """Per-SKU target level, shape ``(n,)``.

    ``service_level`` overrides every SKU when given. Otherwise a SKU with a
    ``stockout_cost`` gets the critical ratio ``p / (p + h R)`` (``h`` the
    daily holding cost, ``R`` the review period), and the others their
    ``service_level``.
    """
    if service_level is not None:
        if not 0 < service_level < 1:
            raise PolicyError("service_level", "must lie in (0, 1)", service_level)
        return np.full(len(params), float(service_level))
    overage = params.daily_holding_cost * params.review_period_days
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = params.stockout_cost / (params.stockout_cost + overage)
    return np.where(np.isnan(params.stockout_cost), params.service_level, ratio)


def demand_moments(
    history: np.ndarray | None, window: int, policy: str
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the last ``window`` days, each ``(n,)``."""
    if history is None:
        raise PolicyError("demand_history", f"is required by policy {policy!r}", None)
    recent = history[:, -window:]
    if recent.shape[1] == 0:
        zeros = np.zeros(history.shape[0])
        return zeros, zeros.copy()
    ddof = 1 if recent.shape[1] > 1 else 0
    return recent.mean(axis=1), recent.std(axis=1, ddof=ddof)


def _decision(
    inputs: ReviewInputs,
    level: np.ndarray,
    target: np.ndarray,
    expected_cost: np.ndarray,
) -> Decision:
    position = inputs.inventory_position
    order = round_order(level - position, position, inputs.params)
    return Decision(
        order_quantity=order,
        order_up_to_level=level,
        inventory_position=position.copy(),
        quantile_used=target,
        service_level=target,
        expected_cost=expected_cost,
    )


def normal_period_cost(
    level: np.ndarray, mean: np.ndarray, std: np.ndarray, params: PolicyTable
) -> np.ndarray:
    """Expected holding plus stockout cost of one review period, shape ``(n,)``.

    Demand over the protection interval is normal(``mean``, ``std``); holding
    is charged on the expected leftover for ``R`` days, stockout on the
    expected shortage at ``stockout_cost`` (zero where unset).
    """
    safe = np.maximum(std, 1e-12)
    z = (level - mean) / safe
    shortage = safe * (stats.norm.pdf(z) - z * stats.norm.sf(z))
    leftover = shortage + level - mean
    holding = params.daily_holding_cost * params.review_period_days * leftover
    return holding + np.nan_to_num(params.stockout_cost, nan=0.0) * shortage


@dataclass
class BaseStockNormal:
    """Order up to the point forecast over ``L + R`` plus normal safety stock.

    ``order_up_to_level = mu (L + R) + z sigma sqrt(L + R)`` with ``mu`` and
    ``sigma`` the mean and standard deviation of the last ``window`` days of
    demand and ``z`` the standard normal quantile of the target level.

    Parameters
    ----------
    window
        Days of history the moments are taken over.
    service_level
        Overrides every SKU's target level (see :func:`target_service_level`).
    """

    window: int = DEFAULT_WINDOW_DAYS
    service_level: float | None = None
    name: str = "base_stock"

    def decide(self, inputs: ReviewInputs) -> Decision:
        params = inputs.params
        mu, sigma = demand_moments(inputs.demand_history, self.window, self.name)
        target = target_service_level(params, self.service_level)
        cover = params.lead_time_days + params.review_period_days
        mean, std = mu * cover, sigma * np.sqrt(cover)
        level = mean + stats.norm.ppf(target) * std
        return _decision(
            inputs, level, target, normal_period_cost(level, mean, std, params)
        )


@dataclass
class MyopicNewsvendor:
    """Single-period critical-ratio order on a normal approximation.

    Stock expected at the order's arrival is the position less mean lead-time
    demand; the order brings it up to the critical-ratio quantile of one
    review period's demand: ``order_up_to_level = mu L + mu R + z sigma
    sqrt(R)``. Lead-time uncertainty is ignored, which is what makes it myopic.

    Parameters
    ----------
    window
        Days of history the moments are taken over.
    service_level
        Overrides the critical ratio of every SKU.
    """

    window: int = DEFAULT_WINDOW_DAYS
    service_level: float | None = None
    name: str = "newsvendor"

    def decide(self, inputs: ReviewInputs) -> Decision:
        params = inputs.params
        mu, sigma = demand_moments(inputs.demand_history, self.window, self.name)
        ratio = target_service_level(params, self.service_level)
        period = params.review_period_days.astype(float)
        mean = mu * (params.lead_time_days + period)
        level = mean + stats.norm.ppf(ratio) * sigma * np.sqrt(period)
        cost = normal_period_cost(level, mean, sigma * np.sqrt(period), params)
        return _decision(inputs, level, ratio, cost)


@dataclass
class PointAtPercentile:
    """The forecast collapsed to a point, read as if it were the target quantile.

    ``order_up_to_level`` is the forecast's median (``point="median"``) or mean
    (``point="mean"``) of cumulative demand over ``L + R`` days, read with the
    quantile model of :mod:`optimization.quantiles` (mean lead time); the decision
    reports the target level as the quantile used, which is the error this
    ablation measures.

    Parameters
    ----------
    point
        ``"median"`` or ``"mean"`` of the forecast distribution.
    service_level
        Overrides every SKU's target level (reported only).
    """

    point: str = "median"
    service_level: float | None = None
    name: str = "point"

    def __post_init__(self) -> None:
        if self.point not in {"median", "mean"}:
            raise PolicyError("point", "must be 'median' or 'mean'", self.point)

    def decide(self, inputs: ReviewInputs) -> Decision:
        params = inputs.params
        if inputs.cumulative_quantiles.size == 0:
            raise PolicyError(
                "cumulative_quantiles", f"is required by policy {self.name!r}", None
            )
        levels = check_levels(inputs.quantile_levels)
        cover = params.lead_time_days + params.review_period_days
        curve = interval_quantiles(inputs.cumulative_quantiles, cover)
        if self.point == "median":
            level = quantile_at(curve, levels, 0.5)
        else:
            level = expected_demand(curve, levels)
        target = target_service_level(params, self.service_level)
        return _decision(inputs, level, target, np.full(len(params), np.nan))


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
        Overrides every SKU's target level when tuning.
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
    service_level: float | None = None
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
        self, service_level: float, *, implied_cost: bool | None = None
    ) -> SSPolicy:
        """A copy re-picked for ``service_level`` from the same fitted grid runs.

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
        target = target_service_level(inputs.params, self.service_level)
        return Decision(
            order_quantity=round_order(raw, position, inputs.params),
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
        return Decision(
            round_order(raw, position, inputs.params), level, position, nan, nan, nan
        )


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
