"""Forecast accuracy, M5 style: scaled errors weighted by revenue.

Every function works on whole arrays of SKUs at once. The conventions:

- **Scales** come from each SKU's in-sample daily demand, counted from its
  first non-zero sale: the mean squared one-day difference for RMSSE and the
  mean absolute one-day difference for the scaled pinball loss (SPL). A SKU
  with no sale, or with no difference after its first sale, has no scale and
  is not scored.
- **Weights** are each scored SKU's revenue (units times unit price) over
  the last ``weight_days`` days before the origin, normalised to sum to one.
  A SKU without revenue in that window weighs nothing. A panel without
  any price (:attr:`DemandPanel.has_prices`) weighs SKUs by units instead.
- **Daily quantiles** are differences of the cumulative quantiles at equal
  level (:meth:`QuantileForecast.daily`), so the daily median is the
  difference of the cumulative median; this is the one consistent way to
  read per-day values off a cumulative forecast.
- **Coverage** of a level is the share of scored (SKU, horizon) pairs whose actual
  cumulative demand is at most the cumulative quantile (ties count as
  covered, which matters for intermittent demand).
- **Bias** is the relative error of the summed cumulative median at the
  last horizon: ``sum(median) / sum(actual) - 1`` over scored SKUs, negative
  when the forecast is short.
- **Cumulative SPL** ``spl_cum{h}_q{level}`` is the pinball loss of the
  ``h``-day cumulative quantile divided by ``h`` times the SPL scale, then
  revenue weighted: the error of lead-time demand a replenishment reads.
"""

from __future__ import annotations

import warnings

import numpy as np

from forecasting.base import DemandPanel, QuantileForecast

M5_QUANTILE_LEVELS: tuple[float, ...] = (
    0.005,
    0.025,
    0.165,
    0.25,
    0.5,
    0.75,
    0.835,
    0.975,
    0.995,
)
CUMULATIVE_HORIZONS: tuple[int, ...] = (7, 14)
CUMULATIVE_LEVELS: tuple[float, ...] = (0.9, 0.95)
WEIGHT_DAYS = 28


class MetricError(ValueError):
    """Inputs that cannot be scored; the message names the field and value."""


