"""Model inputs per SKU and day: scaled demand, price, promotion and calendar.

Two kinds of feature feed the network:

* **observed** features, known only once a day has closed: demand relative to
  the SKU's running scale (log-scaled), price relative to the SKU's reference
  price, and the log of the scale itself;
* **known** features, known in advance for any day: day of week, day of year,
  trading-day flag and UK public holidays (the *calendar*), plus the planned
  promotion discount. The decoder receives them for every horizon day.

Scale rule
    ``scale[t] = max(scale_floor, mean(demand[t - w + 1 .. t]))`` with
    ``w = scale_window``: mean daily demand over the trailing window that ends
    on (and includes) day ``t``. Before ``w`` days have been seen the mean runs
    over the days seen so far. Demand enters the network as
    ``log1p(demand / scale)`` and forecasts come out in units of the scale of
    the forecast origin.

Reference price rule
    The mean of every unit price observed for the SKU up to and including day
    ``t`` (days without a sale carry no price). The price feature is
    ``log(price / reference)`` clipped to ``[-price_clip, price_clip]``, and 0
    on days without a price.

Trading-day rule
    A day trades unless its weekday is in ``closed_weekdays``, it is a public
    holiday of ``holiday_country``/``holiday_subdiv`` (from the ``holidays``
    package), or it falls in the annual closure from ``closure_start`` to
    ``closure_end`` (month, day), which may wrap over the new year.
    :func:`infer_closed_weekdays` derives the closed weekdays from sales data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import holidays
import numpy as np

from forecasting.base import DemandPanel

N_OBSERVED = 3
N_CALENDAR = 11
N_KNOWN = N_CALENDAR + 1
N_INPUT = N_OBSERVED + N_KNOWN

_UNIX_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


class FeatureError(ValueError):
    """A feature configuration or input that breaks a documented rule."""


@dataclass(frozen=True)
class FeatureConfig:
    """How raw demand, prices and dates become model inputs.

    Stored in every checkpoint: a model is only valid with the configuration
    it was trained with.
    """

    scale_window: int = 56
    scale_floor: float = 0.1
    price_clip: float = 2.0
    closed_weekdays: tuple[int, ...] = (5,)
    holiday_country: str = "GB"
    holiday_subdiv: str | None = "ENG"
    closure_start: tuple[int, int] = (12, 24)
    closure_end: tuple[int, int] = (1, 3)

    def __post_init__(self) -> None:
        if self.scale_window < 1:
            raise FeatureError(
                f"scale_window: must be a positive number of days,"
                f" got {self.scale_window}"
            )
        if not self.scale_floor > 0:
            raise FeatureError(f"scale_floor: must be > 0, got {self.scale_floor}")
        bad = [d for d in self.closed_weekdays if not 0 <= d <= 6]
        if bad:
            raise FeatureError(
                f"closed_weekdays: must be weekdays 0 (Monday) .. 6, got {bad[0]}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FeatureConfig:
        known = {
            "closed_weekdays": tuple(values.get("closed_weekdays", (5,))),
            "closure_start": tuple(values.get("closure_start", (12, 24))),
            "closure_end": tuple(values.get("closure_end", (1, 3))),
        }
        return cls(**{**values, **known})


def infer_closed_weekdays(
    panel: DemandPanel, min_share: float = 0.2
) -> tuple[int, ...]:
    """Weekdays on which the shop (almost) never trades, from the panel's sales.

    A weekday is closed when fewer than ``min_share`` of its calendar days
    have any sale of any SKU.
    """
    traded = panel.demand.sum(axis=0) > 0
    weekday = (_ordinals(panel.start, panel.n_days) - 1) % 7
    shares = np.array([traded[weekday == d].mean() for d in range(7)])
    return tuple(int(d) for d in np.flatnonzero(shares < min_share))


def running_scale(demand: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Trailing mean demand with a floor (the scale rule), shape of ``demand``.

    ``demand`` is ``(n_skus, n_days)``; day 0 is the first day seen.
    """
    window = config.scale_window
    total = np.cumsum(demand, axis=1, dtype=np.float64)
    lagged = np.zeros_like(total)
    lagged[:, window:] = total[:, :-window]
    seen = np.minimum(np.arange(1, demand.shape[1] + 1), window)
    return np.maximum((total - lagged) / seen, config.scale_floor)


