"""Training the global network: windows across SKUs, pinball loss, early stopping.

A training window is one SKU's ``context_days`` consecutive days. The encoder
runs over the window from zero state and the decoder forecasts from several
origins inside it (every ``origin_stride`` days, after at least
``min_context_days`` of context), so one encoder pass yields several
forecasts. Targets are cumulative demand over ``1..H`` days after each origin,
divided by the scale at the origin.

The loss is the pinball loss averaged over quantile levels, divided by the
horizon ``h`` (so every horizon counts like one day of demand), and weighted
per SKU by a mix of uniform weight and revenue share over the training days.
The last ``validation_days`` before the cutoff are held out: validation
forecasts start from origins inside them and early stopping keeps the weights
with the lowest validation loss.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from forecasting.base import (
    DEFAULT_HORIZON,
    DEFAULT_QUANTILE_LEVELS,
    DemandPanel,
    check_quantile_levels,
)
from forecasting.checkpoint import TrainedModel, weights_digest
from forecasting.features import (
    N_INPUT,
    N_KNOWN,
    FeatureConfig,
    PanelFeatures,
    infer_closed_weekdays,
    panel_features,
)
from forecasting.network import DemandNetwork, NetworkConfig


class TrainingError(ValueError):
    """A training configuration or panel that cannot produce a model."""


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that decides a training run; the same config and seed give
    the same weights on the same device."""

    epochs: int = 40
    batch_size: int = 256
    windows_per_epoch: int = 10_240
    hidden_size: int = 32
    num_layers: int = 1
    dropout: float = 0.1
    weight_decay: float = 1e-4
    learning_rate: float = 2e-3
    horizon: int = DEFAULT_HORIZON
    quantile_levels: tuple[float, ...] = DEFAULT_QUANTILE_LEVELS
    context_days: int = 112
    min_context_days: int = 56
    origin_stride: int = 7
    validation_days: int = 56
    patience: int = 10
    revenue_weight: float = 0.5
    seed: int = 0
    device: str = "cpu"
    progress: bool = True
    features: FeatureConfig | None = field(default=None)

    def __post_init__(self) -> None:
        check_quantile_levels(self.quantile_levels)
        counts = (
            "epochs",
            "batch_size",
            "windows_per_epoch",
            "hidden_size",
            "patience",
        )
        for name in counts:
            if getattr(self, name) < 1:
                raise TrainingError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise TrainingError(f"learning_rate: must be > 0, got {self.learning_rate}")
        if not 1 <= self.min_context_days <= self.context_days:
            raise TrainingError(
                f"min_context_days: must lie in 1..context_days={self.context_days},"
                f" got {self.min_context_days}"
            )
        if self.validation_days < self.horizon:
            raise TrainingError(
                f"validation_days: must be >= horizon={self.horizon},"
                f" got {self.validation_days}"
            )


def pinball_loss(
    quantiles: torch.Tensor,
    target: torch.Tensor,
    levels: torch.Tensor,
    weight: torch.Tensor,
) -> torch.Tensor:
    """Weighted pinball loss on cumulative demand.

    Parameters
    ----------
    quantiles
        ``(B, O, H, Q)`` forecast quantiles.
    target
        ``(B, O, H)`` realised cumulative demand.
    levels
        ``(Q,)`` quantile levels.
    weight
        ``(B,)`` non-negative window weights.

    Returns
    -------
    torch.Tensor
        Scalar: per-window mean over origins, horizons (each divided by its
        ``h``) and levels, then the ``weight``-weighted mean over windows.
    """
    error = target.unsqueeze(-1) - quantiles
    loss = torch.maximum(levels * error, (levels - 1.0) * error).mean(dim=-1)
    horizon = torch.arange(1, loss.shape[-1] + 1, device=loss.device)
    per_window = (loss / horizon).mean(dim=(-1, -2))
    return (per_window * weight).sum() / weight.sum().clamp_min(1e-12)


