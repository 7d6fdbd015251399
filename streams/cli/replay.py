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
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--topic-prefix", default="", help="as given to the worker")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from forecasting.datasets import bundled_dataset_path, load_sales
    from streams.replay import replay, select_days
    from streams.topics import SALES_EVENTS

    events = load_sales(args.data or bundled_dataset_path()).events
    if args.start or args.end:
        days = events["occurred_at"].dt.date
        events = select_days(events, args.start or days.min(), args.end or days.max())
    topic = args.topic_prefix + SALES_EVENTS
    replay(events, args.bootstrap_servers, topic=topic, speed=args.speed)
    return 0
