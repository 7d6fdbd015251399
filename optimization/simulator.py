"""Closed-loop simulation of an ordering policy against actual daily demand.

The simulator replays demand day by day, vectorized over SKUs, and lets a
:class:`~optimization.base.Policy` decide at every review. One simulated day
``t`` runs in this order:

1. orders due on day ``t`` arrive and go on hand (under back-orders they
   first clear the backlog);
2. day ``t``'s demand is served from on hand; what cannot be served is lost
   (``lost_sales=True``) or back-ordered;
3. day ``t`` closes; SKUs whose review falls due are reviewed with
   ``as_of = t``: SKU ``i`` is reviewed on ``start``, ``start + R_i``,
   ``start + 2 R_i``, ... where ``R_i`` is its ``review_period_days``;
4. each positive order placed at the close of day ``t`` with a lead time of
   ``L`` days arrives at the start of day ``t + L + 1``, so it first serves
   demand ``L`` full days after the review. ``L`` is drawn per order as
   ``round(normal(lead_time_days, lead_time_spread_days))`` clipped to
   ``[0, ceil(lead_time_days + 6 * lead_time_spread_days)]``.

With this timing an order-up-to level protects against demand over days
``t + 1 .. t + L + R``: the cumulative forecast at horizon ``L + R``.

Lead times are drawn for every SKU every day from one seeded generator,
whether or not an order is placed, so two policies simulated with the same
seed meet the same lead times (common random numbers).

Orders that break a constraint (MOQ, case pack, capacity, budget) are placed
as the policy asked and counted in :attr:`SimulationResult.violations`; the
simulator never repairs a decision. Capacity limits units on hand and on
order, the order included; back-ordered demand takes no room. A review hands
the policy its back-orders beside the position
(:attr:`~optimization.base.ReviewInputs.backorders`), so that it can measure
room the same way. Policies meet a budget by being wrapped
with :func:`optimization.budgeted.with_budget`; the count here is the
independent check that they did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from optimization.base import Policy, ReviewInputs
from optimization.params import PolicyTable

ForecastProvider = Callable[[int], tuple[np.ndarray, np.ndarray]]
"""``(as_of_index) -> (cumulative_quantiles (n_skus, H, q), quantile_levels (q,))``.