@dataclass(frozen=True)
class _Windows:
    """Arrays a batch is cut from, for one panel."""

    features: PanelFeatures
    cumulative: np.ndarray
    weight: np.ndarray
    offsets: np.ndarray
    context_days: int
    horizon: int

    def batch(
        self, rows: np.ndarray, stops: np.ndarray, device: str
    ) -> tuple[torch.Tensor, ...]:
        """Inputs ``(B, L, F)``, known ``(B, O, H, K)``, target ``(B, O, H)``,
        weight ``(B,)`` for windows of ``rows`` ending before ``stops``."""
        days = stops[:, None] - self.context_days + np.arange(self.context_days)
        inputs = self.features.inputs(rows[:, None], days)
        origins = stops[:, None] - 1 - self.offsets[None, :]
        future = origins[..., None] + 1 + np.arange(self.horizon)
        known_future = self.features.known(rows[:, None, None], future)
        cum = self.cumulative[rows[:, None, None], future + 1]
        base = self.cumulative[rows[:, None], origins + 1][..., None]
        scale = self.features.scale[rows[:, None], origins][..., None]
        target = (cum - base) / scale
        tensors = (inputs, known_future, target, self.weight[rows])
        return tuple(
            torch.as_tensor(a, dtype=torch.float32, device=device) for a in tensors
        )


def train(
    panel: DemandPanel, config: TrainingConfig, until: dt.date | None = None
) -> TrainedModel:
    """Train a network on ``panel`` up to and including ``until``.

    Parameters
    ----------
    panel
        Demand history; days after ``until`` are ignored.
    config
        Sizes, schedule, seed and device.
    until
        Cutoff day (default: ``panel.end``). The last ``validation_days``
        before it are held out for early stopping.
    """
    if until is not None and until < panel.end:
        panel = panel.until(until)
    last = panel.n_days - 1
    split = last - config.validation_days
    first_stop, last_stop = config.context_days, split - config.horizon + 1
    if last_stop < first_stop:
        raise TrainingError(
            f"panel: needs at least context_days + horizon + validation_days ="
            f" {config.context_days + config.horizon + config.validation_days} days"
            f" up to the cutoff, got {panel.n_days}"
        )
    feature_config = config.features or FeatureConfig(
        closed_weekdays=infer_closed_weekdays(panel)
    )
    features = panel_features(panel, feature_config, extra_days=1)
    eligible = np.flatnonzero(panel.demand[:, : split + 1].sum(axis=1) > 0)
    if eligible.size == 0:
        raise TrainingError("panel: no SKU has any demand before the validation days")
    stride = config.origin_stride
    max_offset = config.context_days - config.min_context_days
    windows = _Windows(
        features=features,
        cumulative=_cumulative(panel.demand),
        weight=_sku_weights(panel, split, config.revenue_weight),
        offsets=np.arange(0, max_offset + 1, stride),
        context_days=config.context_days,
        horizon=config.horizon,
    )
    room = min(config.validation_days - config.horizon, max_offset)
    validation = replace(windows, offsets=np.arange(0, room + 1, stride))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        rng = np.random.default_rng(config.seed)
        network = DemandNetwork(
            NetworkConfig(
                input_size=N_INPUT,
                known_size=N_KNOWN,
                hidden_size=config.hidden_size,
                num_layers=config.num_layers,
                horizon=config.horizon,
                quantile_levels=tuple(config.quantile_levels),
                dropout=config.dropout,
            )
        ).to(config.device)
        stops = (first_stop, last_stop, last - config.horizon + 1)
        history = _fit(
            network,
            windows=windows,
            validation=validation,
            eligible=eligible,
            stops=stops,
            rng=rng,
            config=config,
        )
    network.eval().to("cpu")
    best = min(history["validation"]) if history["validation"] else math.nan
    return TrainedModel(
        network=network,
        feature_config=feature_config,
        model_version=f"lstm-{panel.end.isoformat()}-{weights_digest(network)[:12]}",
        validation_loss=best,
        metadata={
            "until": panel.end.isoformat(),
            "seed": config.seed,
            "context_days": config.context_days,
            "min_context_days": config.min_context_days,
            "origin_stride": config.origin_stride,
            "epochs_run": len(history["train"]),
            "train_loss": history["train"],
            "validation_loss": history["validation"],
            "n_skus": int(eligible.size),
        },
    )


