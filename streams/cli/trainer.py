"""``replenish trainer``: fine-tune the forecaster and announce new weights."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import signal
import sys
import threading
from pathlib import Path

from streams.cli import positive_int, positive_seconds

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "trainer",
        help="fine-tune the LSTM on recent sales and announce it on model-updates",
        description=(
            "Load a checkpoint, fine-tune it on the most recent days of a sales"
            " file, save the new checkpoint into the models folder and announce"
            " its path and sha256 on model-updates. Repeats every --interval"
            " seconds, each round starting from the last model, until SIGTERM"
            " or SIGINT; --once runs one round."
        ),
    )
    add = parser.add_argument
    add("--checkpoint", type=Path, help="model to start from (default: bundled)")
    add("--data", type=Path, help="sales file (default: bundled Online Retail II)")
    add(
        "--until",
        type=dt.date.fromisoformat,
        help="last day of sales used, inclusive (default: the file's last day)",
    )
    add("--recent-days", type=int, default=168, help="days of windows (default 168)")
    add("--steps", type=int, default=200, help="optimizer steps a round (default 200)")
    add("--batch-size", type=int, default=128, help="windows a step (default 128)")
    add(
        "--models-dir",
        type=Path,
        help="checkpoint folder (default: models in the cache folder)",
    )
    add("--seed", type=int, default=0, help="random seed (default 0)")
    add("--device", choices=("cpu", "cuda"), default="cpu", help="default cpu")
    add("--threads", type=positive_int, help="torch CPU threads")
    once = parser.add_mutually_exclusive_group()
    once.add_argument("--once", action="store_true", help="run one round and exit")
    once.add_argument(
        "--interval",
        type=positive_seconds,
        default=3600.0,
        help="seconds from one round's start to the next (default 3600)",
    )
    add("--no-progress", action="store_true", help="hide the progress bar")
    add("--bootstrap-servers", help="Kafka address (default: settings)")
    add("--topic-prefix", help="prepended to every topic name (as the worker's)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from forecasting.checkpoint import BUNDLED_CHECKPOINT, CheckpointError
    from forecasting.datasets import DatasetError
    from forecasting.training import TrainingError
    from streams.cli import kafka_ready
    from streams.config import Settings, cache_dir
    from streams.topics import MODEL_UPDATES
    from streams.trainer import TrainerConfig, TrainerConfigError, run_trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    settings = Settings.from_env(
        bootstrap_servers=args.bootstrap_servers, topic_prefix=args.topic_prefix
    )
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda number, _: _stopping(stop, number))
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        config = TrainerConfig(
            checkpoint=args.checkpoint or BUNDLED_CHECKPOINT,
            models_dir=args.models_dir or cache_dir() / "models",
            data=args.data,
            until=args.until,
            recent_days=args.recent_days,
            steps=args.steps,
            batch_size=args.batch_size,
            seed=args.seed,
            device=args.device,
            progress=not args.no_progress,
        )
        if not kafka_ready(settings, MODEL_UPDATES):
            return 1
        rounds = run_trainer(
            config,
            settings.bootstrap_servers,
            settings.topic(MODEL_UPDATES),
            interval=None if args.once else args.interval,
            stop=stop,
        )
    except (
        TrainerConfigError,
        CheckpointError,
        DatasetError,
        FileNotFoundError,
        TrainingError,
    ) as error:
        print(f"replenish trainer: {error}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for done in rounds:
        print(f"model version: {done.update.model_version}")
        print(f"checkpoint: {done.path} (sha256 {done.update.sha256})")
    return 0


def _stopping(stop: threading.Event, number: int) -> None:
    log.info("Received %s, stopping the trainer", signal.Signals(number).name)
    stop.set()
