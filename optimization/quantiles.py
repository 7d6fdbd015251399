"""Quantile functions of demand: read, mix and integrate them, vectorized over SKUs.

A demand distribution is carried as its quantiles ``Q`` of shape ``(n, q)`` at
``quantile_levels`` ``u`` of shape ``(q,)``, one row per SKU. Every function
here reads that pair through one model of the whole quantile function:

* between the outermost levels, ``Q`` is linear in ``u`` between neighbouring
  levels;
* above the last level ``u_q`` the tail is exponential,
  ``Q(u) = Q_q + theta_hi * log((1 - u_q) / (1 - u))``, with ``theta_hi``
  fitted so that the tail passes through the last two quantiles;
* below the first level ``u_1`` the tail is exponential towards zero and
  clipped there, ``Q(u) = max(0, Q_1 - theta_lo * log(u_1 / u))``, with
  ``theta_lo`` fitted through the first two quantiles.

An exponential tail is heavier than a normal one, so expected shortages in the
far tail err on the side of more stock. Equal neighbouring quantiles give a
zero scale: the tail is then a point mass at the outermost quantile.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from optimization.params import PolicyError

# Elements per chunk where the mixture broadcasts to (rows, points, points):
# small enough that its temporaries stay in cache.
_CHUNK_ELEMENTS = 80_000
# The last week of the forecast gives the rate used beyond its horizon.
_EXTRAPOLATION_WINDOW_DAYS = 7
# Lead-time points of the mixture where the lead time is uncertain.
DEFAULT_SUPPORT_POINTS = 7


class HorizonExtrapolationWarning(UserWarning):
    """A protection interval reaches past the forecast horizon."""


def check_levels(quantile_levels: np.ndarray) -> np.ndarray:
    """Return ``quantile_levels`` as floats after checking them.

    Raises
    ------
    PolicyError
        Unless there are at least two levels, strictly increasing, in (0, 1).
    """
    levels = np.asarray(quantile_levels, dtype=float)
    if levels.ndim != 1 or levels.size < 2:
        raise PolicyError(
            "quantile_levels", "must be a 1-d array of at least two levels", levels
        )
    if not (np.all(levels > 0) and np.all(levels < 1)):
        raise PolicyError("quantile_levels", "must lie in (0, 1)", levels)
    if np.any(np.diff(levels) <= 0):
        raise PolicyError("quantile_levels", "must be strictly increasing", levels)
    return levels


def interval_quantiles(
    cumulative_quantiles: np.ndarray, days: np.ndarray
) -> np.ndarray:
    """Quantiles of demand over the next ``days`` days, per SKU.

    Demand over 0 days is 0; between whole horizons the quantiles are
    interpolated linearly. Past the last horizon ``H`` they grow at the rate
    of the last week of the forecast (the last ``min(7, H)`` days), level by
    level, and a :class:`HorizonExtrapolationWarning` says how many SKUs
    needed it. The result is made non-decreasing along the level axis.

    Parameters
    ----------
    cumulative_quantiles
        Quantiles of cumulative demand for horizons ``1..H``, shape ``(n, H, q)``.
    days
        Length of the interval per SKU, shape ``(n,)``, fractional allowed, >= 0.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, q)``.
    """
    cq = np.asarray(cumulative_quantiles, dtype=float)
    n, horizon, _ = cq.shape
    days = np.broadcast_to(np.asarray(days, dtype=float), (n,))
    bad = ~np.isfinite(days) | (days < 0)
    if np.any(bad):
        raise PolicyError("days", "must be finite and >= 0", days[bad][:3])

    rows = np.arange(n)
    inside = np.minimum(days, horizon)
    below = np.floor(inside).astype(np.int64)
    above = np.minimum(below + 1, horizon)
    frac = inside - below
    result = _at_horizon(cq, rows, below)
    between = np.flatnonzero(frac > 0)
    if between.size:
        upper = _at_horizon(cq, between, above[between])
        step = frac[between, None] * (upper - result[between])
        result[between] += step

    beyond = days > horizon
    if np.any(beyond):
        warnings.warn(
            f"{int(beyond.sum())} SKU(s) need demand over up to {days.max():g} days, "
            f"past the forecast horizon of {horizon} days; extrapolating the rate "
            "of the last week",
            HorizonExtrapolationWarning,
            stacklevel=2,
        )
        window = min(_EXTRAPOLATION_WINDOW_DAYS, horizon)
        last = cq[beyond, horizon - 1, :]
        start = cq[beyond, horizon - 1 - window, :] if window < horizon else 0.0
        rate = (last - start) / window
        result[beyond] = last + (days[beyond] - horizon)[:, None] * rate
        result[beyond] = np.maximum.accumulate(result[beyond], axis=1)
    return result


def _at_horizon(cq: np.ndarray, rows: np.ndarray, horizon: np.ndarray) -> np.ndarray:
    """Quantiles at whole ``horizon`` (0 gives zeros), shape ``(n, q)``."""
    n, h, q = cq.shape
    flat = rows * h + np.maximum(horizon - 1, 0)
    values = np.take(cq.reshape(n * h, q), flat, axis=0)
    values[horizon == 0] = 0.0
    return values


def mixture_quantiles(
    cumulative_quantiles: np.ndarray,
    quantile_levels: np.ndarray,
    lead_time_days: np.ndarray,
    lead_time_spread_days: np.ndarray,
    review_period_days: np.ndarray,
    *,
    support_points: int = DEFAULT_SUPPORT_POINTS,
) -> np.ndarray:
    """Quantiles of demand over an uncertain lead time plus the review period.

    The lead time is discretized by :func:`lead_time_support`: ``K =
    support_points`` points with their probabilities, finer towards the
    upper tail. For each point the demand quantiles over ``lead + review``
    days come from :func:`interval_quantiles`; their CDFs are averaged with
    the points' probabilities on the common grid of all ``K * q`` component
    quantiles and the mixture CDF is inverted at ``quantile_levels``. Between
    grid points every component CDF is linear (inside its outer levels), so
    the inversion is exact there; in the components' tails it interpolates
    linearly.

    Rows with zero spread get :func:`interval_quantiles` directly.

    Parameters
    ----------
    cumulative_quantiles
        Shape ``(n, H, q)``.
    quantile_levels
        Shape ``(q,)``.
    lead_time_days, lead_time_spread_days, review_period_days
        Shape ``(n,)``.
    support_points
        Number of lead-time points ``K`` (>= 2).

    Returns
    -------
    numpy.ndarray
        Shape ``(n, q)``.
    """
    levels = check_levels(quantile_levels)
    if support_points < 2:
        raise PolicyError("support_points", "must be >= 2", support_points)
    mean = np.asarray(lead_time_days, dtype=float)
    spread = np.asarray(lead_time_spread_days, dtype=float)
    review = np.asarray(review_period_days, dtype=float)
    result = interval_quantiles(cumulative_quantiles, mean + review)
    uncertain = _uncertain(mean, spread)
    if not np.any(uncertain):
        return result

    cq = np.asarray(cumulative_quantiles, dtype=float)[uncertain]
    leads, weights = lead_time_support(
        mean[uncertain], spread[uncertain], support_points
    )
    components = np.stack(
        [
            interval_quantiles(cq, leads[:, k] + review[uncertain])
            for k in range(support_points)
        ],
        axis=1,
    )
    result[uncertain] = _mix(components, weights, levels)
    return result


def lead_time_support(
    lead_time_days: np.ndarray,
    lead_time_spread_days: np.ndarray,
    support_points: int = DEFAULT_SUPPORT_POINTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Lead-time points and their probabilities, shapes ``(n, K)`` and ``(K,)``.

    The lead time is a gamma with the given mean and standard deviation. Its
    range is cut into ``K = support_points`` bins at the probabilities
    ``p_j = 1 - (1 - j / K)^2``, ``j = 0..K``: bins narrow towards the upper
    tail, where demand's high quantiles are decided (the top bin holds
    ``1 / K^2``, the bottom one ``(2K - 1) / K^2``). Each bin is represented
    by its conditional mean, ``a s (F_{a+1}(b_j) - F_{a+1}(b_{j-1})) / (p_j -
    p_{j-1})`` for shape ``a``, scale ``s``, bin bounds ``b`` and ``F_{a+1}``
    the gamma CDF of shape ``a + 1``. The points keep the mean exactly; their
    spread falls short of the given one by the spread within the bins (3 to
    5% for ``K = 7``). Rows without spread get ``K`` copies of the mean.
    """
    edges = _bin_edges(support_points)
    return _support(lead_time_days, lead_time_spread_days, edges), np.diff(edges)


