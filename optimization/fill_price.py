"""A price on every unit short, and the service level it gives each SKU.

A fill-rate target counts units while costs are money, so the cheapest way to
reach a portfolio fill rate does not give every SKU the same service level.
With the cycle cost of :mod:`optimization.policy` (``h_i R_i`` per unit left
over, ``p_i`` per unit short, ``p_i = 0`` for a SKU without a stockout cost)
the problem is

``min sum_i C_i(S_i)  s.t.  sum_i E[(D_i - S_i)^+] <= (1 - F) sum_i d_i``

where ``D_i`` is demand over the protection interval, ``d_i`` the expected
demand of one review period and ``F`` the target fill rate. Pricing each unit
short at ``lam >= 0`` (the fill price, money per unit of demand not served)
gives each SKU the newsvendor problem with stockout cost ``p_i + lam``, whose
answer is the level

``a_i(lam) = (p_i + lam) / (p_i + lam + h_i R_i)``,

so cheap SKUs are held at higher levels than dear ones. Both ``C_i`` and the
expected shortage are convex in ``S_i`` and the levels are capped by a box
``S_i <= Q_i(max_level)``, so by Everett's theorem the levels at ``lam``
minimize the total cost among all plans short by no more than they are; the
Lagrangian dual value is a lower bound for the target itself.
:func:`select_fill_price` finds the smallest ``lam`` that meets a target;
:func:`fill_price_levels` gives the levels at any ``lam``, the knob a frontier
is swept along.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from optimization.base import ReviewInputs
from optimization.params import PolicyError, PolicyTable
from optimization.policy import DEFAULT_MAX_SERVICE_LEVEL, CycleCosts, QuantilePolicy
from optimization.quantiles import (
    check_levels,
    expected_demand,
    expected_leftover,
    expected_shortage,
    mixture_quantiles,
    quantile_at,
)

_BISECTION_STEPS = 200
_RELATIVE_TOLERANCE = 1e-12
# Levels stay inside (0, 1) so that every policy reads a finite level.
_LOWEST_LEVEL = float(np.nextafter(0.0, 1.0))
_HIGHEST_LEVEL = float(np.nextafter(1.0, 0.0))


class FillPriceStatus(enum.IntEnum):
    """How a :class:`FillPriceResult` came out."""

    #: The levels at the SKUs' own costs (fill price 0) already meet the target.
    NOT_BINDING = 0
    #: The smallest fill price that meets the target; optimal for its shortage.
    OPTIMAL = 1
    #: Not even every SKU at ``max_level`` meets the target; the levels are
    #: those, the closest the portfolio gets.
    INFEASIBLE = 2


@dataclass(frozen=True)
class FillPriceResult:
    """The outcome of :func:`select_fill_price`; arrays have shape ``(n,)``.

    Attributes
    ----------
    fill_price
        Money per unit short that the levels price in; ``inf`` when
        infeasible.
    service_level
        Each SKU's level ``a_i``.
    order_up_to_level
        The demand quantile at that level.
    expected_fill_rate
        ``1 - sum E[(D_i - S_i)^+] / sum d_i`` at these levels.
    expected_cost
        Total expected cycle cost (holding on leftover, stockout cost on
        shortage; no ordering cost, which the level does not change).
    lower_bound
        No plan meeting the target costs less (the Lagrangian dual value);
        ``-inf`` when infeasible.
    status, message
        A :class:`FillPriceStatus` and what it means here.
    """

    fill_price: float
    service_level: np.ndarray
    order_up_to_level: np.ndarray
    expected_fill_rate: float
    expected_cost: float
    lower_bound: float
    status: FillPriceStatus
    message: str


def price_levels(
    holding: np.ndarray,
    stockout: np.ndarray,
    fill_price: float,
    max_level: float = _HIGHEST_LEVEL,
) -> np.ndarray:
    """``(p_i + lam) / (p_i + lam + h_i R_i)`` per SKU, capped at ``max_level``.

    Parameters
    ----------
    holding
        Cost of one unit left over, ``h_i R_i``, shape ``(n,)``, ``>= 0``.
    stockout
        Cost of one unit short, ``p_i``, shape ``(n,)``, ``>= 0``.
    fill_price
        ``lam >= 0``.
    max_level
        Highest level returned, in (0, 1).

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``, inside (0, 1); 1 (then the cap) where nothing costs.
    """
    price = float(fill_price)
    if not price >= 0:
        raise PolicyError("fill_price", "must be a number >= 0", fill_price)
    if not 0 < max_level < 1:
        raise PolicyError("max_level", "must lie in (0, 1)", max_level)
    short = np.asarray(stockout, dtype=float) + price
    total = short + np.asarray(holding, dtype=float)
    level = np.divide(short, total, out=np.ones_like(total), where=total > 0)
    return np.clip(level, _LOWEST_LEVEL, min(max_level, _HIGHEST_LEVEL))


def fill_price_levels(
    params: PolicyTable, fill_price: float, max_level: float = _HIGHEST_LEVEL
) -> np.ndarray:
    """The level of every SKU of ``params`` at ``fill_price``, shape ``(n,)``.

    A SKU with a ``stockout_cost`` adds the fill price to it; a SKU driven by
    a service level is priced by the fill price alone (its own level is set
    aside). Feed the result to :func:`optimization.pareto.with_service_level`
    to run any policy at these levels.
    """
    holding = params.daily_holding_cost * params.review_period_days
    return price_levels(holding, _stockout_cost(params), fill_price, max_level)


def select_fill_price(
    quantiles: np.ndarray,
    quantile_levels: np.ndarray,
    *,
    holding: np.ndarray,
    stockout: np.ndarray,
    cycle_demand: np.ndarray,
    target_fill_rate: float,
    max_level: float = DEFAULT_MAX_SERVICE_LEVEL,
) -> FillPriceResult:
    """The least-cost levels whose expected portfolio fill rate meets a target.

    Parameters
    ----------
    quantiles
        Demand over each SKU's protection interval, shape ``(n, q)``.
    quantile_levels
        Shape ``(q,)``.
    holding
        ``h_i R_i``, shape ``(n,)``.
    stockout
        ``p_i``, shape ``(n,)``; 0 for SKUs priced by the fill rate alone.
    cycle_demand
        Expected demand of one review period, the fill rate's denominator,
        shape ``(n,)``. The shortage of a cycle is counted as
        ``E[(D_i - S_i)^+]``, which ignores shortage carried over from the
        cycle before (it errs towards more stock).
    target_fill_rate
        In (0, 1).
    max_level
        Cap on every SKU's level.

    Returns
    -------
    FillPriceResult
        Status ``NOT_BINDING`` (fill price 0), ``OPTIMAL`` (the smallest fill
        price meeting the target, found by bisection) or ``INFEASIBLE``.
    """
    if not 0 < target_fill_rate < 1:
        raise PolicyError("target_fill_rate", "must lie in (0, 1)", target_fill_rate)
    plan = _Portfolio(
        quantiles,
        quantile_levels,
        holding=holding,
        stockout=stockout,
        cycle_demand=cycle_demand,
        max_level=max_level,
    )
    allowed = (1.0 - target_fill_rate) * plan.demand

    free = plan.at(0.0)
    if free.short <= allowed or plan.demand <= 0:
        return free.result(
            FillPriceStatus.NOT_BINDING,
            "the SKUs' own costs meet the target",
            bound=free.cost,
        )
    top = plan.at(plan.price_ceiling())
    if top.short > allowed:
        return top.result(
            FillPriceStatus.INFEASIBLE,
            f"target_fill_rate: {target_fill_rate:g} is out of reach; every SKU"
            f" at level {max_level:g} gives {top.fill_rate:.6g}",
            bound=-np.inf,
            price=np.inf,
        )

    low, high = free, top
    for _ in range(_BISECTION_STEPS):
        middle = plan.at(0.5 * (low.price + high.price))
        if middle.short <= allowed:
            high = middle
        else:
            low = middle
        if high.price - low.price <= _RELATIVE_TOLERANCE * high.price:
            break
    bound = high.cost + high.price * (high.short - allowed)
    return high.result(
        FillPriceStatus.OPTIMAL,
        f"fill price {high.price:.6g} per unit short meets the target",
        bound=bound,
    )


def select_for_review(
    inputs: ReviewInputs,
    target_fill_rate: float,
    *,
    policy: QuantilePolicy | None = None,
) -> FillPriceResult:
    """:func:`select_fill_price` for the SKUs of one review.

    Demand over the protection interval is what ``policy`` reads (a mixture
    over the lead time where it is uncertain); the demand of one review
    period is the mean over lead time plus review period less the mean over
    the lead time alone.
    """
    policy = policy or QuantilePolicy()
    plan = policy.plan(inputs)
    params = inputs.params
    lead_only = mixture_quantiles(
        inputs.cumulative_quantiles,
        plan.quantile_levels,
        params.lead_time_days,
        params.lead_time_spread_days,
        np.zeros(len(params)),
        support_points=policy.support_points,
    )
    cycle = expected_demand(plan.quantiles, plan.quantile_levels) - expected_demand(
        lead_only, plan.quantile_levels
    )
    return select_fill_price(
        plan.quantiles,
        plan.quantile_levels,
        holding=CycleCosts.from_params(params).overage,
        stockout=_stockout_cost(params),
        cycle_demand=np.maximum(cycle, 0.0),
        target_fill_rate=target_fill_rate,
        max_level=policy.max_service_level,
    )


def _stockout_cost(params: PolicyTable) -> np.ndarray:
    """``p_i``: the stockout cost where set, else 0."""
    cost = params.stockout_cost.astype(float)
    return np.where(np.isfinite(cost), cost, 0.0)


@dataclass(frozen=True)
class _Point:
    """The portfolio at one fill price."""

    price: float
    level: np.ndarray
    stock: np.ndarray
    short: float
    cost: float
    fill_rate: float

    def result(
        self,
        status: FillPriceStatus,
        message: str,
        *,
        bound: float,
        price: float | None = None,
    ) -> FillPriceResult:
        return FillPriceResult(
            fill_price=self.price if price is None else price,
            service_level=self.level,
            order_up_to_level=self.stock,
            expected_fill_rate=self.fill_rate,
            expected_cost=self.cost,
            lower_bound=float(min(bound, self.cost)),
            status=status,
            message=message,
        )


class _Portfolio:
    """Levels, shortage and cost of a set of SKUs as a function of the price."""

    def __init__(
        self,
        quantiles: np.ndarray,
        quantile_levels: np.ndarray,
        *,
        holding: np.ndarray,
        stockout: np.ndarray,
        cycle_demand: np.ndarray,
        max_level: float,
    ) -> None:
        self.levels = check_levels(quantile_levels)
        self.quantiles = np.asarray(quantiles, dtype=float)
        if self.quantiles.ndim != 2 or self.quantiles.shape[1] != self.levels.size:
            raise PolicyError(
                "quantiles",
                f"must have shape (n_skus, {self.levels.size})",
                self.quantiles.shape,
            )
        n = self.quantiles.shape[0]
        self.holding = _non_negative("holding", holding, n)
        self.stockout = _non_negative("stockout", stockout, n)
        self.demand = float(_non_negative("cycle_demand", cycle_demand, n).sum())
        self.max_level = max_level

    def price_ceiling(self) -> float:
        """A price at which every SKU sits at ``max_level``."""
        cap = min(self.max_level, _HIGHEST_LEVEL)
        needed = self.holding * cap / (1.0 - cap) - self.stockout
        return float(np.max(needed, initial=0.0)) * (1 + 1e-9) + 1e-300

    def at(self, price: float) -> _Point:
        level = price_levels(self.holding, self.stockout, price, self.max_level)
        stock = quantile_at(self.quantiles, self.levels, level)
        short = expected_shortage(self.quantiles, self.levels, stock)
        left = expected_leftover(self.quantiles, self.levels, stock)
        cost = float(np.sum(self.holding * left + self.stockout * short))
        total_short = float(short.sum())
        fill = 1.0 - total_short / self.demand if self.demand > 0 else 1.0
        return _Point(price, level, stock, total_short, cost, fill)


def _non_negative(name: str, values: np.ndarray, n: int) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.shape != (n,):
        raise PolicyError(name, f"must have shape ({n},)", array.shape)
    bad = np.flatnonzero(~(np.isfinite(array) & (array >= 0)))
    if bad.size:
        first = int(bad[0])
        rule = f"must be finite and >= 0; element {first} of {n} is not"
        raise PolicyError(name, rule, float(array[first]))
    return array