``as_of_index`` is the demand column of the last closed day; the quantiles
cover days ``as_of_index + 1 .. as_of_index + h`` for ``h = 1..H``, for every
SKU of the simulation in row order.
"""

VIOLATION_KINDS = ("negative", "case_pack", "moq", "capacity", "budget")
_EPS = 1e-9


class SimulationError(ValueError):
    """Simulation input that cannot be replayed; the message names the field."""


@dataclass(frozen=True)
class SimulationResult:
    """Daily trajectories of one simulated policy over days ``start .. end - 1``.

    Every trajectory has shape ``(n_skus, n_days)`` with ``n_days = end -
    start``; column ``k`` is demand day ``start + k``.

    Attributes
    ----------
    policy
        The policy's ``name``.
    params
        The policy parameters of the simulated SKUs.
    first_day
        Calendar day of simulated column 0.
    lost_sales
        True when unserved demand was lost, False when back-ordered.
    demand
        Demand of each day.
    served
        Units served from on hand on the day they were demanded.
    unserved
        ``demand - served``: lost, or added to the backlog.
    arrivals
        Units received at the start of the day.
    orders
        Units ordered at the close of the day.
    on_hand
        Units on hand at the close of the day (after serving, before ordering).
    backorders
        Backlog at the close of the day; zero under lost sales.
    inventory_position
        On hand + on order - backorders at the close, after ordering.
    reviewed
        True where the SKU was reviewed at the close of the day (bool).
    order_up_to_level
        The decision's order-up-to level on review days, NaN elsewhere.
    violations
        Count per kind over all SKUs: ``negative``, ``case_pack``, ``moq`` and
        ``capacity`` (on hand + on order + the order above ``capacity``)
        count offending orders; ``budget`` counts review days
        whose orders together cost more than the budget.
    violations_per_sku
        Offending orders per SKU (budget excluded), shape ``(n_skus,)``.
    decision_status
        Review days on which the policy reported a non-zero ``status``.
    """

    policy: str
    params: PolicyTable
    first_day: dt.date
    lost_sales: bool
    demand: np.ndarray
    served: np.ndarray
    unserved: np.ndarray
    arrivals: np.ndarray
    orders: np.ndarray
    on_hand: np.ndarray
    backorders: np.ndarray
    inventory_position: np.ndarray
    reviewed: np.ndarray
    order_up_to_level: np.ndarray
    violations: dict[str, int]
    violations_per_sku: np.ndarray
    decision_status: int = 0

    @property
    def skus(self) -> np.ndarray:
        return self.params.skus

    @property
    def n_days(self) -> int:
        return int(self.demand.shape[1])

    @property
    def total_violations(self) -> int:
        return int(sum(self.violations.values()))


def select_params(params: PolicyTable, rows: np.ndarray) -> PolicyTable:
    """The rows ``rows`` (indices or a mask) of every field of ``params``."""
    return PolicyTable(
        **{f.name: getattr(params, f.name)[rows] for f in fields(params)}
    )


def simulate(
    policy: Policy,
    demand: np.ndarray,
    params: PolicyTable,
    forecasts: ForecastProvider | np.ndarray | None,
    start: int,
    *,
    end: int | None = None,
    quantile_levels: np.ndarray | None = None,
    lost_sales: bool = True,
    initial_on_hand: np.ndarray | float | None = None,
    seed: int = 0,
    budget: float | None = None,
    first_day: dt.date = dt.date(1970, 1, 1),
) -> SimulationResult:
    """Replay ``demand[:, start:end]`` under ``policy`` and record every day.

    Parameters
    ----------
    policy
        Decides order quantities at each review.
    demand
        Actual daily demand, shape ``(n_skus, n_days)``, never negative.
        Columns before ``start`` are the history policies may read.
    params
        Policy parameters aligned with the rows of ``demand``.
    forecasts
        Cumulative-demand quantiles for each review day: a
        :data:`ForecastProvider`, or an array ``(n_days, n_skus, H, q)`` indexed
        by ``as_of`` column (then ``quantile_levels`` is required), or None for
        policies that read only ``demand_history`` (they get ``H = q = 0``).
    start, end
        Demand columns ``start .. end - 1`` are simulated; ``end`` defaults to
        the last column + 1.
    quantile_levels
        Levels of a precomputed forecast array, shape ``(q,)``.
    lost_sales
        Lose unserved demand (default) or back-order it.
    initial_on_hand
        Units on hand before day ``start``, scalar or ``(n_skus,)``; by default
        the mean demand of the ``review_period_days + lead_time_days`` days
        before ``start`` times that many days (zero without history).
    seed
        Seeds the lead-time draws; the same seed gives the same result.
    budget
        Most spend (units x ``unit_cost``) the orders of one review day may
        total; exceeding it is counted, not prevented (wrap the policy with
        :func:`~optimization.budgeted.with_budget` to keep within it). None
        for no budget.
    first_day
        Calendar day of demand column 0, used for ``ReviewInputs.as_of``.

    Returns
    -------
    SimulationResult
        Trajectories over the ``end - start`` simulated days.
    """
    demand = np.asarray(demand, dtype=float)
    n_skus, n_cols = _check_inputs(demand, params, start, end)
    end = n_cols if end is None else end
    provider = _provider(forecasts, quantile_levels, n_skus)
    n_days = end - start
    rng = np.random.default_rng(seed)

    history = demand.view()
    history.flags.writeable = False
    on_hand = _initial_on_hand(demand, params, start, initial_on_hand)
    backlog = np.zeros(n_skus)
    on_order = np.zeros(n_skus)
    max_lead = _max_lead_time(params)
    due = np.zeros((n_skus, n_days + max_lead + 2))
    period = params.review_period_days.astype(np.int64)
    per_order = np.zeros(n_skus, dtype=np.int64)
    counts = dict.fromkeys(VIOLATION_KINDS, 0)
    statuses = 0

    rec = {name: np.zeros((n_skus, n_days)) for name in _TRAJECTORIES}
    rec["order_up_to_level"] = np.full((n_skus, n_days), np.nan)
    reviewed = np.zeros((n_skus, n_days), dtype=bool)

    for k in range(n_days):
        t = start + k
        arriving = due[:, k]
        on_hand += arriving
        on_order -= arriving
        cleared = np.minimum(on_hand, backlog)
        on_hand -= cleared
        backlog -= cleared

        served = np.minimum(on_hand, demand[:, t])
        unserved = demand[:, t] - served
        on_hand -= served
        if not lost_sales:
            backlog += unserved

        draw = rng.normal(params.lead_time_days, params.lead_time_spread_days)
        lead = np.clip(np.rint(draw), 0, max_lead).astype(np.int64)
        due_rows = np.flatnonzero(k % period == 0)
        if due_rows.size:
            quantity, level, status = _review(
                policy,
                provider,
                params,
                due_rows,
                t=t,
                first_day=first_day,
                history=history,
                position=on_hand + on_order - backlog,
                backorders=backlog,
            )
            statuses += status
            bad = _violations(quantity, params, due_rows, on_hand + on_order)
            for kind, mask in bad.items():
                counts[kind] += int(mask.sum())
                per_order[due_rows] += mask
            spend = float(np.sum(np.maximum(quantity, 0) * params.unit_cost[due_rows]))
            if budget is not None and spend > budget * (1 + _EPS):
                counts["budget"] += 1
            placed = np.maximum(quantity, 0.0)
            np.add.at(due, (due_rows, k + lead[due_rows] + 1), placed)
            on_order[due_rows] += placed
            rec["orders"][due_rows, k] = placed
            rec["order_up_to_level"][due_rows, k] = level
            reviewed[due_rows, k] = True

        rec["demand"][:, k] = demand[:, t]
        rec["served"][:, k] = served
        rec["unserved"][:, k] = unserved
        rec["arrivals"][:, k] = arriving
        rec["on_hand"][:, k] = on_hand
        rec["backorders"][:, k] = backlog
        rec["inventory_position"][:, k] = on_hand + on_order - backlog

    return SimulationResult(
        policy=str(getattr(policy, "name", type(policy).__name__)),
        params=params,
        first_day=first_day + dt.timedelta(days=start),
        lost_sales=lost_sales,
        reviewed=reviewed,
        violations=counts,
        violations_per_sku=per_order,
        decision_status=statuses,
        **rec,
    )


_TRAJECTORIES = (
    "demand",
    "served",
    "unserved",
    "arrivals",
    "orders",
    "on_hand",
    "backorders",
    "inventory_position",
)


def _review(
    policy: Policy,
    provider: ForecastProvider,
    params: PolicyTable,
    rows: np.ndarray,
    *,
    t: int,
    first_day: dt.date,
    history: np.ndarray,
    position: np.ndarray,
    backorders: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Ask ``policy`` for the SKUs at ``rows``; return quantity, level, status."""
    cumulative, levels = provider(t)
    every = rows.size == position.size
    past = history[:, : t + 1] if every else history[rows, : t + 1]
    past.flags.writeable = False
    inputs = ReviewInputs(
        as_of=first_day + dt.timedelta(days=t),
        inventory_position=position[rows],
        params=select_params(params, rows),
        quantile_levels=levels,
        cumulative_quantiles=cumulative[rows],
        demand_history=past,
        backorders=backorders[rows],
    )
    decision = policy.decide(inputs)
    quantity = np.asarray(decision.order_quantity, dtype=float)
    if quantity.shape != rows.shape or not np.all(np.isfinite(quantity)):
        raise SimulationError(
            f"order_quantity: must be {rows.size} finite values from policy"
            f" {getattr(policy, 'name', policy)!r} on day {t},"
            f" got shape {quantity.shape}"
        )
    level = np.broadcast_to(np.asarray(decision.order_up_to_level, float), rows.shape)
    return quantity, level, int(decision.status != 0)


