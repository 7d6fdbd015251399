"""Closing one day for a batch of SKUs, recoverable from durable per-SKU state.

A stream worker keeps, durably, each SKU's recent demand (``history``) and
whatever the last :meth:`IncrementalForecaster.step` returned for it (its
*snapshot*); everything in memory may vanish at any instant. A stepper turns
``(history, snapshots)`` into the forecast as of the closed day and the next
snapshots, and gives the same numbers whether or not its memory survived.

* :class:`PanelStepper` serves stateless forecasters (TSB): it forecasts from
  ``history`` alone and its snapshots are None.
* :class:`LSTMStepper` advances the global LSTM by one day per SKU. Its
  snapshot is the recurrent state ``(h, c)`` with the days seen, the last day
  and the model version; ring buffer and scale statistics are rebuilt from
  ``history`` (see :meth:`SkuStates.restore`).

How :class:`LSTMStepper` treats each SKU of a step for ``day``:

``cached``
    Its row in memory continues the given snapshot (same days seen, same
    last day ``day - 1``, same model lineage): advanced as is.
``restored``
    The snapshot is of the current model and its last day is ``day - 1``:
    ``(h, c)`` comes from the snapshot, the rest from ``history``.
``rebuilt``
    No usable snapshot: ``(h, c)`` is the current network's encoding, from zero
    state, of the last ``ring_days`` inputs derived from ``history``, exactly
    what :meth:`LSTMStepper.swap` does to a cached SKU. This covers snapshots
    of another model version (days seen from the snapshot), snapshots older
    than ``day - 1`` (the skipped days count as seen, with the demand
    ``history`` holds for them) and SKUs without a snapshot, which count as
    seen from their first day with demand in ``history`` (a SKU with no
    demand before ``day`` starts cold, from zero state).

All groups then advance in one batched step and are decoded together.

An LSTM snapshot is a dict: ``model_version`` (str), ``days_seen`` (int),
``last_day`` (ISO date) and ``h`` and ``c``, each the ``num_layers *
hidden_size`` float32 values of a state as little-endian bytes, layer by
layer. Bytes keep a snapshot exact and small (256 bytes each for the default
network) and let a batch of them be read with one buffer copy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from forecasting.base import (
    DemandPanel,
    Forecaster,
    ForecastError,
    QuantileForecast,
    check_quantile_levels,
)
from forecasting.checkpoint import TrainedModel
from forecasting.lstm import interpolate_levels
from forecasting.online import SkuStates

__all__ = ["IncrementalForecaster", "LSTMStepper", "PanelStepper", "StepperError"]

Snapshot = dict[str, Any]
_FIELDS = ("model_version", "days_seen", "last_day", "h", "c")
_FLOAT32 = np.dtype("<f4")


class StepperError(ForecastError):
    """A step whose inputs break a rule; the message names field and value."""


@runtime_checkable
class IncrementalForecaster(Protocol):
    """Forecasts one closed day at a time from durable per-SKU state."""

    @property
    def model_version(self) -> str: ...

    def step(
        self,
        skus: np.ndarray,
        day: dt.date,
        history: np.ndarray,
        snapshots: Sequence[Snapshot | None],
    ) -> tuple[QuantileForecast, list[Snapshot | None]]:
        """Close ``day`` for ``skus``.

        Parameters
        ----------
        skus
            ``(n,)`` distinct SKU codes.
        day
            The day being closed.
        history
            ``(n, W)`` demand of the last ``W`` closed days, ``day`` included,
            right-aligned; zeros before a SKU was first seen.
        snapshots
            Per SKU, what the previous step returned for it; None when it was
            never stepped.

        Returns
        -------
        forecast, snapshots
            Cumulative-demand quantiles ``(n, horizon, Q)`` as of ``day`` and
            the snapshot to store for each SKU.
        """
        ...


class PanelStepper:
    """A stateless panel forecaster (e.g. TSB) behind the stepper interface.

    Every step forecasts from ``history`` alone; snapshots are all None.

    Parameters
    ----------
    forecaster
        Any :class:`~forecasting.base.Forecaster`; ``forecast`` must not need
        ``fit`` (local methods such as TSB).
    horizon, quantile_levels
        What every forecast covers.
    model_version
        Names the forecaster in forecasts and commands; its ``name`` if None.
    """

    def __init__(
        self,
        forecaster: Forecaster,
        horizon: int,
        quantile_levels: Sequence[float],
        model_version: str | None = None,
    ) -> None:
        self.forecaster = forecaster
        self.horizon = horizon
        self.quantile_levels = tuple(check_quantile_levels(tuple(quantile_levels)))
        self._model_version = model_version or forecaster.name

    @property
    def model_version(self) -> str:
        return self._model_version

    def step(
        self,
        skus: np.ndarray,
        day: dt.date,
        history: np.ndarray,
        snapshots: Sequence[Snapshot | None],
    ) -> tuple[QuantileForecast, list[Snapshot | None]]:
        """Forecast as of ``day`` from ``history`` alone; snapshots are None."""
        skus, history = _checked(skus, history, snapshots)
        panel = DemandPanel(
            skus, day - dt.timedelta(days=history.shape[1] - 1), history
        )
        forecast = self.forecaster.forecast(panel, self.horizon, self.quantile_levels)
        return forecast, [None] * len(skus)


class LSTMStepper:
    """The global LSTM advanced one day per SKU, recoverable from snapshots.

    Parameters
    ----------
    model
        The trained network and its feature rules.
    horizon
        Days of every forecast, at most the trained horizon.
    quantile_levels
        Levels of every forecast; levels other than the trained ones are
        interpolated as in :class:`~forecasting.lstm.LSTMForecaster`.
    device
        Where the recurrent states live and the step runs.
    ring_days
        Inputs per SKU that :meth:`swap` and a rebuild encode. ``history``
        must then cover ``ring_days + scale_window`` days so that a ring
        buffer derived from it equals the one kept in memory.

    Notes
    -----
    A restored SKU equals a cached one bit for bit: both run the same batched
    step on the same batch. A rebuilt SKU encodes its inputs in a batch of
    other rebuilt SKUs while :meth:`swap` encodes all cached SKUs together;
    they agree exactly where the device computes each row of a matrix product
    independently of the other rows, as the CPU kernels do.
    """

    def __init__(
        self,
        model: TrainedModel,
        horizon: int,
        quantile_levels: Sequence[float],
        device: str = "cpu",
        ring_days: int = 56,
    ) -> None:
        self.horizon = _checked_horizon(horizon, model)
        self.quantile_levels = check_quantile_levels(tuple(quantile_levels))
        self.states = SkuStates(model, ring_days=ring_days, device=device)
        self._versions: dict[str, int] = {model.model_version: 0}
        # per row: the version code of the snapshot that row continues
        self._lineage = np.full(self.states.capacity, -1, dtype=np.int64)

    @property
    def model(self) -> TrainedModel:
        return self.states.model

    @property
    def model_version(self) -> str:
        return self.states.model_version

    @property
    def history_days(self) -> int:
        """The fewest columns of ``history`` a step accepts."""
        return self.states.ring_days + self.model.feature_config.scale_window

    def step(
        self,
        skus: np.ndarray,
        day: dt.date,
        history: np.ndarray,
        snapshots: Sequence[Snapshot | None],
    ) -> tuple[QuantileForecast, list[Snapshot | None]]:
        """Advance ``skus`` through ``day``; see :class:`IncrementalForecaster`."""
        skus, history = _checked(skus, history, snapshots)
        if history.shape[1] < self.history_days:
            raise StepperError(
                "history: must cover ring_days + scale_window ="
                f" {self.history_days} days to rebuild ring buffers exactly,"
                f" got {history.shape[1]}"
            )
        if len(set(skus.tolist())) != len(skus):
            raise StepperError("skus: must be distinct within one step")
        states = self.states
        rows = states.rows(skus)
        self._lineage = _padded(self._lineage, states.capacity)
        cached, restored, seen = self._plan(skus, rows, day, history, snapshots)

        previous = day - dt.timedelta(days=1)
        restore = np.flatnonzero(restored)
        if restore.size:
            state = _state_from(snapshots, restore, states.h.shape)
            states.restore(
                rows[restore], seen[restore], previous, history[restore, :-1], state
            )
        rebuild = np.flatnonzero(~cached & ~restored)
        if rebuild.size:
            states.restore(
                rows[rebuild], seen[rebuild], previous, history[rebuild, :-1]
            )
            states.rebuild_rows(rows[rebuild])

        out = states.advance(skus, day, history[:, -1])
        self._lineage[rows] = self._versions[self.model_version]
        values = interpolate_levels(
            out.values[:, : self.horizon],
            self.model.quantile_levels,
            self.quantile_levels,
        )
        forecast = QuantileForecast(skus, day, self.quantile_levels, values, "lstm")
        return forecast, self._snapshots(rows, day)

    def swap(self, model: TrainedModel) -> None:
        """Adopt new weights; cached SKUs are rebuilt from their ring buffers.

        Snapshots returned from then on carry ``model.model_version``. A
        snapshot of the old version that a cached SKU continues keeps being
        served from memory, which holds what a rebuild from ``history`` gives.
        """
        if model.feature_config != self.model.feature_config:
            raise StepperError(
                "model: feature_config must equal the current model's"
                f" ({self.model.feature_config}), got {model.feature_config}"
            )
        _checked_horizon(self.horizon, model)
        self.states.rebuild(model)
        self._versions.setdefault(model.model_version, len(self._versions))

    def _plan(
        self,
        skus: np.ndarray,
        rows: np.ndarray,
        day: dt.date,
        history: np.ndarray,
        snapshots: Sequence[Snapshot | None],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks of cached and restored SKUs; days each has seen before ``day``."""
        present, code, days_seen, last = _snapshot_fields(
            snapshots, skus, self._versions
        )

        previous = day.toordinal() - 1
        late = present & (last > previous)
        if np.any(late):
            first = int(np.flatnonzero(late)[0])
            raise StepperError(
                f"snapshots: last_day of sku {skus[first]!r} must come before"
                f" {day}, got {dt.date.fromordinal(int(last[first]))}"
            )
        on_time = present & (last == previous)
        states = self.states
        cached = (
            on_time
            & (code == self._lineage[rows])
            & (days_seen == states.days_seen[rows])
            & (states.last_day[rows] == previous)
        )
        restored = on_time & (code == self._versions[self.model_version]) & ~cached

        # without a snapshot a SKU counts as seen from its first day with demand
        prior = history[:, :-1] > 0
        since_first = np.where(
            prior.any(axis=1), prior.shape[1] - np.argmax(prior, axis=1), 0
        )
        seen = np.where(present, days_seen + (previous - last), since_first)
        return cached, restored, seen

    def _snapshots(self, rows: np.ndarray, day: dt.date) -> list[Snapshot | None]:
        """The snapshot of every row after a step closing ``day``."""
        states, n = self.states, rows.size
        rows_t = torch.as_tensor(rows, device=states.device)
        h, c = (
            _row_bytes(x[:, rows_t].transpose(0, 1).reshape(n, -1))
            for x in (states.h, states.c)
        )
        version, last_day = self.model_version, day.isoformat()
        return [
            {
                "model_version": version,
                "days_seen": seen,
                "last_day": last_day,
                "h": h_row,
                "c": c_row,
            }
            for seen, h_row, c_row in zip(
                states.days_seen[rows].tolist(), h, c, strict=True
            )
        ]