def _fit(
    network: DemandNetwork,
    *,
    windows: _Windows,
    validation: _Windows,
    eligible: np.ndarray,
    stops: tuple[int, int, int],
    rng: np.random.Generator,
    config: TrainingConfig,
) -> dict[str, list[float]]:
    """Run epochs with early stopping; leave the best weights in ``network``."""
    first_stop, last_stop, validation_stop = stops
    levels = torch.tensor(config.quantile_levels, device=config.device)
    optimizer = torch.optim.AdamW(
        network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    n_batches = math.ceil(config.windows_per_epoch / config.batch_size)
    history: dict[str, list[float]] = {"train": [], "validation": []}
    best, best_state, stale = math.inf, copy.deepcopy(network.state_dict()), 0
    bar = tqdm(
        total=config.epochs * n_batches, disable=not config.progress, unit="batch"
    )
    for epoch in range(config.epochs):
        rows = rng.choice(eligible, size=config.windows_per_epoch)
        ends = rng.integers(first_stop, last_stop + 1, size=config.windows_per_epoch)
        network.train()
        total = 0.0
        for start in range(0, config.windows_per_epoch, config.batch_size):
            part = slice(start, start + config.batch_size)
            inputs, known, target, weight = windows.batch(
                rows[part], ends[part], config.device
            )
            outputs, _ = network.encode(inputs)
            positions = config.context_days - 1 - windows.offsets
            quantiles = network.decode(outputs[:, positions], known)
            loss = pinball_loss(quantiles, target, levels, weight)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimizer.step()
            total += float(loss.detach())
            bar.update(1)
        history["train"].append(total / n_batches)
        score = _evaluate(
            network,
            validation=validation,
            eligible=eligible,
            stop=validation_stop,
            levels=levels,
            config=config,
        )
        history["validation"].append(score)
        bar.set_postfix(epoch=epoch + 1, train=history["train"][-1], valid=score)
        if score < best:
            best, best_state, stale = score, copy.deepcopy(network.state_dict()), 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    bar.close()
    network.load_state_dict(best_state)
    return history


@torch.no_grad()
def _evaluate(
    network: DemandNetwork,
    *,
    validation: _Windows,
    eligible: np.ndarray,
    stop: int,
    levels: torch.Tensor,
    config: TrainingConfig,
) -> float:
    """Weighted pinball loss of one window per SKU ending at the last valid origin."""
    network.eval()
    positions = config.context_days - 1 - validation.offsets
    total, weights = 0.0, 0.0
    for start in range(0, eligible.size, 4 * config.batch_size):
        rows = eligible[start : start + 4 * config.batch_size]
        inputs, known, target, weight = validation.batch(
            rows, np.full(rows.size, stop), config.device
        )
        outputs, _ = network.encode(inputs)
        quantiles = network.decode(outputs[:, positions], known)
        total += float(pinball_loss(quantiles, target, levels, weight)) * float(
            weight.sum()
        )
        weights += float(weight.sum())
    return total / weights


def _cumulative(demand: np.ndarray) -> np.ndarray:
    """``(n, T + 1)`` running totals with a leading zero column."""
    out = np.zeros((demand.shape[0], demand.shape[1] + 1))
    np.cumsum(demand, axis=1, out=out[:, 1:])
    return out


def _sku_weights(panel: DemandPanel, last: int, revenue_weight: float) -> np.ndarray:
    """Per-SKU loss weights with mean 1: uniform mixed with revenue share.

    Revenue is units times unit price over days ``0..last`` (units alone
    when the panel has no prices, :attr:`DemandPanel.has_prices`).
    """
    demand = panel.demand[:, : last + 1]
    if panel.unit_price is None or not panel.has_prices:
        revenue = demand.sum(axis=1)
    else:
        price = np.nan_to_num(panel.unit_price[:, : last + 1])
        revenue = (demand * price).sum(axis=1)
    total = revenue.sum()
    share = revenue * len(revenue) / total if total > 0 else np.ones(len(revenue))
    return (1.0 - revenue_weight) + revenue_weight * share


def fine_tune(
    model: TrainedModel,
    panel: DemandPanel,
    steps: int,
    *,
    recent_days: int = 168,
    batch_size: int = 128,
    learning_rate: float = 5e-4,
    slice_steps: int = 25,
    seed: int = 0,
    device: str = "cpu",
    on_slice: Callable[[int, float], bool | None] | None = None,
) -> TrainedModel:
    """Continue training a copy of ``model`` on the most recent windows of ``panel``.

    Windows end within the last ``recent_days`` days whose targets ``panel``
    holds. Training runs ``steps`` optimizer steps in slices of
    ``slice_steps``; after each slice ``on_slice(steps_done, mean_loss)`` is
    called, and returning ``False`` stops early, so a caller outside the stream
    worker can bound each burst of work. ``model`` is not modified.

    Returns
    -------
    TrainedModel
        New weights with a new ``model_version``; ``metadata["parent_version"]``
        names the model it started from.
    """
    meta = model.metadata
    context = int(meta.get("context_days", TrainingConfig.context_days))
    min_context = int(meta.get("min_context_days", TrainingConfig.min_context_days))
    stride = int(meta.get("origin_stride", TrainingConfig.origin_stride))
    horizon = model.horizon
    last_stop = panel.n_days - horizon
    first_stop = max(context, last_stop - recent_days + 1)
    if steps < 1 or last_stop < first_stop:
        raise TrainingError(
            f"panel: fine-tuning {steps} steps needs steps >= 1 and at least"
            f" context_days + horizon = {context + horizon} days, got {panel.n_days}"
        )
    windows = _Windows(
        features=panel_features(panel, model.feature_config, extra_days=1),
        cumulative=_cumulative(panel.demand),
        weight=_sku_weights(panel, panel.n_days - 1, 0.5),
        offsets=np.arange(0, context - min_context + 1, stride),
        context_days=context,
        horizon=horizon,
    )
    eligible = np.flatnonzero(panel.demand.sum(axis=1) > 0)
    network = copy.deepcopy(model.network).to(device).train()
    optimizer = torch.optim.AdamW(network.parameters(), lr=learning_rate)
    levels = torch.tensor(network.config.quantile_levels, device=device)
    positions = context - 1 - windows.offsets
    rng = np.random.default_rng(seed)
    done, losses = 0, []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        while done < steps:
            total = 0.0
            todo = min(slice_steps, steps - done)
            for _ in range(todo):
                rows = rng.choice(eligible, size=batch_size)
                stops = rng.integers(first_stop, last_stop + 1, size=batch_size)
                inputs, known, target, weight = windows.batch(rows, stops, device)
                outputs, _ = network.encode(inputs)
                quantiles = network.decode(outputs[:, positions], known)
                loss = pinball_loss(quantiles, target, levels, weight)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
                optimizer.step()
                total += float(loss.detach())
            done += todo
            losses.append(total / todo)
            if on_slice is not None and on_slice(done, losses[-1]) is False:
                break
    network.eval().to("cpu")
    return TrainedModel(
        network=network,
        feature_config=model.feature_config,
        model_version=f"lstm-{panel.end.isoformat()}-{weights_digest(network)[:12]}",
        validation_loss=float("nan"),
        metadata={
            **meta,
            "parent_version": model.model_version,
            "fine_tuned_until": panel.end.isoformat(),
            "fine_tune_steps": done,
            "fine_tune_loss": losses,
        },
    )
