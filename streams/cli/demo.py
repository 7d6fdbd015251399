"""``replenish demo``: the closed loop on the bundled data, on a local broker."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="replay the bundled data through a worker and show its orders"
    )
    parser.add_argument(
        "--start",
        type=dt.date.fromisoformat,
        default=dt.date(2011, 8, 1),
        help="first day of the demo period (default: 2011-08-01)",
    )
    parser.add_argument("--days", type=int, default=31, help="days to replay")
    parser.add_argument(
        "--warmup-days",
        type=int,
        default=56,
        help="days replayed first so that every SKU has a history (default: 56)",
    )
    parser.add_argument("--data", type=Path, help="dataset (default: bundled)")
    parser.add_argument(
        "--bootstrap-servers",
        help="use this Kafka cluster instead of starting the local broker",
    )
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    parser.add_argument(
        "--forecaster",
        choices=("lstm", "tsb"),
        default="lstm",
        help="the worker's forecaster (default: the bundled LSTM)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from streams.broker import BrokerError, LocalKafka
    from streams.cli import broker_missing
    from streams.demo import run_demo, summarise

    bootstrap = args.bootstrap_servers
    if bootstrap is None:
        broker = LocalKafka.from_env()
        try:
            broker.start()
        except BrokerError as error:
            print(f"replenish demo: error: {error}", file=sys.stderr)
            return 1
        bootstrap = broker.bootstrap_servers
    elif broker_missing(bootstrap):
        return 1
    result = run_demo(
        bootstrap,
        data=args.data,
        start=args.start,
        days=args.days,
        warmup_days=args.warmup_days,
        out_dir=args.out,
        forecaster=args.forecaster,
    )
    print(summarise(result))
    return 0
