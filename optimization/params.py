"""Per-SKU cost and policy parameters, one record per SKU or one array per field.

:class:`SkuPolicy` is what merchandising loads for a SKU (and what the
compacted ``sku-policies`` topic carries); :class:`PolicyTable` holds the same
fields as arrays aligned with a batch of SKUs, which is what the vectorized
policy reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np


class PolicyError(ValueError):
    """A policy parameter breaks its rule; the message names field, rule and value."""

    def __init__(self, field: str, rule: str, value: object) -> None:
        super().__init__(f"{field}: {rule}, got {value!r}")
        self.field = field
        self.rule = rule
        self.value = value


@dataclass(frozen=True)
class SkuPolicy:
    """How one SKU is replenished and what its decisions cost.

    Exactly one of ``stockout_cost`` and ``service_level`` drives the
    order-up-to level: with a ``stockout_cost`` the policy balances it against
    holding cost (critical ratio); otherwise it meets ``service_level``.

    Attributes
    ----------
    lead_time_days
        Mean days from order to receipt.
    lead_time_spread_days
        Standard deviation of the lead time in days; 0 for a fixed lead time.
    review_period_days
        Days between two orders of this SKU.
    unit_cost
        Purchase cost of one unit.
    holding_cost_rate
        Yearly cost of holding one unit, as a fraction of ``unit_cost``.
    ordering_cost
        Fixed cost of placing one order.
    stockout_cost
        Cost of one unit of demand not served from stock (lost margin),
        finite and positive, or None to use ``service_level``.
    service_level
        Target cycle service level in (0, 1), used when ``stockout_cost`` is
        None.
    moq
        Minimum order quantity in units; 0 for none.
    case_pack
        Units per case; orders are whole cases.
    capacity
        The most units the SKU may hold on hand and on order; inf for no limit.
    """

    sku: str
    lead_time_days: float = 7.0
    lead_time_spread_days: float = 0.0
    review_period_days: int = 1
    unit_cost: float = 1.0
    holding_cost_rate: float = 0.25
    ordering_cost: float = 0.0
    stockout_cost: float | None = None
    service_level: float | None = 0.95
    moq: int = 0
    case_pack: int = 1
    capacity: float = math.inf

    def __post_init__(self) -> None:
        _check(bool(self.sku), "sku", "must be a non-empty string", self.sku)
        _check(
            0 <= self.lead_time_days <= 365,
            "lead_time_days",
            "must lie in [0, 365]",
            self.lead_time_days,
        )
        _check(
            0 <= self.lead_time_spread_days <= 365,
            "lead_time_spread_days",
            "must lie in [0, 365]",
            self.lead_time_spread_days,
        )
        _check(
            isinstance(self.review_period_days, int)
            and 1 <= self.review_period_days <= 365,
            "review_period_days",
            "must be a whole number of days in [1, 365]",
            self.review_period_days,
        )
        _check(self.unit_cost > 0, "unit_cost", "must be positive", self.unit_cost)
        _check(
            self.holding_cost_rate >= 0,
            "holding_cost_rate",
            "must not be negative",
            self.holding_cost_rate,
        )
        _check(
            self.ordering_cost >= 0,
            "ordering_cost",
            "must not be negative",
            self.ordering_cost,
        )
        if self.stockout_cost is None:
            _check(
                self.service_level is not None and 0 < self.service_level < 1,
                "service_level",
                "must lie in (0, 1) when stockout_cost is not set",
                self.service_level,
            )
        else:
            _check(
                math.isfinite(self.stockout_cost) and self.stockout_cost > 0,
                "stockout_cost",
                "must be finite and positive, or None to use service_level",
                self.stockout_cost,
            )
        _check(
            isinstance(self.moq, int) and self.moq >= 0,
            "moq",
            "must be a whole number of units >= 0",
            self.moq,
        )
        _check(
            isinstance(self.case_pack, int) and self.case_pack >= 1,
            "case_pack",
            "must be a whole number of units >= 1",
            self.case_pack,
        )
        _check(self.capacity > 0, "capacity", "must be positive", self.capacity)

    @property
    def daily_holding_cost(self) -> float:
        """Cost of holding one unit for one day."""
        return self.unit_cost * self.holding_cost_rate / 365.0


def _check(ok: bool, field: str, rule: str, value: object) -> None:
    if not ok:
        raise PolicyError(field, rule, value)


_ARRAY_FIELDS = [f.name for f in fields(SkuPolicy) if f.name != "sku"]


@dataclass(frozen=True)
class PolicyTable:
    """The fields of :class:`SkuPolicy` as arrays aligned with ``skus``.

    ``stockout_cost`` and ``service_level`` are NaN where the SKU uses the
    other one.
    """

    skus: np.ndarray
    lead_time_days: np.ndarray
    lead_time_spread_days: np.ndarray
    review_period_days: np.ndarray
    unit_cost: np.ndarray
    holding_cost_rate: np.ndarray
    ordering_cost: np.ndarray
    stockout_cost: np.ndarray
    service_level: np.ndarray
    moq: np.ndarray
    case_pack: np.ndarray
    capacity: np.ndarray

    @classmethod
    def from_policies(cls, policies: Sequence[SkuPolicy]) -> PolicyTable:
        columns = {
            name: np.array(
                [np.nan if (v := getattr(p, name)) is None else v for p in policies],
                dtype=float,
            )
            for name in _ARRAY_FIELDS
        }
        columns["review_period_days"] = columns["review_period_days"].astype(np.int64)
        columns["moq"] = columns["moq"].astype(np.int64)
        columns["case_pack"] = columns["case_pack"].astype(np.int64)
        skus = np.array([p.sku for p in policies], dtype=object)
        return cls(skus=skus, **columns)

    @classmethod
    def uniform(cls, skus: Sequence[str], policy: SkuPolicy) -> PolicyTable:
        """The same policy for every SKU in ``skus``.

        ``policy`` is validated once; the columns are filled without building
        a :class:`SkuPolicy` per SKU.
        """
        names = np.array([str(sku) for sku in skus], dtype=object)
        if any(not sku for sku in names):
            raise PolicyError("sku", "must be a non-empty string", "")
        n = len(names)
        columns = {
            name: np.full(
                n, np.nan if (v := getattr(policy, name)) is None else v, dtype=float
            )
            for name in _ARRAY_FIELDS
        }
        for name in ("review_period_days", "moq", "case_pack"):
            columns[name] = columns[name].astype(np.int64)
        return cls(skus=names, **columns)

    def __len__(self) -> int:
        return len(self.skus)

    @property
    def daily_holding_cost(self) -> np.ndarray:
        return self.unit_cost * self.holding_cost_rate / 365.0