def _violations(
    quantity: np.ndarray,
    params: PolicyTable,
    rows: np.ndarray,
    held: np.ndarray,
) -> dict[str, np.ndarray]:
    """Masks ``(len(rows),)`` of orders that break each per-order rule."""
    positive = quantity > _EPS
    pack = params.case_pack[rows]
    cases = quantity / pack
    return {
        "negative": quantity < -_EPS,
        "case_pack": positive & (np.abs(cases - np.rint(cases)) > 1e-6),
        "moq": positive & (quantity < params.moq[rows] - _EPS),
        "capacity": positive
        & (held[rows] + quantity > params.capacity[rows] * (1 + _EPS)),
    }


def _provider(
    forecasts: ForecastProvider | np.ndarray | None,
    quantile_levels: np.ndarray | None,
    n_skus: int,
) -> ForecastProvider:
    if forecasts is None:
        empty = (np.zeros((n_skus, 0, 0)), np.zeros(0))
        return lambda _t: empty
    if callable(forecasts):
        return forecasts
    table = np.asarray(forecasts, dtype=float)
    if table.ndim != 4 or table.shape[1] != n_skus:
        raise SimulationError(
            f"forecasts: a precomputed array must be (n_days, n_skus={n_skus}, H, q),"
            f" got shape {table.shape}"
        )
    if quantile_levels is None or len(quantile_levels) != table.shape[3]:
        raise SimulationError(
            f"quantile_levels: must give the {table.shape[3]} levels of the"
            f" precomputed forecasts, got {quantile_levels!r}"
        )
    levels = np.asarray(quantile_levels, dtype=float)
    return lambda t: (table[t], levels)


