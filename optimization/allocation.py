"""Orders for many SKUs under one shared purchase budget.

The problem
-----------
For SKU ``i`` let ``k_i`` be the number of case packs ordered and
``C_i(k)`` the expected cycle cost of :class:`~optimization.policy.CycleCosts`
at inventory position ``IP_i + k * case_pack_i`` (ordering cost included).
The allocation solves

``min sum_i C_i(k_i)  s.t.  sum_i a_i k_i <= budget,
k_i in {0} u {m_i, ..., M_i}``

with ``a_i = unit_cost_i * case_pack_i`` the spend per pack, ``m_i`` the
fewest packs meeting the MOQ and ``M_i`` the policy's own order (which
already respects capacity). The budget only ever cuts orders: no SKU gets
more than :class:`~optimization.policy.QuantilePolicy` would order.

When the policy's own orders ``k_i = M_i`` fit the budget, the budget does
not bind and they are returned as they are: a budget changes nothing it does
not have to. The problem above is solved only when they do not fit. (The
policy rounds up to whole packs and leaves the ordering cost out of its
level, so ``M_i`` can cost more than the minimum of ``C_i``; the reported
lower bound is then that minimum and the gap says by how much.)

What is optimal
---------------
``C_i`` without its ordering cost is convex in the post-order position (both
loss functions are), hence convex in ``k``; the MOQ and the ordering cost
make the feasible set and the cost non-convex only through the choice
"0 or at least ``m_i``".

* Exact (MILP): every candidate ``(i, k)`` is a binary variable, one per SKU
  is chosen, and the spend row is the budget: a multiple-choice knapsack
  solved by HiGHS through :func:`scipy.optimize.milp`. Optimal for the cost
  model, any costs. Used when the candidate table is small.
* Lagrangian: for a price ``lam`` on spend, each SKU's best response
  ``argmin_k C_i(k) + lam a_i k`` is exact and cheap: on ``{m_i..M_i}`` the
  function is convex, so its minimum is at the floor or ceiling (in packs) of
  the continuous minimizer ``y = Q_D((p - lam c) / (p + h R))``; that is then
  compared with ``k = 0``. Everett's theorem: the best response at ``lam`` is
  optimal among all plans spending at most what it spends. Bisection finds
  the smallest price whose plan fits the budget; a greedy pass then spends
  what is left on the best cost decrease per unit of spend. The dual value
  ``sum_i min_k [C_i(k) + lam a_i k] - lam * budget`` is a lower bound on the
  optimum, and the result reports it: the plan is proved optimal when the
  gap closes. When the cost minimizers ``argmin_k C_i(k)`` (the best
  response at ``lam = 0``) fit the budget they are the optimum, and neither
  method is run. When every SKU has the
  same spend per pack, no MOQ above one pack and no ordering cost, the
  problem is marginal allocation of identical increments over convex costs
  and the greedy plan is optimal (Gross 1956; Fox 1966) up to the bisection
  tolerance, even where the reported gap stays open.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
from scipy import optimize, sparse

from optimization.base import Decision, ReviewInputs, SkuStatus
from optimization.policy import QuantilePolicy, ReviewPlan
from optimization.quantiles import quantile_at

DEFAULT_EXACT_LIMIT = 2_000
_BISECTION_STEPS = 60
_FILL_ROUNDS = 50
_RELATIVE_TOLERANCE = 1e-9
# Spend may exceed the budget by this share of it (at least 1e-9 money):
# float rounding, so that a budget of exactly 30 packs buys 30 packs.
_SPEND_SLACK = 1e-12


class AllocationStatus(enum.IntEnum):
    """How an :class:`AllocationResult` came out."""

    #: The policy's own orders fit the budget and are returned unchanged.
    NOT_BINDING = 0
    #: The budget binds and the plan is proved optimal.
    OPTIMAL = 1
    #: The budget binds; the plan is feasible, within ``gap`` of the optimum.
    WITHIN_GAP = 2
    #: The budget is negative or not a number: nothing is ordered.
    INFEASIBLE = 3


@dataclass(frozen=True)
class AllocationResult:
    """The outcome of :func:`allocate`, in the manner of scipy's OptimizeResult.

    Attributes
    ----------
    decision
        Orders and their terms per SKU; ``BUDGET_CUT`` flags SKUs ordered less
        than the policy asked.
    total_expected_cost
        Sum of the SKUs' expected cycle costs.
    budget, budget_used
        The budget and the spend of the plan.
    lower_bound
        No plan within the budget costs less than this; when the budget does
        not bind, the least cost any plan has (the policy's rounding up and
        its ordering costs can cost more).
    status, message
        An :class:`AllocationStatus` and what it means here.
    method
        ``"unconstrained"`` (the policy's orders, or the cost minimizers where
        they fit a budget the policy's orders do not), ``"milp"`` or
        ``"lagrangian"``.
    multiplier
        The price on spend of the Lagrangian plan (0 when not binding).
    """

    decision: Decision
    total_expected_cost: float
    budget: float
    budget_used: float
    lower_bound: float
    status: AllocationStatus
    message: str
    method: str
    multiplier: float = 0.0

    @property
    def gap(self) -> float:
        """``total_expected_cost - lower_bound``, 0 when proved optimal."""
        return max(self.total_expected_cost - self.lower_bound, 0.0)


def allocate(
    inputs: ReviewInputs,
    budget: float,
    *,
    policy: QuantilePolicy | None = None,
    exact: bool | None = None,
    exact_limit: int = DEFAULT_EXACT_LIMIT,
    time_limit: float = 10.0,
) -> AllocationResult:
    """The policy's orders, cut where they overspend ``budget`` at least cost.

    Orders that fit ``budget`` are returned unchanged (``NOT_BINDING``);
    otherwise the orders of least total expected cycle cost whose spend fits
    it, each SKU ordering 0 or between its MOQ and its own order.

    Parameters
    ----------
    inputs
        The review of ``n`` SKUs.
    budget
        Money available for all orders, in units of ``unit_cost``.
    policy
        The policy whose levels and orders bound the allocation; default
        :class:`QuantilePolicy` ().
    exact
        True for the MILP, False for the Lagrangian plan, None to use the
        MILP when the candidate table has at most ``exact_limit`` entries.
    exact_limit
        Largest candidate table (pack counts over all SKUs) solved exactly
        when ``exact`` is None.
    time_limit
        Seconds HiGHS may take; a MILP that stops early falls back to the
        Lagrangian plan and says so.
    """
    budget = float(budget)
    plan = (policy or QuantilePolicy()).plan(inputs)
    table = _Candidates(plan, budget)
    if not budget >= 0:
        packs = np.zeros(len(plan.skus))
        return table.result(
            packs,
            AllocationStatus.INFEASIBLE,
            f"budget: must be a number >= 0, got {budget!r}; nothing ordered",
            method="unconstrained",
            bound=-np.inf,
        )

    budget += _SPEND_SLACK * max(1.0, budget)
    free = table.best_response(0.0)
    least = float(table.cost(free).sum())
    if table.spend(table.top) <= budget:
        return table.result(
            table.top,
            AllocationStatus.NOT_BINDING,
            "budget does not bind; the policy's orders",
            method="unconstrained",
            bound=least,
        )
    if table.spend(free) <= budget:
        return table.result(
            free,
            AllocationStatus.OPTIMAL,
            "budget binds; the cost-minimizing orders fit it (optimal)",
            method="unconstrained",
            bound=least,
        )
    size = int(np.sum(np.where(plan.order_packs > 0, plan.order_packs, 0)))
    size = size + len(plan.skus)
    if exact or (exact is None and size <= exact_limit):
        solved = table.milp(budget, time_limit)
        if solved is not None:
            return table.result(
                solved,
                AllocationStatus.OPTIMAL,
                "budget binds; optimal (MILP)",
                method="milp",
                bound=float(table.cost(solved).sum()),
            )
        note = "; the MILP stopped early, Lagrangian plan instead"
    else:
        note = ""
    return table.lagrangian(budget, note)


class _Candidates:
    """Per-SKU pack choices ``{0} u {m..M}`` and their costs for one plan."""

    def __init__(self, plan: ReviewPlan, budget: float) -> None:
        self.plan = plan
        self.budget = budget
        self.top = plan.order_packs
        self.can_order = self.top >= plan.min_packs
        self.low = np.where(self.can_order, plan.min_packs, 0.0)
        self.per_pack = plan.unit_cost * plan.case_pack
        self.idle = plan.expected_cost(np.zeros_like(self.top))

    def cost(self, packs: np.ndarray) -> np.ndarray:
        return self.plan.expected_cost(packs)

    def spend(self, packs: np.ndarray) -> float:
        return float(np.sum(self.per_pack * packs))

    def best_response(self, price: float) -> np.ndarray:
        """``argmin_k C_i(k) + price * a_i * k`` over each SKU's choices."""
        plan, costs = self.plan, self.plan.costs
        total = costs.underage + costs.overage
        ratio = np.divide(
            costs.underage - price * plan.unit_cost,
            total,
            out=np.zeros_like(total),
            where=total > 0,
        )
        level = quantile_at(plan.quantiles, plan.quantile_levels, np.clip(ratio, 0, 1))
        with np.errstate(invalid="ignore"):
            ideal = (level - plan.inventory_position) / plan.case_pack
        ideal = np.where(ratio <= 0, -np.inf, ideal)
        floor = np.clip(np.floor(np.minimum(ideal, self.top)), self.low, self.top)
        ceil = np.clip(floor + 1, self.low, self.top)
        priced_floor = self.cost(floor) + price * self.per_pack * floor
        priced_ceil = self.cost(ceil) + price * self.per_pack * ceil
        packs = np.where(priced_ceil < priced_floor, ceil, floor)
        priced = np.minimum(priced_floor, priced_ceil)
        return np.where(self.can_order & (priced < self.idle), packs, 0.0)

    def dual(self, price: float, packs: np.ndarray, budget: float) -> float:
        """The Lagrangian dual value at ``price`` given its best response."""
        priced = self.cost(packs) + price * self.per_pack * packs
        return float(priced.sum() - price * budget)

    def lagrangian(self, budget: float, note: str) -> AllocationResult:
        low_price, high_price = 0.0, self._price_ceiling()
        high_packs = self.best_response(high_price)
        for _ in range(_BISECTION_STEPS):
            price = 0.5 * (low_price + high_price)
            packs = self.best_response(price)
            if self.spend(packs) <= budget:
                high_price, high_packs = price, packs
            else:
                low_price = price
            if high_price - low_price <= _RELATIVE_TOLERANCE * high_price:
                break
        bound = self.dual(high_price, high_packs, budget)
        packs = self._fill(high_packs, budget)
        cost = float(self.cost(packs).sum())
        proved = cost - bound <= _RELATIVE_TOLERANCE * max(1.0, abs(cost))
        status = AllocationStatus.OPTIMAL if proved else AllocationStatus.WITHIN_GAP
        words = "optimal" if proved else f"within {cost - bound:.6g} of optimal"
        return self.result(
            packs,
            status,
            f"budget binds; {words} (Lagrangian){note}",
            method="lagrangian",
            bound=bound,
            price=high_price,
        )

    def _price_ceiling(self) -> float:
        """A price at which ordering nothing is every SKU's best response."""
        first = np.where(self.can_order, self.per_pack * self.low, np.inf)
        return float(np.max(self.idle / first, initial=0.0)) * 1.01 + 1e-12

    def _fill(self, packs: np.ndarray, budget: float) -> np.ndarray:
        """Spend what is left on the steps with the best cost decrease per spend."""
        packs = packs.copy()
        current = self.cost(packs)
        for _ in range(_FILL_ROUNDS):
            left = budget - self.spend(packs)
            step = np.where(packs > 0, packs + 1, self.low)
            open_ = self.can_order & (step <= self.top)
            extra = (step - packs) * self.per_pack
            after = self.cost(np.where(open_, step, packs))
            gain = current - after
            useful = open_ & (gain > 0) & (extra <= left)
            if not np.any(useful):
                break
            order = np.flatnonzero(useful)
            order = order[np.argsort(-gain[order] / extra[order], kind="stable")]
            take = order[np.cumsum(extra[order]) <= left]
            packs[take] = step[take]
            current[take] = after[take]
        return packs

    def milp(self, budget: float, time_limit: float) -> np.ndarray | None:
        """The exact plan by HiGHS, or None if it stopped without one."""
        n = len(self.top)
        width = np.where(self.can_order, self.top - self.low + 2, 1).astype(np.int64)
        sku = np.repeat(np.arange(n), width)
        offset = np.arange(sku.size) - np.repeat(np.cumsum(width) - width, width)
        packs = np.where(offset == 0, 0.0, self.low[sku] + offset - 1)
        cost = self.plan.expected_cost_rows(sku, packs)
        spend = self.per_pack[sku] * packs
        choose = sparse.csr_array(
            (np.ones(sku.size), (sku, np.arange(sku.size))), shape=(n, sku.size)
        )
        result = optimize.milp(
            cost,
            integrality=np.ones(sku.size),
            bounds=optimize.Bounds(0, 1),
            constraints=[
                optimize.LinearConstraint(choose, 1, 1),
                optimize.LinearConstraint(spend[None, :], -np.inf, budget),
            ],
            options={"time_limit": time_limit},
        )
        if result.x is None or result.status != 0:
            return None
        chosen = np.zeros(n)
        picked = result.x > 0.5
        chosen[sku[picked]] = packs[picked]
        return chosen

    def result(
        self,
        packs: np.ndarray,
        status: AllocationStatus,
        message: str,
        *,
        method: str,
        bound: float,
        price: float = 0.0,
    ) -> AllocationResult:
        cut = np.where(packs < self.top, int(SkuStatus.BUDGET_CUT), 0)
        binding = status not in (AllocationStatus.NOT_BINDING,)
        decision = self.plan.decision(packs, cut if binding else None)
        total = float(decision.expected_cost.sum())
        return AllocationResult(
            decision=decision,
            total_expected_cost=total,
            budget=self.budget,
            budget_used=self.spend(packs),
            lower_bound=float(min(bound, total)),
            status=status,
            message=message,
            method=method,
            multiplier=price,
        )
