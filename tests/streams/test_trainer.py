"""The trainer process: a round fine-tunes, saves and announces a model."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from unittest import mock

import numpy as np
import orjson
import pandas as pd
import pytest

from forecasting.checkpoint import (
    TrainedModel,
    file_sha256,
    load_checkpoint,
    save_checkpoint,
)
from forecasting.datasets import daily_panel, load_sales
from forecasting.training import TrainingConfig, train
from streams.cli import main
from streams.events import decode_model_update
from streams.models import load_update
from streams.readback import read_all
from streams.topics import MODEL_UPDATES, TOPICS, ensure_topics
from streams.trainer import (
    TrainerConfig,
    TrainerConfigError,
    announce,
    checkpoint_path,
    run_trainer,
    train_round,
)

FIRST_DAY = dt.date(2011, 1, 3)
DAYS = 90


@pytest.fixture(scope="module")
def sales_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tidy sales of 6 SKUs over 90 days, weekly seasonal Poisson demand."""
    rng = np.random.default_rng(0)
    days = pd.date_range(FIRST_DAY, periods=DAYS, freq="D", tz="UTC")
    rows = []
    for k in range(6):
        rate = (1 + k) * (1.5 + np.sin(2 * np.pi * np.arange(DAYS) / 7))
        for day, units in zip(days, rng.poisson(rate), strict=True):
            if units:
                rows.append((f"SKU-{k}", day + pd.Timedelta(hours=12), units, 2.5))
    frame = pd.DataFrame(rows, columns=["sku", "timestamp", "quantity", "unit_price"])
    path = tmp_path_factory.mktemp("sales") / "sales.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def checkpoint(sales_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained in a second or two on the synthetic sales."""
    panel = daily_panel(load_sales(sales_file))
    config = TrainingConfig(
        epochs=1,
        batch_size=16,
        windows_per_epoch=32,
        hidden_size=4,
        horizon=7,
        quantile_levels=(0.1, 0.5, 0.9),
        context_days=28,
        min_context_days=14,
        validation_days=14,
        progress=False,
    )
    model = train(panel, config)
    return save_checkpoint(model, tmp_path_factory.mktemp("start") / "start.pt")


def tiny_config(sales_file: Path, checkpoint: Path, models_dir: Path) -> TrainerConfig:
    return TrainerConfig(
        checkpoint=checkpoint,
        models_dir=models_dir,
        data=sales_file,
        recent_days=30,
        steps=2,
        batch_size=16,
        progress=False,
    )


def test_a_round_saves_a_new_versioned_checkpoint(sales_file, checkpoint, tmp_path):
    start = load_checkpoint(checkpoint)

    done = train_round(tiny_config(sales_file, checkpoint, tmp_path / "models"))

    assert done is not None
    assert done.path == checkpoint_path(tmp_path / "models", done.model.model_version)
    assert done.path.is_absolute()
    assert done.model.model_version != start.model_version
    assert done.model.metadata["parent_version"] == start.model_version
    assert done.update.sha256 == file_sha256(done.path)
    assert done.update.location == str(done.path)
    assert load_checkpoint(done.path).model_version == done.update.model_version
    assert not list((tmp_path / "models").glob("*.partial"))


def test_a_round_honours_until_and_is_seeded(sales_file, checkpoint, tmp_path):
    until = FIRST_DAY + dt.timedelta(days=69)
    config = TrainerConfig(
        checkpoint=checkpoint,
        models_dir=tmp_path,
        data=sales_file,
        until=until,
        recent_days=20,
        steps=2,
        batch_size=16,
        progress=False,
    )

    first = train_round(config)
    again = train_round(config)

    assert first is not None and again is not None
    assert first.model.metadata["fine_tuned_until"] == until.isoformat()
    assert first.update.sha256 == again.update.sha256


def test_a_stop_during_training_saves_nothing(sales_file, checkpoint, tmp_path):
    stop = threading.Event()
    stop.set()

    done = train_round(tiny_config(sales_file, checkpoint, tmp_path), stop=stop)

    assert done is None
    assert not list(tmp_path.iterdir())


def test_the_config_rejects_no_steps():
    with pytest.raises(TrainerConfigError, match="steps: must be >= 1, got 0"):
        TrainerConfig(steps=0)


@pytest.mark.integration
def test_once_announces_the_checkpoint_it_wrote(  # noqa: PLR0917 - fixtures
    kafka_bootstrap: str,
    topic_prefix: str,
    sales_file: Path,
    checkpoint: Path,
    tmp_path: Path,
    capsys,
):
    models_dir = tmp_path / "models"

    code = main(
        [
            "trainer",
            "--once",
            "--checkpoint",
            str(checkpoint),
            "--data",
            str(sales_file),
            "--recent-days",
            "30",
            "--steps",
            "2",
            "--batch-size",
            "16",
            "--models-dir",
            str(models_dir),
            "--no-progress",
            "--bootstrap-servers",
            kafka_bootstrap,
            "--topic-prefix",
            topic_prefix,
        ]
    )

    assert code == 0
    (record,) = read_all(kafka_bootstrap, topic_prefix + MODEL_UPDATES)
    update = decode_model_update(orjson.dumps(record))
    (written,) = models_dir.glob("*.pt")
    assert update.location == str(written.resolve())
    assert update.sha256 == file_sha256(written)
    assert f"model version: {update.model_version}" in capsys.readouterr().out
    current: TrainedModel = load_checkpoint(checkpoint)
    assert load_update(update, current).model_version == update.model_version


@pytest.mark.integration
def test_rounds_repeat_from_the_last_model_until_stopped(
    kafka_bootstrap: str,
    topic_prefix: str,
    sales_file: Path,
    checkpoint: Path,
    tmp_path,
):
    topic = topic_prefix + MODEL_UPDATES
    ensure_topics(kafka_bootstrap, prefix=topic_prefix, topics=[TOPICS[MODEL_UPDATES]])
    config = tiny_config(sales_file, checkpoint, tmp_path)
    stop = threading.Event()
    announced: list[str] = []

    def stop_after_two(update, bootstrap_servers, name):
        announce(update, bootstrap_servers, name)
        announced.append(update.model_version)
        if len(announced) == 2:
            stop.set()

    with mock.patch("streams.trainer.announce", stop_after_two):
        rounds = run_trainer(config, kafka_bootstrap, topic, interval=0.1, stop=stop)

    first, second = rounds
    assert second.model.metadata["parent_version"] == first.model.model_version
    records = read_all(kafka_bootstrap, topic)
    assert [r["model_version"] for r in records] == announced
