"""The trainer process: fine-tune the forecaster and announce new weights.

Training runs outside the stream worker. A round loads a model, fine-tunes
it with :func:`~forecasting.training.fine_tune` on the most recent days of a
sales file, saves the result atomically into a models folder under a file
named after its ``model_version``, and announces it on ``model-updates``
with the file's absolute path and sha256, never the weights themselves.
Workers load it with :func:`streams.models.load_update`.

The first round starts from the configured checkpoint; each later round
starts from the model the round before wrote, so the served model keeps
adapting. The sales file is read again every round, so a file that grows
between rounds is picked up.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaProducer
from tqdm.auto import tqdm

from forecasting.base import DemandPanel
from forecasting.checkpoint import (
    BUNDLED_CHECKPOINT,
    FORMAT_NAME,
    TrainedModel,
    file_sha256,
    load_checkpoint,
    save_checkpoint,
)
from forecasting.datasets import bundled_dataset_path, training_panel
from forecasting.training import fine_tune
from streams.config import cache_dir
from streams.events import ModelUpdate, encode

log = logging.getLogger(__name__)

#: Key of every ``model-updates`` record: the topic keeps the latest model.
MODEL_KEY = FORMAT_NAME.encode()

# Steps between two progress updates (and two looks at the stop flag).
_SLICE_STEPS = 5
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]")


class TrainerConfigError(ValueError):
    """A trainer setting breaks its rule; the message names field and value."""


@dataclass(frozen=True)
class TrainerConfig:
    """What one training round does.

    Attributes
    ----------
    checkpoint
        The model the first round fine-tunes; the bundled one by default.
    models_dir
        Folder new checkpoints are written to; ``models`` in the cache folder
        (``$REPLENISH_CACHE_DIR``, else ``.cache``) by default.
    data
        Sales file (CSV or Parquet, see :func:`forecasting.datasets.load_sales`);
        None for the bundled Online Retail II data.
    until
        Last day of sales used, inclusive; None for the file's last day.
    recent_days
        Training windows end within this many last days with known targets.
    steps
        Optimizer steps per round.
    batch_size
        Training windows per step.
    seed
        Seed of the window sampling and dropout.
    device
        ``"cpu"`` or ``"cuda"``.
    progress
        Show a progress bar of the steps.
    """

    checkpoint: Path = BUNDLED_CHECKPOINT
    models_dir: Path = field(default_factory=lambda: cache_dir() / "models")
    data: Path | None = None
    until: dt.date | None = None
    recent_days: int = 168
    steps: int = 200
    batch_size: int = 128
    seed: int = 0
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("recent_days", "steps", "batch_size"):
            value = getattr(self, name)
            if value < 1:
                raise TrainerConfigError(f"{name}: must be >= 1, got {value!r}")


@dataclass(frozen=True)
class TrainingRound:
    """The outcome of one round.

    Attributes
    ----------
    model
        The fine-tuned model.
    path
        Absolute path of its checkpoint file.
    update
        The record announcing it.
    seconds
        Wall time of the round, loading and saving included.
    """

    model: TrainedModel
    path: Path
    update: ModelUpdate
    seconds: float


def checkpoint_path(models_dir: Path, model_version: str) -> Path:
    """``<models_dir>/<model_version>.pt``, characters unsafe in names as ``_``."""
    return models_dir / (_UNSAFE_FILE_CHARS.sub("_", model_version) + ".pt")


def load_panel(config: TrainerConfig) -> DemandPanel:
    """Daily demand of the configured sales file, up to ``config.until``."""
    path = config.data or bundled_dataset_path()
    log.info("Loading sales from %s", path)
    return training_panel(path, config.until)


def train_round(
    config: TrainerConfig,
    start: TrainedModel | None = None,
    stop: threading.Event | None = None,
) -> TrainingRound | None:
    """Fine-tune, save and describe one new model; announce nothing.

    Parameters
    ----------
    config
        What to train on and where to save.
    start
        The model to fine-tune; None loads ``config.checkpoint``.
    stop
        When set during training, the round ends early and saves nothing.

    Returns
    -------
    TrainingRound or None
        None when ``stop`` ended the round.
    """
    began = time.perf_counter()
    model = start if start is not None else load_checkpoint(config.checkpoint)
    panel = load_panel(config)
    log.info(
        "Fine-tuning %s on %d SKUs up to %s: %d steps over the last %d days",
        model.model_version,
        len(panel.skus),
        panel.end,
        config.steps,
        config.recent_days,
    )
    bar = tqdm(
        total=config.steps, desc="fine-tune", unit="step", disable=not config.progress
    )

    def on_slice(done: int, loss: float) -> bool:
        bar.update(done - bar.n)
        bar.set_postfix(loss=f"{loss:.4f}")
        return stop is None or not stop.is_set()

    with bar:
        tuned = fine_tune(
            model,
            panel,
            config.steps,
            recent_days=config.recent_days,
            batch_size=config.batch_size,
            slice_steps=_SLICE_STEPS,
            seed=config.seed,
            device=config.device,
            on_slice=on_slice,
        )
    if stop is not None and stop.is_set():
        log.info("Round stopped early; %s discarded", tuned.model_version)
        return None

    path = save_checkpoint(
        tuned, checkpoint_path(config.models_dir, tuned.model_version)
    ).resolve()
    update = ModelUpdate(
        model_version=tuned.model_version,
        location=str(path),
        sha256=file_sha256(path),
        created_at=dt.datetime.now(dt.UTC),
    )
    seconds = time.perf_counter() - began
    log.info(
        "Saved %s to %s (sha256 %s) in %.1f s",
        update.model_version,
        path,
        update.sha256,
        seconds,
    )
    return TrainingRound(tuned, path, update, seconds)


def announce(update: ModelUpdate, bootstrap_servers: str, topic: str) -> None:
    """Publish ``update`` on ``topic`` and wait for the broker's acknowledgement."""
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    try:
        producer.send(topic, key=MODEL_KEY, value=encode(update)).get(timeout=30)
    finally:
        producer.close()
    log.info("Announced %s on %s", update.model_version, topic)


def run_trainer(
    config: TrainerConfig,
    bootstrap_servers: str,
    topic: str,
    *,
    interval: float | None = None,
    stop: threading.Event | None = None,
) -> list[TrainingRound]:
    """Train and announce one round, or one every ``interval`` seconds.

    With an ``interval``, rounds repeat until ``stop`` is set; the wait
    counts from the start of a round. Returns the rounds completed.
    """
    if interval is not None and interval <= 0:
        raise TrainerConfigError(f"interval: must be > 0 seconds, got {interval!r}")
    stop = stop or threading.Event()
    rounds: list[TrainingRound] = []
    model: TrainedModel | None = None
    while not stop.is_set():
        began = time.monotonic()
        done = train_round(config, model, stop)
        if done is None:
            break
        announce(done.update, bootstrap_servers, topic)
        rounds.append(done)
        model = done.model
        if interval is None:
            break
        wait = max(0.0, interval - (time.monotonic() - began))
        log.info("Next round in %.0f s", wait)
        stop.wait(wait)
    log.info("Trainer stopped after %d round(s)", len(rounds))
    return rounds
