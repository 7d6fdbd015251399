"""The forecaster a worker runs, built from its settings."""

from __future__ import annotations

import torch

from forecasting.checkpoint import BUNDLED_CHECKPOINT, load_checkpoint
from forecasting.incremental import IncrementalForecaster, LSTMStepper, PanelStepper
from forecasting.tsb import TSBForecaster
from streams.config import ConfigError, Settings


def make_stepper(settings: Settings) -> IncrementalForecaster:
    """The global LSTM from ``settings.checkpoint`` (default: the bundled one),
    or the TSB baseline when ``settings.forecaster`` is ``tsb``.

    Sets this process's torch CPU threads to ``settings.cpu_threads``.
    """
    torch.set_num_threads(settings.cpu_threads)
    if settings.forecaster == "tsb":
        return PanelStepper(TSBForecaster(), settings.horizon, settings.quantile_levels)
    model = load_checkpoint(settings.checkpoint or BUNDLED_CHECKPOINT)
    ring_days = settings.window_days - model.feature_config.scale_window
    if ring_days < 1:
        raise ConfigError(
            "window_days: must exceed the model's scale window"
            f" ({model.feature_config.scale_window}), got {settings.window_days}"
        )
    return LSTMStepper(
        model,
        settings.horizon,
        settings.quantile_levels,
        device=settings.device,
        ring_days=ring_days,
    )