def reference_price(unit_price: np.ndarray) -> np.ndarray:
    """Expanding mean of observed prices, ``(n_skus, n_days)``; NaN before any."""
    observed = np.isfinite(unit_price)
    total = np.cumsum(np.where(observed, unit_price, 0.0), axis=1)
    count = np.cumsum(observed, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def observed_features(
    demand: np.ndarray,
    scale: np.ndarray,
    price: np.ndarray,
    reference: np.ndarray,
    config: FeatureConfig,
) -> np.ndarray:
    """Observed inputs, shape ``demand.shape + (N_OBSERVED,)``, float32.

    All arguments share one shape (any), element by element: demand in units,
    its scale, the unit price (NaN when unknown) and the reference price.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.log(price / reference)
    ratio = np.where(np.isfinite(ratio), ratio, 0.0)
    ratio = np.clip(ratio, -config.price_clip, config.price_clip)
    return np.stack(
        [np.log1p(demand / scale), ratio, 0.25 * np.log(scale)], axis=-1
    ).astype(np.float32)


def calendar_features(ordinals: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Calendar inputs for days given as ``date.toordinal()`` values, any shape.

    Returns ``ordinals.shape + (N_CALENDAR,)`` float32: 7 day-of-week one-hot
    columns, sin and cos of the day of year, the trading-day flag and the
    public-holiday flag.
    """
    ordinals = np.asarray(ordinals, dtype=np.int64)
    weekday = (ordinals - 1) % 7
    days = (ordinals - _UNIX_EPOCH_ORDINAL).astype("datetime64[D]")
    year_start = days.astype("datetime64[Y]").astype("datetime64[D]")
    day_of_year = (days - year_start).astype(np.int64)
    angle = 2.0 * np.pi * day_of_year / 365.25
    holiday = np.isin(ordinals, _holiday_ordinals(config, days))
    month = (days.astype("datetime64[M]").astype(np.int64) % 12) + 1
    month_day = month * 100 + (days - days.astype("datetime64[M]")).astype(int) + 1
    start = config.closure_start[0] * 100 + config.closure_start[1]
    end = config.closure_end[0] * 100 + config.closure_end[1]
    if start <= end:
        closure = (month_day >= start) & (month_day <= end)
    else:
        closure = (month_day >= start) | (month_day <= end)
    closed = np.isin(weekday, config.closed_weekdays) | holiday | closure
    columns = [weekday == d for d in range(7)]
    columns += [np.sin(angle), np.cos(angle), ~closed, holiday]
    return np.stack(columns, axis=-1).astype(np.float32)


def known_features(calendar: np.ndarray, discount: np.ndarray) -> np.ndarray:
    """Known-in-advance inputs: calendar ``(..., N_CALENDAR)`` and discount ``(...)``.

    Returns ``(..., N_KNOWN)`` float32; the calendar broadcasts against the
    discount (one calendar row per day serves every SKU).
    """
    discount = np.asarray(discount, dtype=np.float32)[..., None]
    calendar = np.broadcast_to(calendar, (*discount.shape[:-1], N_CALENDAR))
    return np.concatenate([calendar, discount], axis=-1)


def encoder_inputs(observed: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Full inputs from ``(..., N_OBSERVED)`` and ``(..., N_KNOWN)``: ``N_INPUT``."""
    return np.concatenate([observed, known], axis=-1)


@dataclass(frozen=True)
class PanelFeatures:
    """Features of a whole panel, computed once and sliced per window.

    Attributes
    ----------
    observed
        ``(n_skus, n_days, N_OBSERVED)`` float32.
    scale
        ``(n_skus, n_days)`` float64, the scale rule applied day by day.
    calendar
        ``(n_days + extra, N_CALENDAR)`` float32; rows past the last demand
        day serve the decoder.
    discount
        ``(n_skus, n_days + extra)`` float32, zeros where no promotion is known.
    """

    observed: np.ndarray
    scale: np.ndarray
    calendar: np.ndarray
    discount: np.ndarray

    def known(self, rows: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Known inputs at ``days`` (day indices, any shape ``S``) of ``rows``.

        ``rows`` broadcasts against ``days``; returns ``S + (N_KNOWN,)``.
        """
        rows, days = np.broadcast_arrays(rows, days)
        discount = self.discount[rows, days][..., None]
        return np.concatenate([self.calendar[days], discount], axis=-1)

    def inputs(self, rows: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Encoder inputs at ``days`` of ``rows``: ``S + (N_INPUT,)``."""
        observed = self.observed[rows, days]
        return encoder_inputs(observed, self.known(rows, days))


def panel_features(
    panel: DemandPanel, config: FeatureConfig, extra_days: int = 0
) -> PanelFeatures:
    """Compute every feature of ``panel``, with ``extra_days`` of known future."""
    n_skus, n_days = panel.demand.shape
    demand = np.asarray(panel.demand, dtype=np.float64)
    scale = running_scale(demand, config)
    if panel.unit_price is None:
        price = np.full(demand.shape, np.nan)
    else:
        price = np.asarray(panel.unit_price, dtype=np.float64)
    observed = observed_features(demand, scale, price, reference_price(price), config)
    total = n_days + extra_days
    discount = np.zeros((n_skus, total), dtype=np.float32)
    if panel.discount is not None:
        width = min(total, panel.discount.shape[1])
        discount[:, :width] = np.nan_to_num(panel.discount[:, :width])
    calendar = calendar_features(_ordinals(panel.start, total), config)
    return PanelFeatures(observed, scale, calendar, discount)


def _ordinals(start: dt.date, n_days: int) -> np.ndarray:
    return start.toordinal() + np.arange(n_days, dtype=np.int64)


def _holiday_ordinals(config: FeatureConfig, days: np.ndarray) -> np.ndarray:
    if days.size == 0:
        return np.zeros(0, dtype=np.int64)
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    return _holidays_between(
        config.holiday_country,
        config.holiday_subdiv,
        int(years.min()),
        int(years.max()),
    )


@lru_cache(maxsize=32)
def _holidays_between(
    country: str, subdiv: str | None, first_year: int, last_year: int
) -> np.ndarray:
    calendar = holidays.country_holidays(
        country, subdiv=subdiv, years=range(first_year, last_year + 1)
    )
    return np.array(sorted(day.toordinal() for day in calendar), dtype=np.int64)
