"""``replenish train``: fit the global LSTM on a sales file and write a checkpoint."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time

from streams.cli import positive_int

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train the global LSTM forecaster and save a checkpoint"
    )
    add = parser.add_argument
    add("--data", help="sales file (default: the bundled Online Retail II)")
    add(
        "--until",
        type=dt.date.fromisoformat,
        required=True,
        help="last day of history used for training, inclusive (YYYY-MM-DD)",
    )
    add("--out", required=True, help="checkpoint file to write")
    add("--epochs", type=int, default=None, help="maximum epochs (default 40)")
    add(
        "--patience",
        type=int,
        default=None,
        help="epochs without a better validation loss before stopping (default 10)",
    )
    add("--learning-rate", type=float, default=None, help="AdamW rate (default 2e-3)")
    add("--seed", type=int, default=0, help="random seed (default 0)")
    add("--hidden-size", type=int, default=None, help="LSTM width (default 32)")
    add("--device", choices=("cpu", "cuda"), default="cpu", help="default cpu")
    add("--threads", type=positive_int, default=None, help="torch CPU threads")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    import torch

    from forecasting.checkpoint import file_sha256, save_checkpoint
    from forecasting.datasets import bundled_dataset_path, training_panel
    from forecasting.training import TrainingConfig, train

    if args.threads:
        torch.set_num_threads(args.threads)
    changes: dict[str, object] = {"seed": args.seed, "device": args.device}
    for name in ("epochs", "patience", "learning_rate", "hidden_size"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    config = dataclasses.replace(TrainingConfig(), **changes)  # type: ignore[arg-type]

    path = args.data or bundled_dataset_path()
    log.info("loading sales from %s", path)
    panel = training_panel(path, args.until)
    log.info(
        "training on %d SKUs over %s..%s (seed %d, device %s)",
        len(panel.skus),
        panel.start,
        panel.end,
        config.seed,
        config.device,
    )
    began = time.perf_counter()
    model = train(panel, config, until=args.until)
    seconds = time.perf_counter() - began
    out = save_checkpoint(model, args.out)
    print(f"checkpoint: {out} (sha256 {file_sha256(out)})")
    print(f"model version: {model.model_version}")
    print(
        f"validation loss: {model.validation_loss:.4f} after"
        f" {model.metadata['epochs_run']} epochs in {seconds:.0f} s"
    )
    return 0
