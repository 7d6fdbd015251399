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

The ``(s, S)`` policy, tuned per SKU by simulation, is
:class:`optimization.ss_policy.SSPolicy`; it rounds with :func:`round_order`
too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from optimization.base import Decision, ReviewInputs
from optimization.params import PolicyError, PolicyTable
from optimization.quantiles import (
    check_levels,
    expected_demand,
    interval_quantiles,
    quantile_at,
)

DEFAULT_WINDOW_DAYS = 56


def round_order(
    quantity: np.ndarray, held: np.ndarray, params: PolicyTable
) -> np.ndarray:
    """Round raw order quantities to orders that honour every per-SKU rule.

    A positive raw quantity is rounded up to whole case packs and raised to the
    MOQ (in whole cases); it is then cut to the whole cases that fit under
    ``capacity - held``, and dropped if that falls below the MOQ.
    Non-positive quantities give no order.

    Parameters
    ----------
    quantity
        Raw order quantities, shape ``(n,)``.
    held
        Units on hand and on order before ordering (the inventory position
        plus back-orders, :attr:`ReviewInputs.held`), shape ``(n,)``.
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
        room = np.floor((params.capacity - held) / pack + 1e-9)
    cases = np.minimum(cases, np.maximum(room, 0.0))
    cases = np.where(cases < np.maximum(moq_cases, 1.0), 0.0, cases)
    return cases * pack


def target_service_level(
    params: PolicyTable, service_level: float | np.ndarray | None = None
) -> np.ndarray:
    """Per-SKU target level, shape ``(n,)``.

    ``service_level`` (one level, or one per SKU) overrides the SKUs' own
    when given. Otherwise a SKU with a ``stockout_cost`` gets the critical
    ratio ``p / (p + h R)`` (``h`` the daily holding cost, ``R`` the review
    period), and the others their ``service_level``.
    """
    if service_level is not None:
        levels = np.asarray(service_level, dtype=float)
        if levels.ndim > 1 or (levels.ndim == 1 and levels.size != len(params)):
            raise PolicyError(
                "service_level", f"must be one level or {len(params)}", levels.shape
            )
        if not np.all((levels > 0) & (levels < 1)):
            raise PolicyError("service_level", "must lie in (0, 1)", service_level)
        return np.broadcast_to(levels, (len(params),)).copy()
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
    order = round_order(level - position, inputs.held, inputs.params)
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