def m5_scales(history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RMSSE and SPL scales of each SKU's in-sample demand.

    Parameters
    ----------
    history
        Daily demand before the origin, shape ``(n_skus, n_days)``.

    Returns
    -------
    tuple of np.ndarray
        ``(squared, absolute)``, each shape ``(n_skus,)``: the mean squared
        and the mean absolute one-day difference from the first non-zero
        sale on; NaN where a SKU has no difference to average.
    """
    started = np.cumsum(history > 0, axis=1) > 0
    counted = started[:, :-1]
    step = np.diff(history, axis=1)
    n = counted.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        squared = np.where(counted, step**2, 0.0).sum(axis=1) / n
        absolute = np.where(counted, np.abs(step), 0.0).sum(axis=1) / n
    return squared, absolute


def revenue_weights(panel: DemandPanel, days: int = WEIGHT_DAYS) -> np.ndarray:
    """Revenue of each SKU over the last ``days`` days of ``panel``.

    Returns
    -------
    np.ndarray
        Shape ``(n_skus,)``, not normalised. When the panel has no price
        at all (``unit_price`` absent or never finite) its units stand in
        for revenue, with a warning.
    """
    demand = panel.demand[:, -days:]
    if panel.unit_price is None or not panel.has_prices:
        warnings.warn(
            "unit_price: the panel has none; weighting SKUs by units sold",
            stacklevel=2,
        )
        return demand.sum(axis=1)
    price = np.nan_to_num(panel.unit_price[:, -days:], nan=0.0)
    return (demand * price).sum(axis=1)


def pinball(
    actual: np.ndarray, quantile: np.ndarray, level: float | np.ndarray
) -> np.ndarray:
    """Elementwise pinball loss of ``quantile`` at ``level`` against ``actual``."""
    error = actual - quantile
    return np.maximum(level * error, (level - 1.0) * error)


def rmsse(actual: np.ndarray, point: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Root mean squared scaled error per SKU.

    Parameters
    ----------
    actual, point
        Daily demand and its point forecast, shape ``(n_skus, horizon)``.
    scale
        Mean squared in-sample one-day difference, shape ``(n_skus,)``.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(np.mean((actual - point) ** 2, axis=1) / scale)


def spl(
    actual: np.ndarray,
    quantiles: np.ndarray,
    levels: np.ndarray,
    scale: np.ndarray,
) -> np.ndarray:
    """Scaled pinball loss per SKU, averaged over horizons and levels.

    Parameters
    ----------
    actual
        Daily demand, shape ``(n_skus, horizon)``.
    quantiles
        Daily quantiles, shape ``(n_skus, horizon, n_levels)``.
    levels
        Quantile levels, shape ``(n_levels,)``.
    scale
        Mean absolute in-sample one-day difference, shape ``(n_skus,)``.
    """
    loss = pinball(actual[:, :, None], quantiles, levels[None, None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        return loss.mean(axis=(1, 2)) / scale


def coverage(actual_cum: np.ndarray, quantiles_cum: np.ndarray) -> np.ndarray:
    """Share of (SKU, horizon) pairs with cumulative demand at most the quantile.

    Parameters
    ----------
    actual_cum
        Cumulative demand, shape ``(n_skus, horizon)``.
    quantiles_cum
        Cumulative quantiles, shape ``(n_skus, horizon, n_levels)``.

    Returns
    -------
    np.ndarray
        Shape ``(n_levels,)``.
    """
    covered = actual_cum[:, :, None] <= quantiles_cum
    return covered.mean(axis=(0, 1))


def level_index(levels: np.ndarray, wanted: tuple[float, ...]) -> np.ndarray:
    """Positions of ``wanted`` in ``levels``, or raise naming the missing level."""
    index = np.empty(len(wanted), dtype=int)
    for k, level in enumerate(wanted):
        hit = np.flatnonzero(np.isclose(levels, level))
        if hit.size == 0:
            raise MetricError(
                f"quantile_levels: must include {level} to be scored,"
                f" got {levels.tolist()}"
            )
        index[k] = hit[0]
    return index


def evaluate(
    forecast: QuantileForecast,
    history: DemandPanel,
    actual: np.ndarray,
    weight_days: int = WEIGHT_DAYS,
) -> dict[str, float]:
    """Score one forecast against the demand that followed it.

    Parameters
    ----------
    forecast
        Cumulative quantiles for the SKUs of ``history``, in the same order.
    history
        Demand up to the origin (``forecast.as_of``), shape ``(n_skus,
        n_days)``; its unit prices give the revenue weights.
    actual
        Daily demand on the ``horizon`` days after the origin, shape
        ``(n_skus, horizon)``.
    weight_days
        Days before the origin whose revenue weights the SKUs.

    Returns
    -------
    dict
        ``wrmsse``, ``wspl``, ``bias``, ``spl_cum{h}_q{level}`` and
        ``coverage_q{level}`` for every forecast level, plus ``n_skus`` and
        ``n_scored`` (SKUs with a scale and revenue).
    """
    levels = np.asarray(forecast.quantile_levels, dtype=float)
    horizon = forecast.horizon
    if actual.shape != (len(forecast.skus), horizon):
        raise MetricError(
            f"actual: must be (n_skus, horizon) = ({len(forecast.skus)}, {horizon}),"
            f" got {actual.shape}"
        )
    if not np.array_equal(forecast.skus, history.skus):
        raise MetricError("skus: the forecast and the history must list the same SKUs")
    if max(CUMULATIVE_HORIZONS) > horizon:
        raise MetricError(
            f"horizon: must be at least {max(CUMULATIVE_HORIZONS)} to be scored,"
            f" got {horizon}"
        )
    m5 = level_index(levels, M5_QUANTILE_LEVELS)
    median = level_index(levels, (0.5,))[0]
    cum_index = level_index(levels, CUMULATIVE_LEVELS)

    squared, absolute = m5_scales(history.demand)
    revenue = revenue_weights(history, weight_days)
    scored = np.isfinite(squared) & (squared > 0) & (revenue > 0)
    if not scored.any():
        raise MetricError(
            "history: no SKU has both a non-zero scale and revenue in the last"
            f" {weight_days} days"
        )
    weight = np.where(scored, revenue, 0.0) / revenue[scored].sum()
    values = forecast.values[scored]
    daily = forecast.daily()[scored]
    actual = actual[scored]
    actual_cum = np.cumsum(actual, axis=1)
    w = weight[scored]

    total = actual_cum[:, -1].sum()
    result: dict[str, float] = {
        "wrmsse": float(w @ rmsse(actual, daily[:, :, median], squared[scored])),
        "wspl": float(w @ spl(actual, daily[:, :, m5], levels[m5], absolute[scored])),
        "bias": float(values[:, -1, median].sum() / total - 1.0) if total else np.nan,
    }
    for h in CUMULATIVE_HORIZONS:
        for level, j in zip(CUMULATIVE_LEVELS, cum_index, strict=True):
            loss = pinball(actual_cum[:, h - 1], values[:, h - 1, j], level)
            result[f"spl_cum{h}_q{level:g}"] = float(
                w @ (loss / (h * absolute[scored]))
            )
    for level, share in zip(levels, coverage(actual_cum, values), strict=True):
        result[f"coverage_q{level:g}"] = float(share)
    result["n_skus"] = float(len(forecast.skus))
    result["n_scored"] = float(scored.sum())
    return result
