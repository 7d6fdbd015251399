"""Which policy each SKU is replenished under: loaded ones, else the default.

Policies arrive on the compacted ``sku-policies`` topic and are kept in a
Faust table (so they survive restarts and follow their partition). A SKU
with no loaded policy gets the worker's default policy under the worker's
default policy version; the version is part of every command id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from optimization.params import PolicyTable, SkuPolicy
from streams import events


class PolicyBook:
    """Policy and policy version per SKU.

    Parameters
    ----------
    default
        The policy of SKUs with none loaded (its ``sku`` is ignored).
    default_version
        The policy version of those SKUs.
    table
        Mapping-like store of loaded policies: SKU to its ``sku-policies``
        record (a Faust table, or a dict in tests).
    """

    def __init__(self, default: SkuPolicy, default_version: str, table: Any) -> None:
        self.default = default
        self.default_version = default_version
        self._table = table
        self._cache: dict[str, tuple[SkuPolicy, str]] = {}

    def load(self, event: events.SkuPolicyEvent) -> None:
        """Adopt ``event`` as its SKU's policy (the caller stores it durably)."""
        self._cache[event.sku] = (event.to_policy(), str(event.policy_version))

    def remove(self, sku: str) -> None:
        """Return ``sku`` to the default policy (the caller deletes it durably)."""
        self._cache.pop(sku, None)

    def forget(self) -> None:
        """Drop the decoded policies; they are read from the table again.

        For a rebalance: a partition that comes back may have had its
        policies changed by another worker meanwhile.
        """
        self._cache.clear()

    def has(self, sku: str) -> bool:
        return sku in self._cache or sku in self._table

    def lookup(self, sku: str) -> tuple[SkuPolicy, str]:
        """The policy of ``sku`` and its version."""
        found = self._cache.get(sku)
        if found is None:
            if sku not in self._table:
                return dataclasses.replace(self.default, sku=sku), self.default_version
            event = events.decode_sku_policy(self._table[sku])
            found = self._cache[sku] = (event.to_policy(), str(event.policy_version))
        return found

    def table(self, skus: Sequence[str]) -> tuple[PolicyTable, list[str]]:
        """Parameters of ``skus`` as arrays, and each SKU's policy version."""
        if not self._cache and not len(self._table):
            versions = [self.default_version] * len(skus)
            return PolicyTable.uniform(skus, self.default), versions
        found = [self.lookup(sku) for sku in skus]
        return (
            PolicyTable.from_policies([policy for policy, _ in found]),
            [version for _, version in found],
        )
