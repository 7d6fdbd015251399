"""The ``reorder-commands`` topic and the deterministic id of every command.

A command's id is derived from what makes the decision unique, the SKU, the
``as_of`` day and the policy version, so that a replay or a crashed worker
that decides the same day again issues the same id and the warehouse can drop
the duplicate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from streams.events import rules
from streams.events.codec import (
    MAX_RECORD_BYTES,
    SCHEMA_VERSION,
    Fields,
    check_fields,
    check_version,
    load_object,
    parse_date,
)
from streams.events.errors import EventError, Reason

#: The UUID namespace of command ids: uuid5(NAMESPACE_URL,
#: "urn:replenish:reorder-commands"), written out so that it never changes.
COMMAND_NAMESPACE = uuid.UUID("92970f31-1858-50df-b2db-7bf53c46ac30")
_NAMESPACE = COMMAND_NAMESPACE.bytes
#: Largest order quantity a command may carry, in units.
MAX_ORDER_QUANTITY = 1_000_000_000


def command_id(sku: str, as_of: dt.date, policy_version: str | int) -> str:
    """The id of the reorder command for ``sku`` decided on ``as_of``.

    It is ``uuid5(COMMAND_NAMESPACE, name)`` in canonical text form, where
    ``name`` is ``f"{len(sku)}:{sku}/{as_of.isoformat()}/{policy_version}"``
    (the length prefix keeps the split unambiguous whatever the SKU holds).
    uuid5 is SHA-1 based, so the id is the same in every process and Python
    version. An integer policy version and its decimal string give the same
    id.

    Parameters
    ----------
    sku
        The SKU ordered.
    as_of
        The last closed day the decision uses (a date, not a datetime).
    policy_version
        Revision of the SKU's policy the decision was made under.

    Returns
    -------
    str
        36-character lowercase UUID text.
    """
    return command_ids([sku], as_of, [policy_version])[0]


def command_ids(
    skus: Sequence[str], as_of: dt.date, policy_versions: Sequence[str | int]
) -> list[str]:
    """:func:`command_id` of each SKU and policy version, decided on ``as_of``.

    The uuid5 is computed here directly (SHA-1 of the namespace and the name,
    version and variant bits set), which gives :func:`uuid.uuid5`'s text at a
    third of its cost; a day close derives one per order.
    """
    rules.date("as_of", as_of)
    day = as_of.isoformat()
    ids = []
    for sku, version in zip(skus, policy_versions, strict=True):
        rules.sku(sku)
        rules.version("policy_version", version)
        name = f"{len(sku)}:{sku}/{day}/{version}".encode()
        digest = bytearray(hashlib.sha1(_NAMESPACE + name).digest()[:16])
        digest[6] = (digest[6] & 0x0F) | 0x50
        digest[8] = (digest[8] & 0x3F) | 0x80
        h = digest.hex()
        ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return ids


@dataclass(frozen=True, slots=True)
class ReorderCommand:
    """An order to place for one SKU, with the decision terms behind it.

    Attributes
    ----------
    command_id
        ``command_id(sku, as_of, policy_version)``; any other id is rejected.
    sku
        The SKU to order.
    as_of
        The last closed day the decision uses.
    quantity
        Units to order, an integer in [1, 1e9].
    expected_arrival
        Day the order is expected in stock, not before ``as_of``.
    inventory_position
        On hand + on order - backorders when deciding, in units.
    order_up_to_level
        The level the order raises the inventory position towards, in units.
    quantile_used
        Quantile level of cumulative demand the order-up-to level was read
        at, a fraction in [0, 1]; None for a policy that reads no quantile
        (the (s, S) baseline).
    service_level
        Cycle service level the decision targets, a fraction in [0, 1].
    expected_cost
        Expected holding + ordering + stockout cost of the decision, >= 0;
        None for a policy that does not estimate it.
    policy_version
        Revision of the SKU's policy used.
    model_version
        Version of the model weights whose forecast was used.
    schema_version
        Version of this schema the event follows.
    """

    TOPIC: ClassVar[str] = "reorder-commands"

    command_id: str
    sku: str
    as_of: dt.date
    quantity: int
    expected_arrival: dt.date
    inventory_position: float
    order_up_to_level: float
    quantile_used: float | None
    service_level: float
    expected_cost: float | None
    policy_version: str | int
    model_version: str
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        check_version(self.schema_version)
        rules.identifier("command_id", self.command_id)
        expected = command_id(self.sku, self.as_of, self.policy_version)
        if self.command_id != expected:
            raise EventError(
                "command_id",
                f"must be command_id(sku, as_of, policy_version) = {expected}",
                self.command_id,
                Reason.INCONSISTENT,
            )
        rules.integer("quantity", self.quantity, 1, MAX_ORDER_QUANTITY)
        rules.date("expected_arrival", self.expected_arrival)
        if self.expected_arrival < self.as_of:
            raise EventError(
                "expected_arrival",
                f"must not precede as_of ({self.as_of})",
                self.expected_arrival,
                Reason.INCONSISTENT,
            )
        for name, low, high in _TERMS:
            value = getattr(self, name)
            if value is not None or name not in _NULLABLE_TERMS:
                value = rules.number(name, value, low, high)
                object.__setattr__(self, name, value)
        rules.identifier("model_version", self.model_version)

    @classmethod
    def issue(
        cls,
        *,
        sku: str,
        as_of: dt.date,
        quantity: int,
        expected_arrival: dt.date,
        inventory_position: float,
        order_up_to_level: float,
        quantile_used: float | None,
        service_level: float,
        expected_cost: float | None,
        policy_version: str | int,
        model_version: str,
    ) -> ReorderCommand:
        """The command with its id derived from ``sku``, ``as_of`` and policy."""
        return cls(
            command_id(sku, as_of, policy_version),
            sku,
            as_of,
            quantity,
            expected_arrival,
            inventory_position,
            order_up_to_level,
            quantile_used,
            service_level,
            expected_cost,
            policy_version,
            model_version,
        )


_TERMS: tuple[tuple[str, float | None, float | None], ...] = (
    ("inventory_position", None, None),
    ("order_up_to_level", None, None),
    ("quantile_used", 0.0, 1.0),
    ("service_level", 0.0, 1.0),
    ("expected_cost", 0.0, None),
)
_NULLABLE_TERMS = frozenset({"quantile_used", "expected_cost"})

_COMMAND = Fields(
    ReorderCommand.TOPIC,
    required=frozenset(
        {
            "command_id",
            "sku",
            "as_of",
            "quantity",
            "expected_arrival",
            "inventory_position",
            "order_up_to_level",
            "quantile_used",
            "service_level",
            "expected_cost",
            "policy_version",
            "model_version",
        }
    ),
)


def decode_command(
    raw: bytes | None, max_bytes: int = MAX_RECORD_BYTES
) -> ReorderCommand:
    """Decode one ``reorder-commands`` record."""
    obj = load_object(raw, max_bytes)
    check_fields(obj, _COMMAND)
    return ReorderCommand(
        obj["command_id"],
        obj["sku"],
        parse_date("as_of", obj["as_of"]),
        obj["quantity"],
        parse_date("expected_arrival", obj["expected_arrival"]),
        obj["inventory_position"],
        obj["order_up_to_level"],
        obj["quantile_used"],
        obj["service_level"],
        obj["expected_cost"],
        obj["policy_version"],
        obj["model_version"],
        obj["schema_version"],
    )
