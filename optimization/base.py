"""The interface every ordering policy shares, baselines and the optimizer alike.

At a review the simulator (or the stream worker) hands a policy a
:class:`ReviewInputs` for a batch of SKUs and receives a :class:`Decision`
with one order quantity per SKU, plus the terms that explain it.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from optimization.params import PolicyError, PolicyTable


@dataclass(frozen=True)
class ReviewInputs:
    """What a policy may read at a review of ``n`` SKUs.

    Attributes
    ----------
    as_of
        The last closed day the decision uses.
    inventory_position
        On hand + on order - backorders, shape ``(n,)``.
    params
        Policy parameters aligned with the batch.
    quantile_levels
        Levels of ``cumulative_quantiles``, shape ``(q,)``, increasing.
    cumulative_quantiles
        Quantiles of cumulative demand over days ``as_of + 1 .. as_of + h``
        for ``h = 1..H``, shape ``(n, H, q)``.
    demand_history
        Daily demand up to ``as_of``, shape ``(n, d)``; for baselines that fit
        their own point forecast. Optional.
    backorders
        Demand waiting for stock, ``>= 0``, shape ``(n,)``; None for none
        (lost sales). Policies read it only through :attr:`held`.
    """

    as_of: dt.date
    inventory_position: np.ndarray
    params: PolicyTable
    quantile_levels: np.ndarray
    cumulative_quantiles: np.ndarray
    demand_history: np.ndarray | None = None
    backorders: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.backorders is None:
            return
        backorders = np.asarray(self.backorders, dtype=float)
        n = len(self.params)
        if backorders.shape != (n,):
            raise PolicyError("backorders", f"must have shape ({n},)", backorders.shape)
        bad = np.flatnonzero(~(np.isfinite(backorders) & (backorders >= 0)))
        if bad.size:
            raise PolicyError(
                "backorders",
                f"must be finite and >= 0; row {bad[0]} ({self.skus[bad[0]]})",
                float(backorders[bad[0]]),
            )

    @property
    def skus(self) -> np.ndarray:
        return self.params.skus

    @property
    def held(self) -> np.ndarray:
        """On hand + on order, what ``capacity`` limits, shape ``(n,)``.

        ``inventory_position + backorders``: back-ordered demand lowers the
        position but takes no room.
        """
        position = np.asarray(self.inventory_position, dtype=float)
        if self.backorders is None:
            return position
        return position + np.asarray(self.backorders, dtype=float)


class SkuStatus(enum.IntFlag):
    """Why a SKU's order differs from what its order-up-to level asked for.

    Stored per SKU in :attr:`Decision.sku_status` as an integer of these flags.
    """

    OK = 0
    #: The order was cut to fit ``capacity`` (possibly to 0 when not one case
    #: pack fits).
    CAPACITY_CUT = 1
    #: ``capacity`` leaves less room than the MOQ, so nothing was ordered.
    MOQ_BLOCKED = 2
    #: The order was cut (possibly to 0) to fit a shared budget.
    BUDGET_CUT = 4
    #: The protection interval reaches past the forecast horizon (at the
    #: longest lead-time point read, where the lead time is uncertain); its
    #: demand quantiles were extrapolated.
    EXTRAPOLATED = 8


@dataclass(frozen=True)
class Decision:
    """A policy's answer for a batch of SKUs, with the terms behind it.

    All arrays have shape ``(n,)``. ``status`` is 0 when every constraint
    was met as asked; otherwise ``message`` says what gave way (an infeasible
    budget is reported here, not raised). ``sku_status``, when set, holds one
    :class:`SkuStatus` flag set per SKU, shape ``(n,)``.
    """

    order_quantity: np.ndarray
    order_up_to_level: np.ndarray
    inventory_position: np.ndarray
    quantile_used: np.ndarray
    service_level: np.ndarray
    expected_cost: np.ndarray
    status: int = 0
    message: str = "ok"
    sku_status: np.ndarray | None = None


@runtime_checkable
class Policy(Protocol):
    """Turns review inputs into order quantities; never mutates its inputs."""

    name: str

    def decide(self, inputs: ReviewInputs) -> Decision: ...