def longest_lead_time(
    lead_time_days: np.ndarray,
    lead_time_spread_days: np.ndarray,
    support_points: int = DEFAULT_SUPPORT_POINTS,
) -> np.ndarray:
    """The largest point of :func:`lead_time_support` per SKU, shape ``(n,)``.

    The longest lead time the mixture reads demand over (the mean where the
    lead time is certain); only the top bin is computed.
    """
    edges = _bin_edges(support_points)[-2:]
    return _support(lead_time_days, lead_time_spread_days, edges)[:, 0]


def _bin_edges(support_points: int) -> np.ndarray:
    """Probabilities ``1 - (1 - j / K)^2``, ``j = 0..K``, that cut the bins."""
    return 1.0 - (1.0 - np.arange(support_points + 1) / support_points) ** 2


def _support(
    lead_time_days: np.ndarray, lead_time_spread_days: np.ndarray, edges: np.ndarray
) -> np.ndarray:
    """Conditional means of the bins between ``edges``; the mean where certain."""
    mean = np.asarray(lead_time_days, dtype=float)
    spread = np.asarray(lead_time_spread_days, dtype=float)
    points = np.repeat(mean[:, None], edges.size - 1, axis=1)
    uncertain = _uncertain(mean, spread)
    if np.any(uncertain):
        points[uncertain] = _gamma_bin_means(mean[uncertain], spread[uncertain], edges)
    return points


