"""The ``replenish`` command: one subcommand per module in this package.

Each module exposes ``register(subparsers)``, which adds its parser and sets
``handler`` to a function taking the parsed arguments and returning an exit
code. Heavy imports (torch, faust) happen inside handlers so that ``--help``
stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.config import Settings

log = logging.getLogger(__name__)

COMMAND_MODULES = (
    "streams.cli.kafka",
    "streams.cli.demo",
    "streams.cli.worker",
    "streams.cli.replay",
    "streams.cli.train",
    "streams.cli.backtest",
    "streams.cli.simulate",
    "streams.cli.warehouse",
    "streams.cli.policies",
    "streams.cli.trainer",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="replenish",
        description="Streaming inventory controller on Kafka.",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        help="logging level (default: INFO)",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The Kafka clients narrate every connection at INFO; keep their warnings,
    # except kafka-python's timing of its own I/O loop, which while reading
    # large topics back warns of itself and of nothing an operator can act on.
    for name in ("kafka", "aiokafka"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.root.level))
    logging.getLogger("kafka.net.selector").setLevel(
        max(logging.ERROR, logging.root.level)
    )
    try:
        return int(args.handler(args) or 0)
    except ValueError as exc:
        # Input errors of every package derive from ValueError and name the
        # field and the value; the traceback adds nothing for the user.
        log.debug("%s failed", args.command, exc_info=True)
        print(f"replenish {args.command}: error: {exc}", file=sys.stderr)
        return 2


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds above 0."""
    value = float(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def kafka_ready(settings: Settings, *topics: str) -> bool:
    """Whether a broker answers at ``settings``' address; if so, the topics
    named (every catalogue topic when none) exist in its deployment.

    For the commands that use Kafka: without it they would wait for a broker
    a minute and end in a client traceback.
    """
    from streams.topics import CATALOGUE, TOPICS, ensure_topics

    if broker_missing(settings.bootstrap_servers):
        return False
    ensure_topics(
        settings.bootstrap_servers,
        partitions=settings.partitions,
        prefix=settings.topic_prefix,
        topics=[TOPICS[name] for name in topics] if topics else CATALOGUE,
    )
    return True


def broker_missing(bootstrap_servers: str) -> bool:
    """Whether no Kafka broker answers at ``bootstrap_servers``; says so if none."""
    from streams.broker import broker_answers

    if broker_answers(bootstrap_servers):
        return False
    print(
        f"replenish: no Kafka broker answers at {bootstrap_servers}"
        " (`replenish kafka start` runs one here)",
        file=sys.stderr,
    )
    return True


if __name__ == "__main__":
    sys.exit(main())
