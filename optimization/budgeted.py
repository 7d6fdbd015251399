"""Ordering under a budget per review: no policy spends more than it is given.

A budget caps the spend (units x ``unit_cost``) of all orders placed at one
review. Two policies apply it, so that a simulation compares decisions under
the same limit:

- :class:`AllocatedPolicy` runs :func:`~optimization.allocation.allocate`:
  the quantile policy's orders, cut where the budget binds so that the total
  expected cycle cost is least (MILP or Lagrangian, see
  :mod:`optimization.allocation`).
- :class:`BudgetCapped` wraps any other :class:`~optimization.base.Policy`
  (the baselines have no cost model to allocate by) and cuts its orders by a
  rule that needs only the orders and the policy's own levels:

  1. every order is scaled by ``budget / spend`` and rounded down to whole
     case packs (a buyer cutting a purchase order across the board); an order
     left below its MOQ is dropped;
  2. what is left of the budget goes back one step at a time (one case pack,
     or the MOQ for a dropped order) to the SKUs furthest below their own
     order-up-to level as a share of it, never above the original order.

Both only ever cut orders: MOQ, case pack and capacity stay as the wrapped
policy honoured them, and ``SkuStatus.BUDGET_CUT`` flags every SKU ordered
less than it asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from optimization.allocation import allocate
from optimization.base import Decision, Policy, ReviewInputs, SkuStatus
from optimization.params import PolicyError, PolicyTable
from optimization.policy import QuantilePolicy, describe

_FILL_ROUNDS = 64
# Spend may exceed the budget by this share of it: float rounding only.
_SPEND_SLACK = 1e-12


def _check_budget(budget: float) -> float:
    value = float(budget)
    if not value >= 0:
        raise PolicyError("budget", "must be a number >= 0", budget)
    return value


@dataclass
class AllocatedPolicy:
    """The quantile policy with its orders allocated under a per-review budget.

    Parameters
    ----------
    budget
        Most spend the orders of one review may total, in units of
        ``unit_cost``.
    policy
        The quantile policy whose levels and orders bound the allocation.
    name
        Reported name; by default the wrapped policy's.
    """

    budget: float
    policy: QuantilePolicy = field(default_factory=QuantilePolicy)
    name: str = ""

    def __post_init__(self) -> None:
        self.budget = _check_budget(self.budget)
        self.name = self.name or self.policy.name

    def decide(self, inputs: ReviewInputs) -> Decision:
        """The allocation's decision; see :func:`~optimization.allocation.allocate`."""
        return allocate(inputs, self.budget, policy=self.policy).decision


@dataclass
class BudgetCapped:
    """Any policy's orders cut to a per-review budget (see the module docstring).

    Parameters
    ----------
    policy
        The policy whose orders are cut; its orders must already honour MOQ,
        case pack and capacity.
    budget
        Most spend the orders of one review may total, in units of
        ``unit_cost``.
    name
        Reported name; by default the wrapped policy's.
    """

    policy: Policy
    budget: float
    name: str = ""

    def __post_init__(self) -> None:
        self.budget = _check_budget(self.budget)
        self.name = self.name or str(self.policy.name)

    def decide(self, inputs: ReviewInputs) -> Decision:
        """The wrapped policy's decision with orders cut to fit the budget."""
        decision = self.policy.decide(inputs)
        asked = np.asarray(decision.order_quantity, dtype=float)
        position = np.asarray(inputs.inventory_position, dtype=float)
        level = np.broadcast_to(
            np.asarray(decision.order_up_to_level, dtype=float), asked.shape
        )
        finite = np.isfinite(level)
        cut = cap_to_budget(
            asked,
            inputs.params,
            shortfall=np.where(finite, level, position + asked) - position,
            scale=np.where(finite, np.abs(level), np.abs(position + asked)),
            budget=self.budget,
        )
        if np.array_equal(cut, asked):
            return decision
        flags = decision.sku_status
        flags = np.zeros(asked.shape, np.int64) if flags is None else flags.copy()
        flags |= np.where(cut < asked, int(SkuStatus.BUDGET_CUT), 0)
        return Decision(
            order_quantity=cut,
            order_up_to_level=decision.order_up_to_level,
            inventory_position=decision.inventory_position,
            quantile_used=decision.quantile_used,
            service_level=decision.service_level,
            expected_cost=decision.expected_cost,
            status=1,
            message=describe(inputs.skus, flags),
            sku_status=flags,
        )