def _checked(
    skus: np.ndarray, history: np.ndarray, snapshots: Sequence[Snapshot | None]
) -> tuple[np.ndarray, np.ndarray]:
    skus = np.asarray(skus)
    history = np.asarray(history, dtype=np.float64)
    n = len(skus)
    if history.ndim != 2 or history.shape[0] != n or history.shape[1] < 1:
        raise StepperError(
            f"history: must have shape (n_skus={n}, days >= 1), got {history.shape}"
        )
    bad = ~np.isfinite(history) | (history < 0)
    if np.any(bad):
        row, col = np.argwhere(bad)[0]
        raise StepperError(
            f"history: must be finite and >= 0, got {history[row, col]} for sku"
            f" {skus[row]!r}"
        )
    if len(snapshots) != n:
        raise StepperError(
            f"snapshots: must have one entry per sku ({n}), got {len(snapshots)}"
        )
    return skus, history


def _checked_horizon(horizon: int, model: TrainedModel) -> int:
    if not 1 <= horizon <= model.horizon:
        raise StepperError(
            f"horizon: must lie in 1..{model.horizon} (the trained horizon),"
            f" got {horizon}"
        )
    return horizon


def _snapshot_fields(
    snapshots: Sequence[Snapshot | None],
    skus: np.ndarray,
    versions: dict[str, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per SKU: has a snapshot, its version code, days seen, last day ordinal.

    A step reads these for every SKU, so the common case runs as a few list
    comprehensions; the per-snapshot checks run only when one fails.
    """
    present = np.array([s is not None for s in snapshots], dtype=bool)
    given = [s for s in snapshots if s is not None]
    try:
        names = [str(s["model_version"]) for s in given]
        seen = np.array([s["days_seen"] for s in given], dtype=np.int64)
        days = [s["last_day"] for s in given]
        ordinals = {d: dt.date.fromisoformat(d).toordinal() for d in set(days)}
        valid = bool(np.all(seen >= 1))
    except (KeyError, TypeError, ValueError):
        valid = False
    if not valid:
        for snapshot, sku in zip(snapshots, skus, strict=True):
            _fields(snapshot, sku)
        raise StepperError(f"snapshots: must hold {', '.join(_FIELDS)}")
    code = np.full(len(snapshots), -1, dtype=np.int64)
    days_seen = np.zeros(len(snapshots), dtype=np.int64)
    last = np.zeros(len(snapshots), dtype=np.int64)
    code[present] = [versions.get(n, -1) for n in names]
    days_seen[present] = seen
    last[present] = [ordinals[d] for d in days]
    return present, code, days_seen, last


def _fields(snapshot: Snapshot | None, sku: str) -> tuple[str, int, int] | None:
    """``(model_version, days_seen, last_day ordinal)`` of a snapshot."""
    if snapshot is None:
        return None
    try:
        version, seen = str(snapshot["model_version"]), int(snapshot["days_seen"])
        last = dt.date.fromisoformat(snapshot["last_day"]).toordinal()
    except (KeyError, TypeError, ValueError) as exc:
        raise StepperError(
            f"snapshots: entry of sku {sku!r} must hold {', '.join(_FIELDS)},"
            f" got {exc!r}"
        ) from exc
    if seen < 1:
        raise StepperError(
            f"snapshots: days_seen of sku {sku!r} must be >= 1, got {seen}"
        )
    return version, seen, last


def _state_from(
    snapshots: Sequence[Snapshot | None], index: np.ndarray, shape: torch.Size
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(h, c)``, each ``(num_layers, len(index), hidden)``, from snapshots."""
    layers, _, hidden = shape
    size = layers * hidden * _FLOAT32.itemsize
    chosen = [snapshots[i] for i in index.tolist()]
    arrays = []
    for key in ("h", "c"):
        values = [s[key] if s else None for s in chosen]
        bad = next(
            (i for i, v in enumerate(values) if type(v) is not bytes or len(v) != size),
            None,
        )
        if bad is not None:
            raise StepperError(
                f"snapshots: {key} of sku index {int(index[bad])} must be"
                f" {size} bytes of float32 (num_layers x hidden_size),"
                f" got {_shown(values[bad])}"
            )
        flat = np.frombuffer(b"".join(values), dtype=_FLOAT32)  # type: ignore[arg-type]
        arrays.append(flat.astype(np.float32).reshape(index.size, -1))
    return _layers_first(arrays[0], layers), _layers_first(arrays[1], layers)


def _shown(value: object) -> str:
    if type(value) is bytes:
        return f"{len(value)} bytes"
    return f"{type(value).__name__} {value!r:.40}"


def _row_bytes(rows: torch.Tensor) -> list[bytes]:
    """Each row of a ``(n, k)`` tensor as ``k`` little-endian float32 values."""
    array = rows.detach().cpu().numpy().astype(_FLOAT32, copy=False)
    flat, size = array.tobytes(), array.shape[1] * _FLOAT32.itemsize
    return [flat[i : i + size] for i in range(0, len(flat), size)]


def _layers_first(rows: np.ndarray, layers: int) -> torch.Tensor:
    """``(n, layers * hidden)`` as the ``(layers, n, hidden)`` state layout."""
    n = rows.shape[0]
    return torch.from_numpy(rows.reshape(n, layers, -1)).transpose(0, 1).contiguous()


def _padded(array: np.ndarray, size: int) -> np.ndarray:
    if array.size >= size:
        return array
    return np.concatenate([array, np.full(size - array.size, -1, array.dtype)])
