"""The order-up-to policy that reads its level off the demand distribution.

At a review, an order placed now arrives after the lead time ``L`` and must
cover demand until the next order arrives, ``L + R`` days ahead (``R`` is the
review period): the protection interval. With ``D`` the demand over it and
``y`` the inventory position after ordering, one cycle costs

``C(y) = h R E[(y - D)^+] + p E[(D - y)^+] + K 1{order > 0}``

where ``h`` is the daily holding cost (``unit_cost * holding_cost_rate / 365``),
``p`` the stockout cost per unit short and ``K`` the ordering cost. Stock left
when the protection interval ends is carried one more review period; the
cycle stock every policy carries alike is left out. Setting the derivative of
the first two terms to zero gives the critical ratio

``alpha = p / (p + h R)``,

and the order-up-to level ``S = Q_D(alpha)``. A SKU with a target
``service_level`` instead uses ``alpha = service_level`` and, in its cost, the
stockout cost that target implies, ``p = h R alpha / (1 - alpha)``. The ordering
cost enters the reported cost, not the level: an (s, S) policy is the one that
trades it off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimization.base import Decision, ReviewInputs, SkuStatus
from optimization.params import PolicyError, PolicyTable
from optimization.quantiles import (
    DEFAULT_SUPPORT_POINTS,
    cdf_at,
    check_levels,
    expected_demand,
    expected_shortage,
    longest_lead_time,
    mixture_quantiles,
    quantile_at,
)

DEFAULT_MAX_SERVICE_LEVEL = 0.9999
_EXAMPLES = 5


@dataclass(frozen=True)
class CycleCosts:
    """Per-unit cost terms of one replenishment cycle, each of shape ``(n,)``.

    Attributes
    ----------
    overage
        Cost of one unit left when the protection interval ends: ``h * R``.
    underage
        Cost of one unit of demand short: ``stockout_cost``, or the one the
        target service level implies.
    ordering
        Fixed cost of placing an order.
    target_level
        The level the order-up-to level is read at.
    """

    overage: np.ndarray
    underage: np.ndarray
    ordering: np.ndarray
    target_level: np.ndarray

    @classmethod
    def from_params(
        cls, params: PolicyTable, max_level: float = DEFAULT_MAX_SERVICE_LEVEL
    ) -> CycleCosts:
        """Read the cost terms off ``params``; levels are capped at ``max_level``."""
        overage = params.daily_holding_cost * params.review_period_days
        by_cost = np.isfinite(params.stockout_cost)
        stockout = np.where(by_cost, params.stockout_cost, 0.0)
        total = stockout + overage
        ratio = np.divide(stockout, total, out=np.ones_like(total), where=total > 0)
        target = np.minimum(np.where(by_cost, ratio, params.service_level), max_level)
        implied = overage * target / (1.0 - target)
        underage = np.where(by_cost, stockout, implied)
        return cls(overage, underage, params.ordering_cost.astype(float), target)

    def expected(
        self,
        quantiles: np.ndarray,
        quantile_levels: np.ndarray,
        position: np.ndarray,
        ordered: np.ndarray,
    ) -> np.ndarray:
        """Expected cycle cost at post-order ``position``, shape ``(n,)``.

        Parameters
        ----------
        quantiles
            Demand over the protection interval, shape ``(n, q)``.
        quantile_levels
            Shape ``(q,)``.
        position
            Inventory position after ordering, shape ``(n,)``.
        ordered
            Whether an order is placed, shape ``(n,)``.
        """
        short = expected_shortage(quantiles, quantile_levels, position)
        mean = expected_demand(quantiles, quantile_levels)
        left = np.maximum(position - mean + short, 0.0)
        return (
            self.overage * left
            + self.underage * short
            + np.where(ordered, self.ordering, 0.0)
        )


@dataclass(frozen=True)
class ReviewPlan:
    """What a review of ``n`` SKUs works out before it settles the orders.

    Pack counts are floats so that an unlimited capacity can be ``inf``.

    Attributes
    ----------
    skus
        Shape ``(n,)``.
    quantiles
        Demand over the protection interval, shape ``(n, q)``.
    quantile_levels
        Shape ``(q,)``.
    costs
        The cycle cost terms.
    inventory_position
        Before ordering, shape ``(n,)``.
    order_up_to_level
        Shape ``(n,)``.
    case_pack, unit_cost
        Shape ``(n,)``.
    min_packs
        Fewest case packs an order may have (the MOQ, at least 1), ``(n,)``.
    room_packs
        Most case packs capacity admits, ``(n,)``.
    order_packs
        The policy's order in case packs, ``(n,)``.
    sku_status
        :class:`SkuStatus` flags per SKU, ``(n,)``.
    """

    skus: np.ndarray
    quantiles: np.ndarray
    quantile_levels: np.ndarray
    costs: CycleCosts
    inventory_position: np.ndarray
    order_up_to_level: np.ndarray
    case_pack: np.ndarray
    unit_cost: np.ndarray
    min_packs: np.ndarray
    room_packs: np.ndarray
    order_packs: np.ndarray
    sku_status: np.ndarray

    def expected_cost(self, packs: np.ndarray) -> np.ndarray:
        """Expected cycle cost of ordering ``packs`` case packs, shape ``(n,)``."""
        position = self.inventory_position + packs * self.case_pack
        return self.costs.expected(
            self.quantiles, self.quantile_levels, position, packs > 0
        )

    def expected_cost_rows(self, rows: np.ndarray, packs: np.ndarray) -> np.ndarray:
        """Expected cycle cost of SKU ``rows[j]`` ordering ``packs[j]`` packs.

        Parameters
        ----------
        rows
            Row index per candidate, shape ``(m,)``; rows may repeat.
        packs
            Case packs per candidate, shape ``(m,)``.
        """
        c = self.costs
        costs = CycleCosts(
            c.overage[rows], c.underage[rows], c.ordering[rows], c.target_level[rows]
        )
        position = self.inventory_position[rows] + packs * self.case_pack[rows]
        return costs.expected(
            self.quantiles[rows], self.quantile_levels, position, packs > 0
        )

    def decision(
        self, packs: np.ndarray | None = None, extra: np.ndarray | None = None
    ) -> Decision:
        """The :class:`Decision` for ``packs`` (default: the policy's orders).

        ``extra`` holds further :class:`SkuStatus` flags to add per SKU.
        """
        packs = self.order_packs if packs is None else packs
        flags = self.sku_status if extra is None else self.sku_status | extra
        quantity = (packs * self.case_pack).astype(np.int64)
        position = self.inventory_position + quantity
        service = cdf_at(self.quantiles, self.quantile_levels, position)
        gave_way = SkuStatus.CAPACITY_CUT | SkuStatus.MOQ_BLOCKED | SkuStatus.BUDGET_CUT
        return Decision(
            order_quantity=quantity,
            order_up_to_level=self.order_up_to_level,
            inventory_position=self.inventory_position,
            quantile_used=self.costs.target_level,
            service_level=service,
            expected_cost=self.expected_cost(packs),
            status=int(np.any(flags & gave_way)),
            message=describe(self.skus, flags),
            sku_status=flags,
        )


def describe(skus: np.ndarray, flags: np.ndarray) -> str:
    """One line saying which constraints gave way for how many SKUs."""
    notes = {
        SkuStatus.CAPACITY_CUT: "order cut by capacity",
        SkuStatus.MOQ_BLOCKED: "capacity below the MOQ, no order",
        SkuStatus.BUDGET_CUT: "order cut by the budget",
        SkuStatus.EXTRAPOLATED: "demand extrapolated past the forecast horizon",
    }
    parts = []
    for flag, note in notes.items():
        hit = np.flatnonzero(flags & flag)
        if hit.size:
            examples = ", ".join(str(s) for s in skus[hit[:_EXAMPLES]])
            more = ", ..." if hit.size > _EXAMPLES else ""
            parts.append(f"{note}: {hit.size} SKU(s) ({examples}{more})")
    return "; ".join(parts) if parts else "ok"


class QuantilePolicy:
    """Order up to the demand quantile at the critical ratio or service level.

    The order is ``max(0, S - inventory_position)`` rounded up to whole case
    packs, raised to the MOQ when positive, and cut to whole case packs that
    fit ``capacity`` with what is on hand and on order
    (:attr:`ReviewInputs.held`, the position plus back-orders); when what
    fits is less than the MOQ nothing is ordered and the SKU is flagged
    :attr:`SkuStatus.MOQ_BLOCKED`.

    Parameters
    ----------
    support_points
        Lead-time points of the mixture used where the lead time is uncertain.
    max_service_level
        Cap on the level read (a zero holding cost would otherwise ask for
        the quantile at 1).
    """

    name = "quantile"

    def __init__(
        self,
        *,
        support_points: int = DEFAULT_SUPPORT_POINTS,
        max_service_level: float = DEFAULT_MAX_SERVICE_LEVEL,
    ) -> None:
        if not isinstance(support_points, int) or support_points < 2:
            raise PolicyError(
                "support_points", "must be an integer >= 2", support_points
            )
        if not 0 < max_service_level < 1:
            raise PolicyError(
                "max_service_level", "must lie in (0, 1)", max_service_level
            )
        self.support_points = support_points
        self.max_service_level = max_service_level

    def decide(self, inputs: ReviewInputs) -> Decision:
        """Orders for every SKU of ``inputs``; see the class docstring."""
        return self.plan(inputs).decision()

    def plan(self, inputs: ReviewInputs) -> ReviewPlan:
        """Work out levels, costs and constraint room without settling orders."""
        levels, position, held = _check_inputs(inputs)
        params = inputs.params
        quantiles = mixture_quantiles(
            inputs.cumulative_quantiles,
            levels,
            params.lead_time_days,
            params.lead_time_spread_days,
            params.review_period_days,
            support_points=self.support_points,
        )
        if not np.all(np.isfinite(quantiles)):
            bad = np.flatnonzero(~np.isfinite(quantiles).all(axis=1))
            raise PolicyError(
                "cumulative_quantiles", "must be finite", list(inputs.skus[bad[:3]])
            )
        costs = CycleCosts.from_params(params, self.max_service_level)
        level = quantile_at(quantiles, levels, costs.target_level)

        pack = params.case_pack.astype(float)
        min_packs = np.maximum(np.ceil(params.moq / pack), 1.0)
        wanted = np.ceil(np.maximum(level - position, 0.0) / pack)
        wanted = np.where(wanted > 0, np.maximum(wanted, min_packs), 0.0)
        room = np.floor(np.maximum(params.capacity - held, 0.0) / pack)
        cut = wanted > room
        blocked = cut & (room < min_packs)
        packs = np.where(cut, np.where(blocked, 0.0, room), wanted)

        horizon = inputs.cumulative_quantiles.shape[1]
        flags = np.where(cut, int(SkuStatus.CAPACITY_CUT), 0)
        moq_flag = blocked & (room >= 1)
        flags = np.where(moq_flag, int(SkuStatus.MOQ_BLOCKED), flags)
        longest = longest_lead_time(
            params.lead_time_days, params.lead_time_spread_days, self.support_points
        )
        beyond = longest + params.review_period_days > horizon
        flags = flags | np.where(beyond, int(SkuStatus.EXTRAPOLATED), 0)

        return ReviewPlan(
            skus=inputs.skus,
            quantiles=quantiles,
            quantile_levels=levels,
            costs=costs,
            inventory_position=position,
            order_up_to_level=level,
            case_pack=pack,
            unit_cost=params.unit_cost.astype(float),
            min_packs=min_packs,
            room_packs=room,
            order_packs=packs,
            sku_status=flags.astype(np.int64),
        )


def _check_inputs(inputs: ReviewInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate shapes; return the levels, the position and what is held."""
    levels = check_levels(inputs.quantile_levels)
    n = len(inputs.params)
    cube = inputs.cumulative_quantiles
    if cube.ndim != 3 or cube.shape[0] != n or cube.shape[2] != levels.size:
        raise PolicyError(
            "cumulative_quantiles",
            f"must have shape (n_skus={n}, horizon, {levels.size})",
            cube.shape,
        )
    position = np.asarray(inputs.inventory_position, dtype=float)
    if position.shape != (n,):
        raise PolicyError(
            "inventory_position", f"must have shape ({n},)", position.shape
        )
    if not np.all(np.isfinite(position)):
        raise PolicyError(
            "inventory_position", "must be finite", position[~np.isfinite(position)][:3]
        )
    return levels, position.copy(), inputs.held