def cap_to_budget(
    quantity: np.ndarray,
    params: PolicyTable,
    *,
    shortfall: np.ndarray,
    scale: np.ndarray,
    budget: float,
) -> np.ndarray:
    """Orders cut to spend at most ``budget``: scale down, then refill by need.

    Parameters
    ----------
    quantity
        Orders in units, whole case packs and at least the MOQ where positive,
        shape ``(n,)``.
    params
        The ``n`` SKUs: ``unit_cost``, ``case_pack`` and ``moq`` are read.
    shortfall
        Units each SKU stands below its own order-up-to level before ordering,
        shape ``(n,)``.
    scale
        What the shortfall is measured against (the order-up-to level),
        shape ``(n,)``; the leftover budget goes first to the SKUs whose
        remaining shortfall is the largest share of it.
    budget
        Most total spend, ``>= 0``.

    Returns
    -------
    numpy.ndarray
        Orders in units, shape ``(n,)``: whole case packs, 0 or at least the
        MOQ, never above ``quantity``, total spend within ``budget``.
    """
    budget = _check_budget(budget)
    unit_cost = params.unit_cost.astype(float)
    case_pack = params.case_pack.astype(float)
    asked = np.maximum(np.floor(quantity / case_pack + 1e-9), 0.0)
    per_pack = unit_cost * case_pack
    spend = float(np.sum(asked * per_pack))
    limit = budget + _SPEND_SLACK * max(1.0, budget)
    if spend <= limit:
        return asked * case_pack

    min_packs = np.maximum(np.ceil(params.moq / case_pack - 1e-9), 1.0)
    packs = np.floor(asked * (budget / spend) + 1e-9)
    packs = np.where(packs >= min_packs, packs, 0.0)
    packs = np.minimum(packs, asked)
    need = _Need(shortfall, np.maximum(scale, 1.0), case_pack)
    packs = _refill(
        packs, asked, min_packs=min_packs, per_pack=per_pack, need=need, limit=limit
    )
    return packs * case_pack


@dataclass(frozen=True)
class _Need:
    """Remaining shortfall as a share of the level, given the packs so far."""

    shortfall: np.ndarray
    scale: np.ndarray
    case_pack: np.ndarray

    def __call__(self, rows: np.ndarray, packs: np.ndarray) -> np.ndarray:
        left = self.shortfall[rows] - packs * self.case_pack[rows]
        return left / self.scale[rows]


def _refill(
    packs: np.ndarray,
    asked: np.ndarray,
    *,
    min_packs: np.ndarray,
    per_pack: np.ndarray,
    need: _Need,
    limit: float,
) -> np.ndarray:
    """Hand the leftover budget back, one step per SKU per round, neediest first."""
    packs = packs.copy()
    for _ in range(_FILL_ROUNDS):
        left = limit - float(np.sum(packs * per_pack))
        step = np.where(packs > 0, packs + 1, min_packs)
        extra = (step - packs) * per_pack
        rows = np.flatnonzero((step <= asked) & (extra <= left))
        if rows.size == 0:
            break
        order = rows[np.argsort(-need(rows, packs[rows]), kind="stable")]
        take = order[np.cumsum(extra[order]) <= left]
        packs[take] = step[take]
    return packs


def with_budget(policy: Policy, budget: float | None) -> Policy:
    """``policy`` under a per-review ``budget`` (unchanged when it is None).

    A :class:`~optimization.policy.QuantilePolicy` is allocated
    (:class:`AllocatedPolicy`); any other policy is capped
    (:class:`BudgetCapped`).
    """
    if budget is None:
        return policy
    if isinstance(policy, QuantilePolicy):
        return AllocatedPolicy(budget, policy)
    return BudgetCapped(policy, budget)
