"""The shapes every forecaster shares: demand history in, cumulative quantiles out.

A forecaster reads a :class:`DemandPanel` (daily demand of many SKUs over
consecutive days) and returns a :class:`QuantileForecast`: for every SKU,
quantiles of *cumulative* demand over the next ``1..H`` days. Lead-time demand
at any lead time is then read directly off the forecast; per-day quantiles are
never summed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol, Self, runtime_checkable

import numpy as np

DEFAULT_HORIZON = 28
DEFAULT_QUANTILE_LEVELS: tuple[float, ...] = (
    0.005,
    0.025,
    0.165,
    0.25,
    0.5,
    0.75,
    0.835,
    0.9,
    0.95,
    0.975,
    0.995,
)


class ForecastError(ValueError):
    """Input a forecaster cannot work with; the message names field and value."""


@dataclass(frozen=True)
class DemandPanel:
    """Daily demand of many SKUs over the same consecutive days.

    Attributes
    ----------
    skus
        SKU codes, shape ``(n_skus,)``.
    start
        The calendar day of column 0.
    demand
        Units sold per day, shape ``(n_skus, n_days)``, float, never negative
        (returns are netted within the day and clipped at zero).
    unit_price
        Mean unit price per day, shape ``(n_skus, n_days)``; NaN where the SKU
        did not sell that day. Optional: an array without a finite value says
        no more than ``None`` does (see :attr:`has_prices`).
    discount
        Promotion discount as a fraction per day, shape ``(n_skus, n_days +
        k)`` for ``k >= 0``: columns past the last demand day are planned
        promotions, known in advance. Optional.
    """

    skus: np.ndarray
    start: dt.date
    demand: np.ndarray
    unit_price: np.ndarray | None = None
    discount: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.demand.ndim != 2:
            raise ForecastError(
                f"demand: must be 2-D (n_skus, n_days), got shape {self.demand.shape}"
            )
        if len(self.skus) != self.demand.shape[0]:
            raise ForecastError(
                f"skus: must have one entry per demand row ({self.demand.shape[0]}),"
                f" got {len(self.skus)}"
            )
        if self.unit_price is not None and self.unit_price.shape != self.demand.shape:
            raise ForecastError(
                f"unit_price: must have the demand's shape {self.demand.shape},"
                f" got {self.unit_price.shape}"
            )
        if self.discount is not None and (
            self.discount.shape[0] != self.demand.shape[0]
            or self.discount.shape[1] < self.demand.shape[1]
        ):
            raise ForecastError(
                f"discount: must be (n_skus, >= n_days) = {self.demand.shape},"
                f" got {self.discount.shape}"
            )

    @property
    def n_days(self) -> int:
        return int(self.demand.shape[1])

    @property
    def has_prices(self) -> bool:
        """Whether any day carries a finite unit price.

        Sales read from a file without prices give an all-NaN ``unit_price``;
        such a panel, like one without the array, has no revenue to weigh by.
        """
        return self.unit_price is not None and bool(np.isfinite(self.unit_price).any())

    @property
    def end(self) -> dt.date:
        """The last day with demand data: the ``as_of`` of a forecast from it."""
        return self.start + dt.timedelta(days=self.n_days - 1)

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.n_days)]

    def until(self, last_day: dt.date) -> DemandPanel:
        """The panel cut after ``last_day`` (planned discounts are kept)."""
        n = (last_day - self.start).days + 1
        if not 0 < n <= self.n_days:
            raise ForecastError(
                f"last_day: must lie in {self.start}..{self.end}, got {last_day}"
            )
        price = None if self.unit_price is None else self.unit_price[:, :n]
        return DemandPanel(
            self.skus, self.start, self.demand[:, :n], price, self.discount
        )

    def select(self, rows: np.ndarray) -> DemandPanel:
        """The panel restricted to the SKUs at ``rows`` (indices or a mask)."""
        price = None if self.unit_price is None else self.unit_price[rows]
        discount = None if self.discount is None else self.discount[rows]
        return DemandPanel(
            self.skus[rows], self.start, self.demand[rows], price, discount
        )


@dataclass(frozen=True)
class QuantileForecast:
    """Quantiles of cumulative demand for horizons ``1..H`` days after ``as_of``.

    ``values[i, h - 1, j]`` is the ``quantile_levels[j]`` quantile of the units
    SKU ``skus[i]`` sells over days ``as_of + 1 .. as_of + h``. Values are
    non-decreasing along both the horizon and the level axes.
    """

    skus: np.ndarray
    as_of: dt.date
    quantile_levels: np.ndarray
    values: np.ndarray
    model: str = field(default="")

    def __post_init__(self) -> None:
        n, q = len(self.skus), len(self.quantile_levels)
        if self.values.ndim != 3 or self.values.shape[0] != n:
            raise ForecastError(
                f"values: must be (n_skus={n}, horizon, {q}), got {self.values.shape}"
            )
        if self.values.shape[2] != q:
            raise ForecastError(
                f"values: last axis must match quantile_levels ({q}),"
                f" got {self.values.shape[2]}"
            )

    @property
    def horizon(self) -> int:
        return int(self.values.shape[1])

    def daily(self) -> np.ndarray:
        """Per-day quantile increments ``(n_skus, H, q)`` implied by the cumulative.

        These are differences of cumulative quantiles at equal level: they sum
        back to the cumulative values, which is what a fan chart needs. They
        are not the marginal quantiles of a single day's demand.
        """
        return np.diff(self.values, axis=1, prepend=0.0)


def check_quantile_levels(levels: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """Return ``levels`` as a float array, or raise naming the offending value."""
    arr = np.asarray(levels, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ForecastError(f"quantile_levels: must be a non-empty list, got {levels}")
    bad = arr[~((arr > 0) & (arr < 1))]  # NaN fails every comparison
    if bad.size:
        raise ForecastError(f"quantile_levels: must lie in (0, 1), got {bad[0]}")
    if np.any(np.diff(arr) <= 0):
        raise ForecastError(
            f"quantile_levels: must be strictly increasing, got {levels}"
        )
    return arr


@runtime_checkable
class Forecaster(Protocol):
    """What the backtest, the simulator and the stream need from any forecaster.

    ``fit`` learns from history; ``forecast`` reads each SKU's history in
    ``panel`` up to ``panel.end`` and never mutates it. SKUs absent at fit time
    get a cold-start forecast rather than an error.
    """

    name: str

    def fit(self, panel: DemandPanel) -> Self: ...

    def forecast(
        self,
        panel: DemandPanel,
        horizon: int = DEFAULT_HORIZON,
        quantile_levels: tuple[float, ...] = DEFAULT_QUANTILE_LEVELS,
    ) -> QuantileForecast: ...