def _uncertain(mean: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Rows whose lead time has a spread worth mixing over, ``(n,)``."""
    return (spread > 1e-9 * np.maximum(mean, 1.0)) & (mean > 0)


def _gamma_bin_means(
    mean: np.ndarray, spread: np.ndarray, edges: np.ndarray
) -> np.ndarray:
    """Gamma conditional means between the probabilities ``edges``, ``(m, K)``."""
    # Beyond a shape of 1e6 (a spread under 0.1% of the mean) the gamma is a
    # normal for every practical purpose: the points are drawn in towards the
    # mean to the given spread. A shape under 1e-3 (a spread over 30 times the
    # mean) puts all points at 0 but the last; they keep the mean, and the
    # spread of a shape of 1e-3.
    exact = (mean / spread) ** 2
    shape = np.clip(exact, 1e-3, 1e6)[:, None]
    scale = mean[:, None] / shape
    inner = (edges > 0) & (edges < 1)
    below = np.tile((edges >= 1).astype(float), (len(mean), 1))
    bounds = stats.gamma.ppf(edges[None, inner], shape, scale=scale)
    below[:, inner] = stats.gamma.cdf(bounds, shape + 1.0, scale=scale)
    points = mean[:, None] * np.diff(below, axis=1) / np.diff(edges)
    ratio = np.sqrt(shape / np.maximum(exact[:, None], shape))
    return mean[:, None] + (points - mean[:, None]) * ratio


def _mix(components: np.ndarray, weights: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles at ``levels`` of the mixture, ``(m, K, q), (K,) -> (m, q)``."""
    m, k, q = components.shape
    out = np.empty((m, q))
    step = max(1, _CHUNK_ELEMENTS // (k * k * q))
    for start in range(0, m, step):
        part = components[start : start + step]
        grid = np.sort(part.reshape(len(part), k * q), axis=1)
        cdf = _component_cdfs(part, levels, grid)
        mixed = np.einsum("mkg,k->mg", cdf, weights)
        out[start : start + step] = _invert(grid, mixed, levels)
    return out


def _component_cdfs(
    components: np.ndarray, levels: np.ndarray, grid: np.ndarray
) -> np.ndarray:
    """Each component's CDF at every grid point, ``(m, K, q), (m, G) -> (m, K, G)``."""
    m, k, q = components.shape
    points = grid[:, None, :]
    count = np.zeros((m, k, grid.shape[1]), np.int8)
    for level in range(q):
        count += components[:, :, level, None] <= points
    j = np.clip(count - 1, 0, q - 2).astype(np.intp)
    flat = j + np.arange(m * k).reshape(m, k, 1) * q
    q_lo = np.take(components, flat)
    q_hi = np.take(components, flat + 1)
    gap = q_hi - q_lo
    frac = np.divide(points - q_lo, gap, out=np.ones_like(gap), where=gap > 0)
    inner = levels[j] + np.clip(frac, 0.0, 1.0) * (levels[j + 1] - levels[j])

    lower, upper = tail_scales(components.reshape(-1, q), levels)
    row = np.broadcast_to(np.arange(m * k).reshape(m, k, 1), count.shape)
    below, above = count == 0, count == q
    x_low, r_low = np.broadcast_to(points, count.shape)[below], row[below]
    x_high, r_high = np.broadcast_to(points, count.shape)[above], row[above]
    first, last = components[:, :, 0].ravel(), components[:, :, -1].ravel()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        low = levels[0] * np.exp(-(first[r_low] - x_low) / lower[r_low])
        high = 1 - (1 - levels[-1]) * np.exp(-(x_high - last[r_high]) / upper[r_high])
    inner[below] = np.where(lower[r_low] > 0, low, 0.0)
    inner[above] = np.where(upper[r_high] > 0, high, 1.0)
    return inner


def _invert(grid: np.ndarray, cdf: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Invert a non-decreasing CDF given at sorted ``grid`` points, per row."""
    g = grid.shape[1]
    count = (cdf[:, None, :] < levels[None, :, None]).sum(axis=2)
    hi = np.minimum(count, g - 1)
    lo = np.maximum(count - 1, 0)
    x_lo = np.take_along_axis(grid, lo, axis=1)
    x_hi = np.take_along_axis(grid, hi, axis=1)
    f_lo = np.take_along_axis(cdf, lo, axis=1)
    f_hi = np.take_along_axis(cdf, hi, axis=1)
    width = f_hi - f_lo
    weight = np.divide(
        levels[None, :] - f_lo, width, out=np.zeros_like(width), where=width > 0
    )
    return x_lo + np.clip(weight, 0.0, 1.0) * (x_hi - x_lo)


def tail_scales(
    quantiles: np.ndarray, quantile_levels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Scales of the exponential lower and upper tails, each of shape ``(n,)``."""
    u = quantile_levels
    lower = (quantiles[:, 1] - quantiles[:, 0]) / np.log(u[1] / u[0])
    upper = (quantiles[:, -1] - quantiles[:, -2]) / np.log((1 - u[-2]) / (1 - u[-1]))
    return np.maximum(lower, 0.0), np.maximum(upper, 0.0)


def quantile_at(
    quantiles: np.ndarray, quantile_levels: np.ndarray, level: np.ndarray | float
) -> np.ndarray:
    """The quantile of each row at its own ``level``, shape ``(n,)``.

    Linear between the given levels, exponential tails beyond them (see the
    module docstring); a level of 1 gives ``inf`` unless the upper tail is a
    point mass.

    Parameters
    ----------
    quantiles
        Shape ``(n, q)``, non-decreasing along each row.
    quantile_levels
        Shape ``(q,)``.
    level
        Scalar or shape ``(n,)``, in [0, 1].
    """
    u = quantile_levels
    n = quantiles.shape[0]
    level = np.broadcast_to(np.asarray(level, dtype=float), (n,))
    j = np.clip(np.searchsorted(u, level, side="right") - 1, 0, u.size - 2)
    rows = np.arange(n)
    q_lo, q_hi = quantiles[rows, j], quantiles[rows, j + 1]
    inner = q_lo + (level - u[j]) / (u[j + 1] - u[j]) * (q_hi - q_lo)

    lower, upper = tail_scales(quantiles, u)
    with np.errstate(divide="ignore", invalid="ignore"):
        low_tail = quantiles[:, 0] - lower * np.log(u[0] / np.maximum(level, 1e-300))
        high_tail = quantiles[:, -1] + upper * np.log((1 - u[-1]) / (1 - level))
    high_tail = np.where(upper > 0, high_tail, quantiles[:, -1])
    result = np.where(level < u[0], np.maximum(low_tail, 0.0), inner)
    return np.where(level > u[-1], high_tail, result)


def cdf_at(
    quantiles: np.ndarray, quantile_levels: np.ndarray, x: np.ndarray
) -> np.ndarray:
    """``P(D <= x)`` under the quantile model, right-continuous.

    Parameters
    ----------
    quantiles
        Shape ``(n, q)``.
    quantile_levels
        Shape ``(q,)``.
    x
        Shape ``(n,)`` or ``(n, r)``: ``r`` points per row.

    Returns
    -------
    numpy.ndarray
        The shape of ``x``.
    """
    u = quantile_levels
    q = u.size
    x = np.asarray(x, dtype=float)
    points = x[:, None] if x.ndim == 1 else x
    count = (quantiles[:, None, :] <= points[:, :, None]).sum(axis=2)
    j = np.clip(count - 1, 0, q - 2)
    q_lo = np.take_along_axis(quantiles, j, axis=1)
    q_hi = np.take_along_axis(quantiles, j + 1, axis=1)
    gap = q_hi - q_lo
    frac = np.divide(points - q_lo, gap, out=np.ones_like(gap), where=gap > 0)
    inner = u[j] + np.clip(frac, 0.0, 1.0) * (u[j + 1] - u[j])

    lower, upper = tail_scales(quantiles, u)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        low = u[0] * np.exp(-(quantiles[:, :1] - points) / lower[:, None])
        high = 1 - (1 - u[-1]) * np.exp(-(points - quantiles[:, -1:]) / upper[:, None])
    low = np.where((lower[:, None] > 0) & (points >= 0), low, 0.0)
    high = np.where(upper[:, None] > 0, high, 1.0)
    result = np.where(count == 0, low, np.where(count == q, high, inner))
    return result[:, 0] if x.ndim == 1 else result


def expected_shortage(
    quantiles: np.ndarray, quantile_levels: np.ndarray, stock: np.ndarray
) -> np.ndarray:
    """``E[(D - stock)^+]``, the integral of ``(Q(u) - stock)^+`` over (0, 1).

    Exact for the model of the module docstring: trapezoids between levels,
    a triangle on the segment where ``Q`` crosses ``stock``, closed forms in
    the exponential tails.

    Parameters
    ----------
    quantiles
        Shape ``(n, q)``, non-negative and non-decreasing along each row.
    quantile_levels
        Shape ``(q,)``.
    stock
        Shape ``(n,)``; may be negative (backorders).

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``.
    """
    u = quantile_levels
    q = quantiles.shape[1]
    s = np.asarray(stock, dtype=float)
    excess = np.maximum(quantiles - s[:, None], 0.0)
    inner = excess @ _trapezoid_weights(u)

    # On the segment where Q crosses s the trapezoid counts w * g / 2; the
    # area under (Q - s)^+ there is the triangle w * g^2 / (2 * (Q_hi - Q_lo)).
    above = np.count_nonzero(excess, axis=1)
    cross = (above > 0) & (above < q)
    hi = np.flatnonzero(cross) * q + (q - above[cross])
    q_hi, q_lo = np.take(quantiles, hi), np.take(quantiles, hi - 1)
    width = np.diff(u)[q - above[cross] - 1]
    g = q_hi - s[cross]
    inner[cross] += width * g / 2 * (g / (q_hi - q_lo) - 1.0)

    lower, upper = tail_scales(quantiles, u)
    top = quantiles[:, -1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        decay = upper * np.exp(-(s - top) / upper)
    high = np.where(s <= top, top + upper - s, np.where(upper > 0, decay, 0.0))
    low = _clipped_exponential_mean(quantiles[:, 0] - np.maximum(s, 0.0), lower)
    low = low + np.maximum(-s, 0.0)
    return inner + (1 - u[-1]) * high + u[0] * low


def _trapezoid_weights(levels: np.ndarray) -> np.ndarray:
    """Weights ``c`` with ``values @ c`` the trapezoid rule over ``levels``."""
    width = np.diff(levels)
    weights = np.zeros(levels.size)
    weights[:-1] += width / 2
    weights[1:] += width / 2
    return weights


def _clipped_exponential_mean(a: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """``E[(a - theta * E)^+]`` for a unit exponential ``E``."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        value = a - theta + theta * np.exp(-a / theta)
    value = np.where(theta > 0, value, a)
    return np.where(a > 0, value, 0.0)


def expected_demand(quantiles: np.ndarray, quantile_levels: np.ndarray) -> np.ndarray:
    """``E[D]`` under the quantile model, shape ``(n,)``."""
    u = quantile_levels
    lower, upper = tail_scales(quantiles, u)
    inner = quantiles @ _trapezoid_weights(u)
    high = (1 - u[-1]) * (quantiles[:, -1] + upper)
    return inner + high + u[0] * _clipped_exponential_mean(quantiles[:, 0], lower)


def expected_leftover(
    quantiles: np.ndarray, quantile_levels: np.ndarray, stock: np.ndarray
) -> np.ndarray:
    """``E[(stock - D)^+] = stock - E[D] + E[(D - stock)^+]``, shape ``(n,)``."""
    stock = np.asarray(stock, dtype=float)
    shortage = expected_shortage(quantiles, quantile_levels, stock)
    leftover = stock - expected_demand(quantiles, quantile_levels) + shortage
    return np.maximum(leftover, 0.0)


def fill_rate(
    quantiles: np.ndarray, quantile_levels: np.ndarray, stock: np.ndarray
) -> np.ndarray:
    """Share of demand served from ``stock``: ``1 - E[(D - stock)^+] / E[D]``.

    This is the single-period fill rate; 1 where no demand is expected.
    Shape ``(n,)``.
    """
    shortage = expected_shortage(quantiles, quantile_levels, stock)
    mean = expected_demand(quantiles, quantile_levels)
    ratio = np.divide(shortage, mean, out=np.zeros_like(mean), where=mean > 0)
    return np.clip(1.0 - ratio, 0.0, 1.0)