def _check_inputs(
    demand: np.ndarray, params: PolicyTable, start: int, end: int | None
) -> tuple[int, int]:
    if demand.ndim != 2:
        raise SimulationError(
            f"demand: must be 2-D (n_skus, n_days), got shape {demand.shape}"
        )
    n_skus, n_cols = demand.shape
    if len(params) != n_skus:
        raise SimulationError(
            f"params: must have one row per demand row ({n_skus}), got {len(params)}"
        )
    bad = np.argwhere(~(np.isfinite(demand) & (demand >= 0)))
    if bad.size:
        row, col = (int(i) for i in bad[0])
        raise SimulationError(
            "demand: must be finite and never negative, got"
            f" {float(demand[row, col])!r} at row {row} (SKU {params.skus[row]}),"
            f" column {col}"
        )
    stop = n_cols if end is None else end
    if not 0 <= start < stop <= n_cols:
        raise SimulationError(
            f"start, end: must satisfy 0 <= start < end <= {n_cols},"
            f" got start={start}, end={end}"
        )
    return n_skus, n_cols


def _max_lead_time(params: PolicyTable) -> int:
    longest = params.lead_time_days + 6 * params.lead_time_spread_days
    return int(np.ceil(longest.max())) if len(params) else 0


def _initial_on_hand(
    demand: np.ndarray,
    params: PolicyTable,
    start: int,
    initial: np.ndarray | float | None,
) -> np.ndarray:
    n_skus = demand.shape[0]
    if initial is not None:
        stock = np.broadcast_to(np.asarray(initial, dtype=float), (n_skus,)).copy()
        bad = np.flatnonzero(~(np.isfinite(stock) & (stock >= 0)))
        if bad.size:
            row = int(bad[0])
            raise SimulationError(
                "initial_on_hand: must be finite and never negative, got"
                f" {float(stock[row])!r} at row {row} (SKU {params.skus[row]})"
            )
        return stock
    if start == 0:
        return np.zeros(n_skus)
    cover = params.review_period_days + params.lead_time_days
    window = int(min(start, max(28, int(cover.max()))))
    return demand[:, start - window : start].mean(axis=1) * cover
