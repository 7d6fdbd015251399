"""``replenish worker``: run the controller on Kafka."""

from __future__ import annotations

import argparse
import logging

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
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from faust import Worker

    from forecasting.tsb import TSBForecaster
    from optimization.policy import QuantilePolicy
    from streams.app import create_app
    from streams.config import Settings
    from streams.topics import ensure_topics

    settings = Settings.from_env(
        bootstrap_servers=args.bootstrap_servers,
        app_id=args.app_id,
        web_port=args.web_port,
        partitions=args.partitions,
        topic_prefix=args.topic_prefix,
    )
    ensure_topics(
        settings.bootstrap_servers,
        partitions=settings.partitions,
        prefix=settings.topic_prefix,
    )
    forecaster = TSBForecaster()
    app = create_app(settings, forecaster, QuantilePolicy(), model_version="tsb")
    log.info(
        "Starting worker %s on %s (web on %s:%d)",
        settings.app_id,
        settings.bootstrap_servers,
        settings.web_host,
        settings.web_port,
    )
    worker = Worker(app, loglevel=logging.getLogger().level, quiet=True)
    worker.execute_from_commandline()
    return 0
