"""Teunter-Syntetos-Babai (TSB) smoothing with quantiles of cumulative demand.

TSB tracks two exponentially smoothed quantities per SKU: the probability
that a day has demand, updated every day with rate ``beta``, and the size of
a non-zero day's demand, updated on demand days only with rate ``alpha``
(Teunter, Syntetos and Babai, 2011). Because the probability also decays on
days without demand, a SKU that stops selling sees its forecast fade.

Smoothing starts from zero and is bias-corrected: after ``n`` updates the
estimate is the running value divided by ``1 - (1 - rate) ** n``, which makes
it the exponentially weighted mean of the days seen so far. No initial value
has to be guessed and a short history is not pulled towards one.

The distribution of cumulative demand over ``h`` days treats days as
independent, each with demand with probability ``p`` and a size of mean ``z``
and coefficient of variation ``cv``. Then exactly ``P(S_h = 0) = (1 - p) ** h``,
and the positive part is a lognormal matched to the exact conditional mean and
variance of ``S_h`` given ``S_h > 0``. ``cv`` is the smoothed spread of the
SKU's own non-zero sizes, shrunk towards ``size_cv`` when it has few demand
days. The model has no weekly pattern, no trend and no price effect.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Self

import numpy as np
from scipy.special import ndtri

from forecasting.base import (
    DEFAULT_HORIZON,
    DEFAULT_QUANTILE_LEVELS,
    DemandPanel,
    ForecastError,
    QuantileForecast,
    check_quantile_levels,
)

SIZE_PRIOR_DAYS = 2.0
"""Weight of ``size_cv``, in demand days, against a SKU's own size spread."""


@dataclass(frozen=True)
class TSBState:
    """Smoothed demand of ``n_skus`` SKUs; arrays are aligned, shape ``(n_skus,)``.

    Attributes
    ----------
    occurrence
        Zero-started smoothed indicator of a day with demand.
    size
        Zero-started smoothed demand of days with demand.
    size_sq
        Zero-started smoothed square of the demand of days with demand.
    n_days
        Days applied, int64.
    n_demand_days
        Days applied that had demand, int64.
    """

    occurrence: np.ndarray
    size: np.ndarray
    size_sq: np.ndarray
    n_days: np.ndarray
    n_demand_days: np.ndarray

    @classmethod
    def empty(cls, n_skus: int) -> TSBState:
        """The state of ``n_skus`` SKUs before any day was applied."""
        zeros = np.zeros(n_skus)
        counts = np.zeros(n_skus, dtype=np.int64)
        return cls(zeros, zeros.copy(), zeros.copy(), counts, counts.copy())

    @property
    def n_skus(self) -> int:
        return int(self.occurrence.shape[0])


