"""The ``sku-policies`` topic: one :class:`~optimization.params.SkuPolicy` per SKU.

The topic is compacted and keyed by SKU, so its latest record per key is the
SKU's current policy. ``policy_version`` names the revision and is part of
every reorder command id derived under it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from optimization.params import PolicyError, SkuPolicy
from streams.events import rules
from streams.events.codec import (
    MAX_RECORD_BYTES,
    SCHEMA_VERSION,
    Fields,
    check_fields,
    check_version,
    load_object,
)
from streams.events.commands import MAX_ORDER_QUANTITY
from streams.events.errors import EventError, Reason

_FLOATS = (
    "lead_time_days",
    "lead_time_spread_days",
    "unit_cost",
    "holding_cost_rate",
    "ordering_cost",
)


@dataclass(frozen=True, slots=True)
class SkuPolicyEvent:
    """A SKU's replenishment policy as it travels on ``sku-policies``.

    The fields mean what they mean on :class:`~optimization.params.SkuPolicy`
    and obey its rules; exactly one of ``stockout_cost`` and ``service_level``
    is set, and ``capacity`` is None for no limit.

    Attributes
    ----------
    sku
        The SKU the policy is for.
    policy_version
        Revision of the policy: a 1 to 128 character string or an integer
        >= 0. Part of every command id derived under this policy.
    lead_time_days, lead_time_spread_days, review_period_days, unit_cost,
    holding_cost_rate, ordering_cost, stockout_cost, service_level, moq,
    case_pack, capacity
        As on :class:`~optimization.params.SkuPolicy`.
    schema_version
        Version of this schema the event follows.
    """

    TOPIC: ClassVar[str] = "sku-policies"

    sku: str
    policy_version: str | int
    lead_time_days: float
    review_period_days: int
    unit_cost: float
    holding_cost_rate: float
    stockout_cost: float | None = None
    service_level: float | None = None
    lead_time_spread_days: float = 0.0
    ordering_cost: float = 0.0
    moq: int = 0
    case_pack: int = 1
    capacity: float | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        check_version(self.schema_version)
        rules.sku(self.sku)
        rules.version("policy_version", self.policy_version)
        for name in _FLOATS:
            object.__setattr__(self, name, rules.number(name, getattr(self, name)))
        rules.integer("review_period_days", self.review_period_days)
        # a pack or minimum no command could carry would fail every day close
        for name in ("moq", "case_pack"):
            rules.integer(name, getattr(self, name), high=MAX_ORDER_QUANTITY)
        for name in ("stockout_cost", "service_level", "capacity"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, rules.number(name, value))
        if (self.stockout_cost is None) == (self.service_level is None):
            raise EventError(
                "service_level",
                "exactly one of stockout_cost and service_level must be set",
                self.service_level,
                Reason.INCONSISTENT,
            )
        self.to_policy()

    def to_policy(self) -> SkuPolicy:
        """The policy as the optimizer reads it (no capacity becomes inf)."""
        try:
            return SkuPolicy(
                sku=self.sku,
                lead_time_days=self.lead_time_days,
                lead_time_spread_days=self.lead_time_spread_days,
                review_period_days=self.review_period_days,
                unit_cost=self.unit_cost,
                holding_cost_rate=self.holding_cost_rate,
                ordering_cost=self.ordering_cost,
                stockout_cost=self.stockout_cost,
                service_level=self.service_level,
                moq=self.moq,
                case_pack=self.case_pack,
                capacity=math.inf if self.capacity is None else self.capacity,
            )
        except PolicyError as exc:
            raise EventError(exc.field, exc.rule, exc.value) from None

    @classmethod
    def from_policy(
        cls, policy: SkuPolicy, policy_version: str | int
    ) -> SkuPolicyEvent:
        """The event that carries ``policy`` under ``policy_version``.

        ``service_level`` is dropped when ``stockout_cost`` is set, since the
        policy then ignores it.
        """
        has_cost = policy.stockout_cost is not None
        return cls(
            sku=policy.sku,
            policy_version=policy_version,
            lead_time_days=policy.lead_time_days,
            review_period_days=policy.review_period_days,
            unit_cost=policy.unit_cost,
            holding_cost_rate=policy.holding_cost_rate,
            stockout_cost=policy.stockout_cost,
            service_level=None if has_cost else policy.service_level,
            lead_time_spread_days=policy.lead_time_spread_days,
            ordering_cost=policy.ordering_cost,
            moq=policy.moq,
            case_pack=policy.case_pack,
            capacity=None if math.isinf(policy.capacity) else policy.capacity,
        )


_POLICY = Fields(
    SkuPolicyEvent.TOPIC,
    required=frozenset(
        {
            "sku",
            "policy_version",
            "lead_time_days",
            "review_period_days",
            "unit_cost",
            "holding_cost_rate",
        }
    ),
    optional=frozenset(
        {
            "stockout_cost",
            "service_level",
            "lead_time_spread_days",
            "ordering_cost",
            "moq",
            "case_pack",
            "capacity",
        }
    ),
)
_DEFAULTS = {
    "lead_time_spread_days": 0.0,
    "ordering_cost": 0.0,
    "moq": 0,
    "case_pack": 1,
}


def decode_sku_policy(
    raw: bytes | None, max_bytes: int = MAX_RECORD_BYTES
) -> SkuPolicyEvent:
    """Decode one ``sku-policies`` record; absent optional fields take defaults."""
    obj = load_object(raw, max_bytes)
    check_fields(obj, _POLICY)
    return SkuPolicyEvent(**(_DEFAULTS | obj))
