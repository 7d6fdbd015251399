"""The warehouse simulator: reorder commands in, receipts out, in event time.

A warehouse system consumes ``reorder-commands`` and reports a receipt on
``stock-events`` when the goods arrive. This module plays that system for
demos, simulations and tests. A command's receipt is a pure function of the
command and the :class:`WarehouseConfig`:

* the lead time is the command's planned one (``expected_arrival - as_of``)
  plus ``lead_time_spread_days`` times a standard normal draw, rounded to
  whole days and never negative. The draw comes from a hash of the seed and
  the command id, so it is the same in every process and whatever order the
  commands arrive in;
* the quantity is ``fill_rate`` of the units ordered, rounded half up;
* ``occurred_at`` is ``receipt_hour`` o'clock on the receipt day in
  ``timezone``, with that zone's UTC offset;
* ``event_id`` is :func:`receipt_id` of the command id.

A re-delivered command therefore yields the same receipt, which
:class:`Warehouse` also skips when it has answered that command id before.
:mod:`streams.warehouse_service` runs these rules against Kafka.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import zoneinfo
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from streams.events import EventError, ReorderCommand, StockEvent, StockKind

log = logging.getLogger(__name__)

#: Command ids the service remembers, to skip re-delivered commands.
DEFAULT_MEMORY = 1_000_000
_RECEIPT_PREFIX = "receipt/"


class WarehouseConfigError(ValueError):
    """A warehouse setting breaks its rule; the message names field and value."""

    def __init__(self, field: str, rule: str, value: object) -> None:
        super().__init__(f"{field}: {rule}, got {value!r}")
        self.field = field
        self.rule = rule
        self.value = value


@dataclass(frozen=True)
class WarehouseConfig:
    """How the simulated warehouse answers commands.

    Attributes
    ----------
    lead_time_spread_days
        Standard deviation of the actual lead time around the planned one,
        in days; 0 delivers every order on its ``expected_arrival`` day.
    fill_rate
        Share of the ordered units delivered, in (0, 1].
    seed
        Seed of the lead-time draws.
    receipt_hour
        Local hour of the day receipts are booked at, 0 to 23.
    timezone
        IANA zone of the warehouse's clock; it gives ``occurred_at`` its
        UTC offset.
    seconds_per_day
        Wall seconds a day of lead time takes before the receipt is sent;
        None sends every receipt at once (event time only).
    """

    lead_time_spread_days: float = 0.0
    fill_rate: float = 1.0
    seed: int = 0
    receipt_hour: int = 9
    timezone: str = "Europe/London"
    seconds_per_day: float | None = None

    def __post_init__(self) -> None:
        spread = self.lead_time_spread_days
        if not (math.isfinite(spread) and spread >= 0):
            raise WarehouseConfigError(
                "lead_time_spread_days", "must be a finite number >= 0", spread
            )
        if not 0 < self.fill_rate <= 1:
            raise WarehouseConfigError(
                "fill_rate", "must lie in (0, 1]", self.fill_rate
            )
        if not 0 <= self.receipt_hour <= 23:
            raise WarehouseConfigError(
                "receipt_hour", "must be an hour in 0..23", self.receipt_hour
            )
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise WarehouseConfigError(
                "timezone", "must be an IANA zone name", self.timezone
            ) from None
        pace = self.seconds_per_day
        if pace is not None and not (math.isfinite(pace) and pace >= 0):
            raise WarehouseConfigError(
                "seconds_per_day", "must be a finite number >= 0", pace
            )


def receipt_id(command_id: str) -> str:
    """The event id of the receipt that answers command ``command_id``."""
    return _RECEIPT_PREFIX + command_id


def standard_normal_draws(command_ids: Sequence[str], seed: int) -> np.ndarray:
    """One standard normal draw per command, fixed by ``seed`` and the id.

    The first 8 bytes of ``sha256(f"{seed}/{command_id}")`` give a uniform
    in (0, 1) that the inverse normal CDF maps to a draw.

    Returns
    -------
    np.ndarray
        ``(n,)`` float64 draws, aligned with ``command_ids``.
    """
    words = np.array(
        [
            int.from_bytes(hashlib.sha256(f"{seed}/{cid}".encode()).digest()[:8])
            for cid in command_ids
        ],
        dtype=np.uint64,
    )
    uniform = (words.astype(np.float64) + 0.5) / 2.0**64
    return np.asarray(ndtri(np.clip(uniform, 1e-12, 1 - 1e-12)), dtype=np.float64)


def lead_time_days(
    commands: Sequence[ReorderCommand], config: WarehouseConfig
) -> np.ndarray:
    """Actual lead time of each command, in whole days.

    Returns
    -------
    np.ndarray
        ``(n,)`` int64: ``max(0, round(planned + spread * z))`` where
        ``planned`` is ``expected_arrival - as_of`` in days and ``z`` the
        command's :func:`standard_normal_draws` value.
    """
    planned = np.array(
        [(c.expected_arrival - c.as_of).days for c in commands], dtype=np.float64
    )
    draws = standard_normal_draws([c.command_id for c in commands], config.seed)
    actual = np.rint(planned + config.lead_time_spread_days * draws)
    return np.maximum(actual, 0.0).astype(np.int64)


def delivered_units(quantities: np.ndarray, fill_rate: float) -> np.ndarray:
    """Units delivered of each order: ``fill_rate`` of ``quantities``, half up.

    ``quantities`` and the result are ``(n,)`` int64.
    """
    return np.floor(np.asarray(quantities, dtype=np.float64) * fill_rate + 0.5).astype(
        np.int64
    )


def receipts(
    commands: Sequence[ReorderCommand], config: WarehouseConfig
) -> list[StockEvent | None]:
    """The receipt answering each command, aligned with ``commands``.

    An entry is None where no unit is delivered (a ``fill_rate`` small enough
    to round an order to zero); that order stays open downstream.

    Raises
    ------
    EventError
        If a receipt breaks a rule of ``stock-events`` (more units than one
        stock event may carry).
    """
    leads = lead_time_days(commands, config)
    units = delivered_units(np.array([c.quantity for c in commands]), config.fill_rate)
    return [
        _receipt(command, int(lead), int(quantity), config)
        for command, lead, quantity in zip(commands, leads, units, strict=True)
    ]


def _receipt(
    command: ReorderCommand, lead: int, quantity: int, config: WarehouseConfig
) -> StockEvent | None:
    if quantity < 1:
        return None
    day = command.as_of + dt.timedelta(days=lead)
    zone = zoneinfo.ZoneInfo(config.timezone)
    return StockEvent(
        event_id=receipt_id(command.command_id),
        sku=command.sku,
        kind=StockKind.RECEIPT,
        quantity=quantity,
        occurred_at=dt.datetime.combine(day, dt.time(config.receipt_hour), zone),
        command_id=command.command_id,
    )


@dataclass
class WarehouseStats:
    """What the service has done so far.

    ``receipts`` counts receipts drawn; ``sent`` those the broker
    acknowledged (fewer while receipts wait in real-time mode).
    """

    commands: int = 0
    receipts: int = 0
    sent: int = 0
    duplicates: int = 0
    undelivered: int = 0
    rejected: int = 0


class Warehouse:
    """Answers each command id once, remembering the last ``memory`` ids.

    Parameters
    ----------
    config
        How receipts are drawn.
    memory
        Command ids remembered for deduplication; the oldest are forgotten
        first. A command re-delivered after that gets the same receipt again.
    """

    def __init__(self, config: WarehouseConfig, memory: int = DEFAULT_MEMORY) -> None:
        if memory < 1:
            raise WarehouseConfigError("memory", "must be >= 1", memory)
        self.config = config
        self.memory = memory
        self.stats = WarehouseStats()
        self._answered: OrderedDict[str, None] = OrderedDict()

    def answer(self, commands: Sequence[ReorderCommand]) -> list[StockEvent | None]:
        """The receipt of each command, aligned with ``commands``.

        An entry is None for a command answered before (or earlier in the
        batch), one of which nothing is delivered, or one whose receipt
        breaks a rule of ``stock-events``; the last two are logged at
        WARNING.
        """
        fresh = [self._first_sighting(c) for c in commands]
        todo = [c for c, new in zip(commands, fresh, strict=True) if new]
        leads = lead_time_days(todo, self.config)
        units = delivered_units(
            np.array([c.quantity for c in todo]), self.config.fill_rate
        )
        made = iter(zip(todo, leads, units, strict=True))
        out: list[StockEvent | None] = []
        for new in fresh:
            out.append(self._make(*next(made)) if new else None)
        self.stats.commands += len(commands)
        self.stats.duplicates += len(commands) - len(todo)
        self.stats.receipts += sum(r is not None for r in out)
        return out

    def _first_sighting(self, command: ReorderCommand) -> bool:
        if command.command_id in self._answered:
            return False
        self._answered[command.command_id] = None
        if len(self._answered) > self.memory:
            self._answered.popitem(last=False)
        return True

    def _make(
        self, command: ReorderCommand, lead: np.int64, quantity: np.int64
    ) -> StockEvent | None:
        try:
            receipt = _receipt(command, int(lead), int(quantity), self.config)
        except EventError as error:
            self.stats.rejected += 1
            log.warning(
                "No receipt for command %s of sku %s: %s",
                command.command_id,
                command.sku,
                error,
            )
            return None
        if receipt is None:
            self.stats.undelivered += 1
            log.warning(
                "Nothing delivered of command %s of sku %s: %d units at fill rate %s",
                command.command_id,
                command.sku,
                command.quantity,
                self.config.fill_rate,
            )
        return receipt
