"""The global LSTM as a :class:`~forecasting.base.Forecaster`."""

from __future__ import annotations

import os
from typing import Self

import numpy as np
import torch

from forecasting.base import (
    DEFAULT_HORIZON,
    DEFAULT_QUANTILE_LEVELS,
    DemandPanel,
    ForecastError,
    QuantileForecast,
    check_quantile_levels,
)
from forecasting.checkpoint import TrainedModel, load_checkpoint, save_checkpoint
from forecasting.features import panel_features
from forecasting.training import TrainingConfig, train

_ENCODE_BATCH = 4096


class NotFittedError(ForecastError):
    """``forecast`` was called before ``fit`` or loading a checkpoint."""


class LSTMForecaster:
    """One LSTM trained across all SKUs; forecasts cumulative-demand quantiles.

    ``fit`` trains a new network with ``config`` (seeded by ``config.seed``).
    ``forecast`` encodes the last ``context_days`` of each SKU's history from
    zero state (``TrainingConfig.context_days`` by default, the window length
    the network was trained on) and decodes horizons ``1..horizon`` with the
    calendar and planned discounts of those days. Any SKU can be forecast,
    including SKUs absent at fit time: the weights are shared.

    Quantile levels other than the trained ones are interpolated linearly
    between the two nearest trained levels; requested levels outside the
    trained range take the nearest trained quantile. Interpolating with fixed
    weights keeps the output monotone in both level and horizon. ``horizon``
    must not exceed the trained horizon.

    Instances pickle (the network pickles through its ``state_dict``);
    :meth:`save` and :meth:`load` write and read the versioned checkpoint,
    which is the persistence path for the stream and the CLI.
    """

    name = "lstm"

    def __init__(
        self,
        config: TrainingConfig | None = None,
        context_days: int | None = None,
        device: str = "cpu",
    ) -> None:
        self.config = config if config is not None else TrainingConfig(progress=False)
        self.context_days = context_days
        self.device = device
        self.model_: TrainedModel | None = None

    @classmethod
    def from_model(cls, model: TrainedModel, device: str = "cpu") -> LSTMForecaster:
        forecaster = cls(device=device)
        forecaster.model_ = model
        return forecaster

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str = "cpu") -> LSTMForecaster:
        return cls.from_model(load_checkpoint(path), device=device)

    def save(self, path: str | os.PathLike[str]) -> None:
        save_checkpoint(self._fitted(), path)

    def fit(self, panel: DemandPanel) -> Self:
        self.model_ = train(panel, self.config)
        return self

    def forecast(
        self,
        panel: DemandPanel,
        horizon: int = DEFAULT_HORIZON,
        quantile_levels: tuple[float, ...] = DEFAULT_QUANTILE_LEVELS,
    ) -> QuantileForecast:
        """Cumulative-demand quantiles after ``panel.end``, ``(n_skus, horizon, q)``."""
        model = self._fitted()
        levels = check_quantile_levels(quantile_levels)
        if not 1 <= horizon <= model.horizon:
            raise ForecastError(
                f"horizon: must lie in 1..{model.horizon} (the trained horizon),"
                f" got {horizon}"
            )
        if panel.n_days == 0:
            raise ForecastError(
                "panel: must hold at least one day of demand to encode, got 0 days"
            )

        scaled = self._decode(model, panel, horizon)
        values = interpolate_levels(scaled, model.quantile_levels, levels)
        return QuantileForecast(panel.skus, panel.end, levels, values, model=self.name)

    def _decode(
        self, model: TrainedModel, panel: DemandPanel, horizon: int
    ) -> np.ndarray:
        """Trained-level quantiles in units, ``(n_skus, horizon, Q_trained)``."""
        features = panel_features(panel, model.feature_config, extra_days=horizon)
        context = self.context_days or int(
            model.metadata.get("context_days", self.config.context_days)
        )
        days = np.arange(max(0, panel.n_days - context), panel.n_days)
        future = panel.n_days + np.arange(horizon)
        network = model.network.to(self.device).eval()
        out = np.empty((len(panel.skus), horizon, len(model.quantile_levels)))
        with torch.inference_mode():
            for start in range(0, len(panel.skus), _ENCODE_BATCH):
                rows = np.arange(start, min(start + _ENCODE_BATCH, len(panel.skus)))
                inputs = _tensor(features.inputs(rows[:, None], days), self.device)
                known = _tensor(features.known(rows[:, None], future), self.device)
                _, (h, _) = network.encode(inputs)
                scaled = network.predict(h[-1], known).cpu().numpy()
                out[rows] = scaled * features.scale[rows, -1, None, None]
        return out

    def _fitted(self) -> TrainedModel:
        if self.model_ is None:
            raise NotFittedError(
                "model_: LSTMForecaster must be fitted (fit) or loaded (load) first"
            )
        return self.model_


def interpolate_levels(
    values: np.ndarray, trained: np.ndarray, requested: np.ndarray
) -> np.ndarray:
    """Quantiles at ``requested`` levels from quantiles at ``trained`` levels.

    ``values`` is ``(..., len(trained))``; returns ``(..., len(requested))``.
    Linear between neighbouring trained levels, constant beyond the ends.
    """
    if np.array_equal(trained, requested):
        return values
    if len(trained) == 1:
        return np.repeat(values, len(requested), axis=-1)
    upper = np.clip(np.searchsorted(trained, requested), 1, len(trained) - 1)
    lower = upper - 1
    span = trained[upper] - trained[lower]
    weight = np.clip((requested - trained[lower]) / span, 0.0, 1.0)
    return values[..., lower] * (1.0 - weight) + values[..., upper] * weight


def _tensor(array: np.ndarray, device: str) -> torch.Tensor:
    return torch.as_tensor(array, dtype=torch.float32, device=device)
