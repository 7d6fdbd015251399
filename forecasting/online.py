"""Per-SKU incremental state: advance many SKUs by one day in one tensor step.

For every SKU a :class:`SkuStates` keeps only

* the LSTM state ``(h, c)`` (rows of two ``(num_layers, capacity, hidden)``
  tensors on the configured device),
* a ring buffer of the last ``ring_days`` observed inputs (scaled demand,
  price ratio, log scale and discount; the calendar part of an input is
  recomputed from the date), and
* running scale statistics: the last ``scale_window`` days of raw demand, the
  number of days seen, and the sum and count of observed prices.

All of them are arrays indexed by a SKU's row; ``index`` maps SKU to row and
capacity doubles when it runs out. A SKU seen for the first time starts cold:
zero ``(h, c)``, empty buffers and no price history, exactly like the first
day of a panel. The features of each day follow
:mod:`forecasting.features`, so advancing a panel day by day gives the same
state as encoding it.

:func:`fine_tune` (defined in :mod:`forecasting.training`) adapts the weights
to recent days outside the stream worker; :meth:`SkuStates.rebuild` then
adopts them.

Only ``(h, c)`` depends on more than recent demand. :meth:`SkuStates.restore`
recomputes everything else of a row, bit for bit, from its last
``ring_days + scale_window - 1`` days of demand (for SKUs fed no prices and no
discounts), so a row survives a restart given ``(h, c)``, its days seen and
that demand; :meth:`SkuStates.rebuild_rows` derives ``(h, c)`` too, from the
restored ring buffer, as :meth:`SkuStates.rebuild` does after a weight change.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Sequence

import numpy as np
import torch

from forecasting.base import QuantileForecast
from forecasting.checkpoint import TrainedModel
from forecasting.features import (
    N_CALENDAR,
    N_OBSERVED,
    calendar_features,
    observed_features,
)
from forecasting.network import DemandNetwork
from forecasting.training import fine_tune

__all__ = ["OnlineStateError", "SkuStates", "fine_tune"]

_REBUILD_BATCH = 8192
_RESTORE_BATCH = 16384


class OnlineStateError(ValueError):
    """An ``advance`` or ``rebuild`` that would corrupt the per-SKU state."""


class SkuStates:
    """Recurrent state, ring buffer and scale statistics of many SKUs.

    Parameters
    ----------
    model
        The trained network and its feature rules.
    ring_days
        Days of inputs kept per SKU to rebuild states after a weight change.
    capacity
        Initial number of rows (doubles on demand).
    device
        ``"cpu"`` or ``"cuda"``: where ``(h, c)`` live and the step runs.
    """

    def __init__(
        self,
        model: TrainedModel,
        ring_days: int = 56,
        capacity: int = 1024,
        device: str = "cpu",
    ) -> None:
        if ring_days < 1:
            raise OnlineStateError(f"ring_days: must be >= 1, got {ring_days}")
        self.model = model
        self.ring_days = ring_days
        self.device = torch.device(device)
        self.index: dict[str, int] = {}
        self.network = model.network.to(self.device).eval()
        config, window = model.network_config, model.feature_config.scale_window
        n, d, cap = config.num_layers, config.hidden_size, max(1, capacity)
        self.h = torch.zeros((n, cap, d), device=self.device)
        self.c = torch.zeros((n, cap, d), device=self.device)
        self.ring = np.zeros((cap, ring_days, N_OBSERVED + 1), dtype=np.float32)
        self.recent_demand = np.zeros((cap, window))
        self.days_seen = np.zeros(cap, dtype=np.int64)
        self.last_day = np.zeros(cap, dtype=np.int64)
        self.price_sum = np.zeros(cap)
        self.price_count = np.zeros(cap, dtype=np.int64)
        self.scale = np.full(cap, model.feature_config.scale_floor)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def capacity(self) -> int:
        return int(self.days_seen.shape[0])

    @property
    def model_version(self) -> str:
        return self.model.model_version

    def rows(self, skus: Sequence[str] | np.ndarray) -> np.ndarray:
        """Row of every SKU, allocating cold rows for SKUs not seen before."""
        skus = np.asarray(skus)
        index = self.index
        rows = np.fromiter((index.get(s, -1) for s in skus), np.int64, len(skus))
        new = np.flatnonzero(rows < 0)
        if new.size:
            self._grow(len(index) + new.size)
            fresh = np.arange(len(index), len(index) + new.size)
            index.update(zip((skus[i] for i in new), fresh.tolist(), strict=True))
            rows[new] = fresh
        return rows

    @torch.no_grad()
    def advance(
        self,
        skus: Sequence[str] | np.ndarray,
        day: dt.date,
        demand: np.ndarray,
        price: np.ndarray | None = None,
        discount: np.ndarray | None = None,
        *,
        future_discount: np.ndarray | None = None,
    ) -> QuantileForecast:
        """Close ``day`` for ``skus`` and return their new forecasts.

        Parameters
        ----------
        skus
            ``(n,)`` distinct SKU codes.
        day
            The day that closed; it must come after each SKU's last day.
            Days skipped since then are advanced first with zero demand.
        demand
            ``(n,)`` units sold on ``day`` (net, never negative).
        price
            ``(n,)`` mean unit price on ``day``, NaN where unknown.
        discount
            ``(n,)`` promotion discount on ``day`` (default 0).
        future_discount
            ``(n, H)`` planned discounts of days ``day + 1 .. day + H``
            (default 0).

        Returns
        -------
        QuantileForecast
            Cumulative-demand quantiles ``(n, H, Q)`` at the trained levels,
            ``as_of = day``.
        """
        skus = np.asarray(skus)
        n = len(skus)
        demand = self._vector("demand", demand, n, 0.0)
        if np.any(demand < 0) or not np.all(np.isfinite(demand)):
            bad = demand[(demand < 0) | ~np.isfinite(demand)][0]
            raise OnlineStateError(f"demand: must be finite and >= 0, got {bad}")
        if len(np.unique(skus)) != n:
            raise OnlineStateError("skus: must be distinct within one advance")
        rows = self.rows(skus)
        ordinal = day.toordinal()
        seen = self.days_seen[rows] > 0
        late = seen & (self.last_day[rows] >= ordinal)
        if np.any(late):
            first = int(np.flatnonzero(late)[0])
            last = dt.date.fromordinal(int(self.last_day[rows[first]]))
            raise OnlineStateError(
                f"day: must come after the last closed day {last} of sku"
                f" {skus[first]!r}, got {day}"
            )
        self._fill_gaps(rows[seen], ordinal)
        self._step(
            rows,
            ordinals=np.full(n, ordinal),
            demand=demand,
            price=self._vector("price", price, n, np.nan),
            discount=self._vector("discount", discount, n, 0.0),
        )
        horizon = self.model.horizon
        if future_discount is None:
            future_discount = np.zeros((n, horizon), dtype=np.float32)
        elif np.shape(future_discount) != (n, horizon):
            raise OnlineStateError(
                f"future_discount: must have shape {(n, horizon)},"
                f" got {np.shape(future_discount)}"
            )
        values = self._decode(rows, ordinal, np.asarray(future_discount))
        return QuantileForecast(
            skus, day, self.model.quantile_levels, values, model="lstm"
        )

    @torch.no_grad()
    def rebuild(self, model: TrainedModel) -> None:
        """Adopt new weights: rebuild every state from its ring buffer.

        Each SKU's state becomes the new network's encoding, from zero state,
        of its last ``min(days_seen, ring_days)`` inputs.
        """
        if model.feature_config != self.model.feature_config:
            raise OnlineStateError(
                "model: feature_config must equal the one the ring buffers were"
                f" built with ({self.model.feature_config}),"
                f" got {model.feature_config}"
            )
        network = model.network.to(self.device).eval()
        config = model.network_config
        shape = (config.num_layers, self.capacity, config.hidden_size)
        h = torch.zeros(shape, device=self.device)
        c = torch.zeros(shape, device=self.device)
        self._encode_rings(network, np.arange(len(self.index)), h, c)
        self.model, self.network, self.h, self.c = model, network, h, c

    @torch.no_grad()
    def rebuild_rows(self, rows: np.ndarray) -> None:
        """Rebuild the states of ``rows`` from their ring buffers, current weights.

        The same encoding as :meth:`rebuild`, for some rows only: ``(h, c)`` of
        each row becomes the encoding, from zero state, of its last
        ``min(days_seen, ring_days)`` inputs.
        """
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        self._encode_rings(self.network, rows, self.h, self.c)

    @torch.no_grad()
    def restore(
        self,
        rows: np.ndarray,
        days_seen: np.ndarray,
        last_day: dt.date,
        demand: np.ndarray,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> None:
        """Set ``rows`` to their state after ``last_day``, derived from raw demand.

        Scale statistics and ring buffer are recomputed from ``demand`` with
        the arithmetic of :meth:`advance`, so they equal, bit for bit, those
        of a row advanced day by day through the same days without prices and
        without discounts. ``(h, c)`` cannot be derived from demand: it is
        taken from ``state``, or zero when ``state`` is omitted (follow with
        :meth:`rebuild_rows` to encode the restored ring buffers).

        Parameters
        ----------
        rows
            ``(n,)`` rows, as returned by :meth:`rows`.
        days_seen
            ``(n,)`` days each row has been advanced through, ``last_day``
            included; 0 restores a cold row.
        last_day
            The last closed day of every row.
        demand
            ``(n, V)`` daily demand right-aligned on ``last_day``. A row reads
            its last ``min(days_seen, ring_days + scale_window - 1)`` columns.
        state
            ``(h, c)``, each ``(num_layers, n, hidden_size)``.
        """
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        seen = np.asarray(days_seen, dtype=np.int64)
        demand = np.asarray(demand, dtype=np.float64)
        n = rows.size
        if seen.shape != (n,) or np.any(seen < 0):
            raise OnlineStateError(
                f"days_seen: must be ({n},) counts >= 0, got shape {seen.shape}"
            )
        if demand.ndim != 2 or demand.shape[0] != n:
            raise OnlineStateError(
                f"demand: must have shape ({n}, days), got {demand.shape}"
            )
        reach = np.minimum(
            seen, self.ring_days + self.model.feature_config.scale_window - 1
        )
        if np.any(reach > demand.shape[1]):
            short = int(np.flatnonzero(reach > demand.shape[1])[0])
            raise OnlineStateError(
                "demand: must hold min(days_seen, ring_days + scale_window - 1)"
                f" = {int(reach[short])} days for row {int(rows[short])},"
                f" got {demand.shape[1]}"
            )
        for start in range(0, n, _RESTORE_BATCH):
            part = slice(start, start + _RESTORE_BATCH)
            self._restore_buffers(rows[part], seen[part], demand[part])
        self.days_seen[rows] = seen
        self.last_day[rows] = last_day.toordinal()
        self.price_sum[rows] = 0.0
        self.price_count[rows] = 0
        rows_t = torch.as_tensor(rows, device=self.device)
        if state is None:
            self.h[:, rows_t], self.c[:, rows_t] = 0.0, 0.0
        else:
            self.h[:, rows_t] = state[0].to(self.device, torch.float32)
            self.c[:, rows_t] = state[1].to(self.device, torch.float32)

    def _restore_buffers(
        self, rows: np.ndarray, seen: np.ndarray, demand: np.ndarray
    ) -> None:
        """Recent demand, scale and ring of ``rows`` as :meth:`_step` leaves them.

        Day ``j`` of a row (0 = its first day seen) sits in slot ``j % window``
        of the recent demand and ``j % ring_days`` of the ring, as in
        :meth:`_step`. The recent-demand buffer is replayed over the ring's
        days, one batched column write and one sum per day, so every scale is
        summed over the same slots in the same order as :meth:`_step` did.
        """
        config = self.model.feature_config
        window, ring = config.scale_window, self.ring_days
        first = demand.shape[1] - seen  # column of each row's day 0
        oldest = (seen - ring)[:, None]  # day of the oldest ring entry
        slots = np.arange(window)
        buffer = _demand_on(demand, first, oldest - (oldest - slots) % window)
        days = oldest + np.arange(ring)
        daily = _demand_on(demand, first, days)
        scale = np.empty(days.shape)
        every = np.arange(seen.size)
        for k in range(ring):
            if k:
                buffer[every, days[:, k] % window] = daily[:, k]
            scale[:, k] = buffer.sum(axis=1) / np.clip(days[:, k] + 1, 1, window)
        np.maximum(scale, config.scale_floor, out=scale)

        missing = np.full(scale.shape, np.nan)
        observed = observed_features(daily, scale, missing, missing, config)
        discount = np.zeros((*scale.shape, 1), dtype=np.float32)
        entries = np.concatenate([observed, discount], axis=-1)
        entries[days < 0] = 0.0
        self.ring[rows[:, None], days % ring] = entries
        self.recent_demand[rows] = buffer
        self.scale[rows] = scale[:, -1]

    def _encode_rings(
        self,
        network: DemandNetwork,
        rows: np.ndarray,
        h: torch.Tensor,
        c: torch.Tensor,
    ) -> None:
        """Write into ``h``, ``c`` the encoding of the rings of ``rows`` from zero."""
        for start in range(0, rows.size, _REBUILD_BATCH):
            chunk = rows[start : start + _REBUILD_BATCH]
            inputs, lengths = self._replay_inputs(chunk)
            zero = network.initial_state(chunk.size, self.device)
            _, (h_rows, c_rows) = network.encode(
                inputs.to(self.device), zero, lengths=torch.as_tensor(lengths)
            )
            chunk_t = torch.as_tensor(chunk, device=self.device)
            h[:, chunk_t], c[:, chunk_t] = h_rows, c_rows

    def _replay_inputs(self, rows: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """Ring contents oldest first, left-aligned: ``(n, R, F)`` and lengths."""
        ring = self.ring_days
        lengths = np.minimum(self.days_seen[rows], ring)
        offset = np.arange(ring)
        slots = (self.days_seen[rows, None] - lengths[:, None] + offset) % ring
        stored = self.ring[rows[:, None], slots]
        ordinals = self.last_day[rows, None] - lengths[:, None] + 1 + offset
        calendar = _calendar(ordinals, self.model)
        inputs = np.concatenate(
            [stored[..., :N_OBSERVED], calendar, stored[..., N_OBSERVED:]], axis=-1
        )
        inputs[offset[None, :] >= lengths[:, None]] = 0.0
        return torch.as_tensor(inputs), lengths

    def _step(
        self,
        rows: np.ndarray,
        *,
        ordinals: np.ndarray,
        demand: np.ndarray,
        price: np.ndarray,
        discount: np.ndarray,
    ) -> None:
        """Update statistics, ring and ``(h, c)`` of ``rows`` with one day each."""
        config = self.model.feature_config
        window = config.scale_window
        seen = self.days_seen[rows]
        self.recent_demand[rows, seen % window] = demand
        seen = seen + 1
        mean = self.recent_demand[rows].sum(axis=1) / np.minimum(seen, window)
        scale = np.maximum(mean, config.scale_floor)
        priced = np.isfinite(price)
        self.price_sum[rows] += np.where(priced, price, 0.0)
        self.price_count[rows] += priced
        count = self.price_count[rows]
        reference = np.where(
            count > 0, self.price_sum[rows] / np.maximum(count, 1), np.nan
        )
        observed = observed_features(demand, scale, price, reference, config)
        discount = discount.astype(np.float32)[:, None]
        self.ring[rows, (seen - 1) % self.ring_days] = np.concatenate(
            [observed, discount], axis=1
        )
        inputs = np.concatenate(
            [observed, _calendar(ordinals, self.model), discount], axis=1
        )
        rows_t = torch.as_tensor(rows, device=self.device)
        state = (self.h[:, rows_t], self.c[:, rows_t])
        x = torch.as_tensor(inputs, dtype=torch.float32, device=self.device)
        h, c = self.network.step(x, state)
        self.h[:, rows_t], self.c[:, rows_t] = h, c
        self.days_seen[rows] = seen
        self.last_day[rows] = ordinals
        self.scale[rows] = scale

    def _fill_gaps(self, rows: np.ndarray, ordinal: int) -> None:
        """Advance rows whose last day is before ``ordinal - 1`` with zero demand."""
        gap = ordinal - 1 - self.last_day[rows]
        if not np.any(gap > 0):
            return
        if gap.max() > self.ring_days:
            warnings.warn(
                f"day: {int(np.sum(gap > self.ring_days))} SKUs were last advanced"
                f" more than {self.ring_days} days earlier; filling"
                f" {int(gap.max())} days of zero demand one batched step at a time",
                stacklevel=3,
            )
        while np.any(gap > 0):
            pending = rows[gap > 0]
            zeros = np.zeros(pending.size)
            self._step(
                pending,
                ordinals=self.last_day[pending] + 1,
                demand=zeros,
                price=zeros + np.nan,
                discount=zeros,
            )
            gap = ordinal - 1 - self.last_day[rows]

    def _decode(
        self, rows: np.ndarray, ordinal: int, future_discount: np.ndarray
    ) -> np.ndarray:
        """Quantiles in units ``(n, H, Q)`` from the stored state of ``rows``."""
        horizon = self.model.horizon
        calendar = _calendar(ordinal + 1 + np.arange(horizon), self.model)
        if np.any(future_discount):
            calendar = np.broadcast_to(calendar, (len(rows), horizon, N_CALENDAR))
            discount = future_discount.astype(np.float32)[..., None]
        else:
            calendar = calendar[None]
            discount = np.zeros((1, horizon, 1), dtype=np.float32)
        known = np.concatenate([calendar, discount], axis=-1)
        rows_t = torch.as_tensor(rows, device=self.device)
        known_t = torch.as_tensor(known, dtype=torch.float32, device=self.device)
        scaled = self.network.predict(self.h[-1, rows_t], known_t)
        scale = torch.as_tensor(self.scale[rows], dtype=torch.float32)
        return (scaled * scale.to(self.device)[:, None, None]).cpu().numpy()

    def _grow(self, needed: int) -> None:
        capacity = self.capacity
        if needed <= capacity:
            return
        while capacity < needed:
            capacity *= 2
        extra = capacity - self.capacity
        self.h = torch.cat(
            [self.h, self.h.new_zeros(*self.h.shape[:1], extra, *self.h.shape[2:])], 1
        )
        self.c = torch.cat(
            [self.c, self.c.new_zeros(*self.c.shape[:1], extra, *self.c.shape[2:])], 1
        )
        floor = self.model.feature_config.scale_floor
        self.ring = _pad(self.ring, extra, 0.0)
        self.recent_demand = _pad(self.recent_demand, extra, 0.0)
        self.days_seen = _pad(self.days_seen, extra, 0)
        self.last_day = _pad(self.last_day, extra, 0)
        self.price_sum = _pad(self.price_sum, extra, 0.0)
        self.price_count = _pad(self.price_count, extra, 0)
        self.scale = _pad(self.scale, extra, floor)

    @staticmethod
    def _vector(
        name: str, values: np.ndarray | None, n: int, default: float
    ) -> np.ndarray:
        if values is None:
            return np.full(n, default)
        array = np.asarray(values, dtype=np.float64)
        if array.shape != (n,):
            raise OnlineStateError(f"{name}: must have shape ({n},), got {array.shape}")
        return array


def _pad(array: np.ndarray, extra: int, fill: float) -> np.ndarray:
    tail = np.full((extra, *array.shape[1:]), fill, dtype=array.dtype)
    return np.concatenate([array, tail])


def _calendar(ordinals: np.ndarray, model: TrainedModel) -> np.ndarray:
    """Calendar features of any array of ordinals, computing each day once."""
    unique, inverse = np.unique(ordinals, return_inverse=True)
    table = calendar_features(unique, model.feature_config)
    return table[inverse.reshape(np.shape(ordinals))]


def _demand_on(demand: np.ndarray, first: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Demand ``(n, ...)`` on day indices ``days`` ``(n, ...)``; 0 before day 0.

    ``first`` ``(n,)`` is the column of ``demand`` holding each row's day 0;
    days from 0 on must lie inside ``demand``.
    """
    shape = (-1, *([1] * (days.ndim - 1)))
    columns = first.reshape(shape) + days
    before = days < 0
    columns[before] = 0
    values = demand[np.arange(demand.shape[0]).reshape(shape), columns]
    values[before] = 0.0
    return values
