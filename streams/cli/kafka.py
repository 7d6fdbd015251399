"""``replenish kafka start|stop|status``: the local single-node broker."""

from __future__ import annotations

import argparse

from streams.broker import (
    DEFAULT_START_TIMEOUT_S,
    DEFAULT_STOP_TIMEOUT_S,
    BrokerError,
    LocalKafka,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "kafka",
        help="run a local Apache Kafka broker (KRaft, jars from Maven Central)",
        description=(
            "Start, stop or inspect the local single-node broker. Jars, data and "
            "logs live under $REPLENISH_CACHE_DIR/kafka (default .cache/kafka); "
            "the port is $REPLENISH_KAFKA_PORT (default 9092)."
        ),
    )
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help=(
            "seconds to wait for the broker to answer (start, default "
            f"{DEFAULT_START_TIMEOUT_S:.0f}) or to exit (stop, default "
            f"{DEFAULT_STOP_TIMEOUT_S:.0f})"
        ),
    )
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    broker = LocalKafka.from_env()
    try:
        if args.action == "start":
            broker.start(timeout=args.timeout or DEFAULT_START_TIMEOUT_S)
        elif args.action == "stop":
            broker.stop(timeout=args.timeout or DEFAULT_STOP_TIMEOUT_S)
    except BrokerError as exc:
        print(f"replenish kafka {args.action}: {exc}")
        return 1
    status = broker.status()
    print(status)
    if args.action == "stop":
        return 0 if not status.running else 1
    return 0 if status.answering else 1
