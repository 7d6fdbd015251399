"""``replenish warehouse``: answer reorder commands with receipts, in event time."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "warehouse",
        help="simulate a warehouse: reorder-commands in, stock-events receipts out",
        description=(
            "Consume reorder-commands with a consumer group of its own and emit"
            " one receipt per command on stock-events, dated the command's as_of"
            " day plus a sampled lead time. Runs until SIGTERM or SIGINT."
        ),
    )
    add = parser.add_argument
    add("--bootstrap-servers", help="Kafka address (default: settings)")
    add("--topic-prefix", help="prepended to every topic name (as the worker's)")
    add("--partitions", type=int, help="partitions per SKU topic (default: settings)")
    add(
        "--group-id",
        help="consumer group (default: <app id>-warehouse from the settings)",
    )
    add(
        "--lead-time-spread-days",
        type=float,
        default=0.0,
        help="standard deviation of the lead time around the planned one (default 0)",
    )
    add("--seed", type=int, default=0, help="seed of the lead-time draws (default 0)")
    add(
        "--fill-rate",
        type=float,
        default=1.0,
        help="share of the ordered units delivered, in (0, 1] (default 1.0)",
    )
    add(
        "--receipt-hour",
        type=int,
        default=9,
        help="local hour receipts are booked at (default 9)",
    )
    add("--timezone", help="IANA zone of the warehouse (default: the shop's)")
    add(
        "--realtime",
        type=float,
        metavar="SECONDS_PER_DAY",
        help="hold each receipt back for its lead time at this many wall seconds"
        " per day (default: send at once)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from streams.cli import kafka_ready
    from streams.config import Settings
    from streams.topics import REORDER_COMMANDS, STOCK_EVENTS
    from streams.warehouse import WarehouseConfig, WarehouseConfigError
    from streams.warehouse_service import serve

    settings = Settings.from_env(
        bootstrap_servers=args.bootstrap_servers,
        topic_prefix=args.topic_prefix,
        partitions=args.partitions,
    )
    try:
        config = WarehouseConfig(
            lead_time_spread_days=args.lead_time_spread_days,
            fill_rate=args.fill_rate,
            seed=args.seed,
            receipt_hour=args.receipt_hour,
            timezone=args.timezone or settings.timezone,
            seconds_per_day=args.realtime,
        )
    except WarehouseConfigError as error:
        print(f"replenish warehouse: error: {error}", file=sys.stderr)
        return 2
    if not kafka_ready(settings, REORDER_COMMANDS, STOCK_EVENTS):
        return 1

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, _stopping, stop, sig)
        await serve(
            settings.bootstrap_servers,
            command_topic=settings.topic(REORDER_COMMANDS),
            stock_topic=settings.topic(STOCK_EVENTS),
            group_id=args.group_id or f"{settings.app_id}-warehouse",
            config=config,
            stop=stop,
        )

    asyncio.run(main())
    return 0


def _stopping(stop: asyncio.Event, sig: signal.Signals) -> None:
    log.info("Received %s, stopping the warehouse", sig.name)
    stop.set()
