"""The single-period newsvendor with normal demand.

One order before a selling season: each unit short loses its margin
``price - cost`` (the underage cost), each unit left over loses
``cost - salvage`` (the overage cost). The expected-profit-maximizing order is
the demand quantile at the critical ratio ``Cu / (Cu + Co)``. With normal
demand ``N(mean, sd)`` the quantity is ``mean + z * sd`` and the expected lost
sales are ``sd * L(z)`` with the standard normal loss function
``L(z) = phi(z) - z * (1 - Phi(z))``.

Textbooks read ``z`` and ``L(z)`` off printed tables; ``table_z`` and
``table_loss`` reproduce those conventions (``z`` to two decimals, rounded up
so that ``Phi(z)`` reaches the ratio; ``L`` to four decimals).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from optimization.params import PolicyError


@dataclass(frozen=True)
class NewsvendorOutcome:
    """Expected measures of ordering ``quantity`` units for one season."""

    quantity: float
    expected_lost_sales: float
    expected_sales: float
    expected_leftover: float
    expected_profit: float


def critical_ratio(price: float, cost: float, salvage: float) -> float:
    """``(price - cost) / (price - salvage)``; needs ``salvage < cost < price``."""
    if not salvage < cost < price:
        raise PolicyError(
            "price, cost, salvage",
            "must satisfy salvage < cost < price",
            (price, cost, salvage),
        )
    return (price - cost) / (price - salvage)


def normal_loss(z: float) -> float:
    """Standard normal loss function ``E[(Z - z)^+]``."""
    return float(stats.norm.pdf(z) - z * stats.norm.sf(z))


def table_z(ratio: float) -> float:
    """The smallest ``z`` on a 0.01 grid whose tabled ``Phi(z)`` reaches ``ratio``.

    This is the round-up rule used with a printed table: ``Phi`` as printed,
    to four decimals.
    """
    if not 0 < ratio < 1:
        raise PolicyError("ratio", "must lie in (0, 1)", ratio)
    z = math.floor(float(stats.norm.ppf(ratio)) * 100) / 100
    while round(float(stats.norm.cdf(z)), 4) < ratio:
        z = round(z + 0.01, 2)
    return z


def table_loss(z: float) -> float:
    """``L(z)`` rounded to four decimals, as loss tables print it."""
    return round(normal_loss(round(z, 2)), 4)


def newsvendor_quantity(mean: float, sd: float, ratio: float) -> float:
    """``mean + z * sd`` with ``z`` by the table's round-up rule."""
    _check_sd(sd)
    return mean + table_z(ratio) * sd


def outcome(
    quantity: float,
    mean: float,
    sd: float,
    *,
    price: float,
    cost: float,
    salvage: float,
) -> NewsvendorOutcome:
    """Expected lost sales, sales, leftover and profit for ``quantity``.

    ``z = (quantity - mean) / sd`` is rounded to two decimals and ``L(z)`` to
    four, and the lost sales to whole units, as worked examples do. With
    ``sd = 0`` demand is ``mean`` for certain: the lost sales are exactly
    ``max(mean - quantity, 0)``.
    """
    _check_sd(sd)
    if sd == 0:
        lost = max(mean - quantity, 0)
    else:
        z = round((quantity - mean) / sd, 2)
        lost = round(sd * table_loss(z))
    sales = mean - lost
    leftover = quantity - sales
    profit = (price - cost) * sales - (cost - salvage) * leftover
    return NewsvendorOutcome(quantity, lost, sales, leftover, profit)


def _check_sd(sd: float) -> None:
    if not sd >= 0:
        raise PolicyError("sd", "must be a number >= 0", sd)
