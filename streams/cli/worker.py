"""``replenish worker``: run the controller on Kafka."""

from __future__ import annotations

import argparse
import gc
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker", help="run the stream worker (ingest, day close, reorder commands)"
    )
    parser.add_argument("--bootstrap-servers", help="Kafka address (host:port)")
    parser.add_argument("--app-id", help="consumer group and internal topic prefix")
    parser.add_argument("--topic-prefix", help="prepended to every topic name")
    parser.add_argument("--web-port", type=int, help="port of /metrics and views")
    parser.add_argument("--partitions", type=int, help="partitions per SKU topic")
    add_forecaster_options(parser)
    parser.set_defaults(handler=run)


def add_forecaster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--forecaster",
        choices=("lstm", "tsb"),
        help="the global LSTM (default) or the TSB baseline",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="LSTM checkpoint (default: data/models/lstm-until-2011-06-30.pt)",
    )
    parser.add_argument("--device", help="cpu (default) or cuda")


def run(args: argparse.Namespace) -> int:
    from faust import Worker

    from optimization.policy import QuantilePolicy
    from streams.app import create_app
    from streams.cli import kafka_ready
    from streams.config import Settings
    from streams.forecaster import make_stepper

    settings = Settings.from_env(
        bootstrap_servers=args.bootstrap_servers,
        app_id=args.app_id,
        web_port=args.web_port,
        partitions=args.partitions,
        topic_prefix=args.topic_prefix,
        forecaster=args.forecaster,
        checkpoint=args.checkpoint,
        device=args.device,
    )
    if not kafka_ready(settings):
        return 1
    stepper = make_stepper(settings)
    app = create_app(settings, stepper, QuantilePolicy())
    log.info(
        "Starting worker %s on %s with %s (web on %s:%d)",
        settings.app_id,
        settings.bootstrap_servers,
        stepper.model_version,
        settings.web_host,
        settings.web_port,
    )
    # Tens of thousands of SKU states make each full garbage collection cost
    # a noticeable part of a day close; the code, the model and the app are
    # never garbage, and collections of young objects can be rarer.
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    worker = Worker(app, loglevel=logging.getLogger().level, quiet=True)
    worker.execute_from_commandline()
    return 0
