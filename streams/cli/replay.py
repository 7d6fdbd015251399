"""``replenish replay``: produce sale events from a dataset."""

from __future__ import annotations

import argparse
import datetime as dt


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "replay", help="produce a dataset's sales into sales-events"
    )
    parser.add_argument("--data", help="dataset file (default: the bundled one)")
    parser.add_argument("--start", type=dt.date.fromisoformat, help="first day")
    parser.add_argument("--end", type=dt.date.fromisoformat, help="last day")
    parser.add_argument(
        "--speed",
        type=float,
        help="event-time seconds per wall second (default: as fast as possible)",
    )
    parser.add_argument("--bootstrap-servers", help="Kafka address (default: settings)")
    parser.add_argument("--topic-prefix", help="as given to the worker")
    parser.add_argument(
        "--partitions",
        type=int,
        help="partitions of sales-events if it has to be created (default: settings)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from forecasting.datasets import bundled_dataset_path, load_sales
    from streams.cli import kafka_ready
    from streams.config import Settings
    from streams.replay import check_speed, replay, select_days
    from streams.topics import SALES_EVENTS

    check_speed(args.speed)
    settings = Settings.from_env(
        bootstrap_servers=args.bootstrap_servers,
        topic_prefix=args.topic_prefix,
        partitions=args.partitions,
    )
    events = load_sales(args.data or bundled_dataset_path()).events
    if args.start or args.end:
        events = select_days(
            events,
            args.start or dt.date.min,
            args.end or dt.date.max,
            settings.timezone,
        )
    if not kafka_ready(settings, SALES_EVENTS):
        return 1
    topic = settings.topic(SALES_EVENTS)
    replay(events, settings.bootstrap_servers, topic=topic, speed=args.speed)
    return 0