class TSBForecaster:
    """TSB forecaster of cumulative-demand quantiles, vectorized over SKUs.

    Parameters
    ----------
    alpha
        Smoothing rate of the demand size, in (0, 1].
    beta
        Smoothing rate of the demand probability, in (0, 1].
    history_days
        Forecasts read only the last ``history_days`` days of a panel, so a
        forecast from a long panel equals one from a ring buffer of that many
        days; ``None`` reads the whole panel.
    size_cv
        Coefficient of variation of demand size assumed for a SKU with few
        demand days, >= 0.

    Attributes
    ----------
    state_
        :class:`TSBState` of the panel given to :meth:`fit`.
    skus_
        SKU codes of ``state_``, shape ``(n_skus,)``.

    Notes
    -----
    TSB is a local method: :meth:`forecast` rebuilds each SKU's state from the
    panel it is given and does not need :meth:`fit`. A SKU without a demand
    day in the history read gets zeros at every horizon and level. The method
    is deterministic, so no seed is needed.
    """

    name = "tsb"

    def __init__(
        self,
        alpha: float = 0.1,
        beta: float = 0.05,
        history_days: int | None = 56,
        size_cv: float = 1.0,
    ) -> None:
        for field, rate in (("alpha", alpha), ("beta", beta)):
            if not 0.0 < rate <= 1.0:
                raise ForecastError(f"{field}: must lie in (0, 1], got {rate}")
        if history_days is not None and history_days < 1:
            raise ForecastError(f"history_days: must be >= 1, got {history_days}")
        if not size_cv >= 0.0:
            raise ForecastError(f"size_cv: must be >= 0, got {size_cv}")
        self.alpha = alpha
        self.beta = beta
        self.history_days = history_days
        self.size_cv = size_cv

    def fit(self, panel: DemandPanel) -> Self:
        """Record the smoothed state of ``panel``; forecasting does not need it."""
        self.state_ = self.state_from_panel(panel)
        self.skus_ = np.array(panel.skus, copy=True)
        return self

    def forecast(
        self,
        panel: DemandPanel,
        horizon: int = DEFAULT_HORIZON,
        quantile_levels: tuple[float, ...] = DEFAULT_QUANTILE_LEVELS,
    ) -> QuantileForecast:
        """Quantiles of cumulative demand after ``panel.end`` for ``1..horizon``."""
        levels = check_quantile_levels(quantile_levels)
        values = self.quantiles(self.state_from_panel(panel), horizon, levels)
        return QuantileForecast(
            skus=panel.skus,
            as_of=panel.end,
            quantile_levels=levels,
            values=values,
            model=self.name,
        )

    def state_from_panel(self, panel: DemandPanel) -> TSBState:
        """Run :meth:`advance` from an empty state over the history read."""
        demand = panel.demand
        if self.history_days is not None:
            demand = demand[:, -self.history_days :]
        _check_demand(demand, panel)
        state = TSBState.empty(panel.demand.shape[0])
        for day in range(demand.shape[1]):
            state = self.advance(state, demand[:, day])
        return state

    def advance(self, state: TSBState, demand_today: np.ndarray) -> TSBState:
        """Apply one closed day to every SKU of ``state``.

        Parameters
        ----------
        state
            State after the previous day.
        demand_today
            Units sold on the day, shape ``(n_skus,)``, finite and >= 0.

        Returns
        -------
        TSBState
            A new state; ``state`` is not modified.
        """
        demand = np.asarray(demand_today, dtype=np.float64)
        if demand.shape != (state.n_skus,):
            raise ForecastError(
                f"demand_today: must have shape ({state.n_skus},), got {demand.shape}"
            )
        bad = ~np.isfinite(demand) | (demand < 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ForecastError(
                f"demand_today: must be finite and >= 0, got {demand[row]} at row {row}"
            )
        sold = demand > 0
        keep_size = np.where(sold, 1.0 - self.alpha, 1.0)
        gain = np.where(sold, self.alpha, 0.0)
        return TSBState(
            occurrence=(1.0 - self.beta) * state.occurrence + self.beta * sold,
            size=keep_size * state.size + gain * demand,
            size_sq=keep_size * state.size_sq + gain * demand**2,
            n_days=state.n_days + 1,
            n_demand_days=state.n_demand_days + sold,
        )

    def quantiles(
        self, state: TSBState, horizon: int, quantile_levels: np.ndarray
    ) -> np.ndarray:
        """Quantiles of cumulative demand, shape ``(n_skus, horizon, n_levels)``.

        Non-decreasing along levels by construction (zero below the mass at
        zero, then an increasing lognormal quantile) and along the horizon by
        a running maximum, which only acts where the lognormal fit of the
        positive part would dip.
        """
        if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer):
            raise ForecastError(f"horizon: must be an integer, got {horizon!r}")
        if horizon < 1:
            raise ForecastError(f"horizon: must be >= 1, got {horizon}")
        levels = check_quantile_levels(quantile_levels)
        values = np.zeros((state.n_skus, horizon, levels.size))

        active = (state.n_demand_days > 0) & (state.occurrence > 0)
        if not active.any():
            return values
        p = _debiased(state.occurrence[active], state.n_days[active], self.beta)
        p = np.clip(p, 0.0, 1.0)  # rounding can carry a daily seller past 1
        count = state.n_demand_days[active]
        z = _debiased(state.size[active], count, self.alpha)
        spread = _debiased(state.size_sq[active], count, self.alpha) - z**2
        own_cv2 = np.clip(spread, 0.0, None) / z**2
        weight = count / (count + SIZE_PRIOR_DAYS)
        cv2 = weight * own_cv2 + (1.0 - weight) * self.size_cv**2
        p, z, size_var = p[:, None], z[:, None], (cv2 * z**2)[:, None]

        h = np.arange(1, horizon + 1, dtype=np.float64)[None, :]
        with np.errstate(divide="ignore"):
            log_zero_mass = h * np.log1p(-p)  # log (1 - p) ** h; -inf at p = 1
        zero_mass, positive = np.exp(log_zero_mass), -np.expm1(log_zero_mass)
        mean = h * p * z
        second = h * p * (size_var + (1.0 - p) * z**2) + mean**2
        cond_mean = mean / positive
        cond_var = np.clip(second / positive - cond_mean**2, 0.0, None)
        log_var = np.log1p(cond_var / cond_mean**2)
        log_mean = np.log(cond_mean) - log_var / 2.0

        # the rank inside the positive part is exact in float64; the lognormal
        # quantile is evaluated in float32, ample for units and twice as fast
        rank = (levels - zero_mass[..., None]) / positive[..., None]
        below_one = np.nextafter(np.float32(1.0), np.float32(0.0))
        normal = ndtri(np.clip(rank.astype(np.float32), 0.0, below_one))
        log_q = log_mean[..., None].astype(np.float32)
        log_q = log_q + np.sqrt(log_var)[..., None].astype(np.float32) * normal
        values[active] = np.where(rank > 0, np.exp(log_q), 0.0)
        return np.maximum.accumulate(values, axis=1)


def _debiased(smoothed: np.ndarray, n: np.ndarray, rate: float) -> np.ndarray:
    """Zero-started smoothing divided by the weight its ``n`` updates carry."""
    weight = -np.expm1(n * np.log1p(-rate)) if rate < 1.0 else (n > 0) * 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, smoothed / weight, 0.0)


def _check_demand(demand: np.ndarray, panel: DemandPanel) -> None:
    bad = ~np.isfinite(demand) | (demand < 0)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        day = panel.end - dt.timedelta(days=int(demand.shape[1] - 1 - col))
        raise ForecastError(
            f"demand: must be finite and >= 0, got {demand[row, col]} for sku"
            f" {panel.skus[row]!r} on {day}"
        )
