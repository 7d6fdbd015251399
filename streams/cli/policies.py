"""``replenish policies load FILE.csv``: publish SKU policies to ``sku-policies``."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("policies", help="manage SKU policies")
    actions = parser.add_subparsers(dest="action", required=True)
    load = actions.add_parser(
        "load",
        help="check a CSV of SKU policies and publish it to sku-policies",
        description=(
            "Read one policy per row (columns: sku, policy_version and the"
            " SkuPolicy fields; see data/policies/example.csv), check every row"
            " and publish them keyed by SKU. If any row is bad, every error is"
            " listed and nothing is published."
        ),
    )
    add = load.add_argument
    add("file", help="CSV file of policies")
    add(
        "--policy-version",
        help="version of rows without a policy_version cell",
    )
    add("--bootstrap-servers", help="Kafka address (default: settings)")
    add("--topic-prefix", help="prepended to every topic name (as the worker's)")
    add("--partitions", type=int, help="partitions per SKU topic (default: settings)")
    add(
        "--check-only",
        action="store_true",
        help="check the file and publish nothing",
    )
    load.set_defaults(handler=run_load)


def run_load(args: argparse.Namespace) -> int:
    from streams.cli import kafka_ready
    from streams.config import Settings
    from streams.policies import (
        PolicyFileError,
        PolicyPublishError,
        publish_policies,
        read_policies,
    )
    from streams.topics import SKU_POLICIES

    try:
        policies = read_policies(args.file, args.policy_version)
    except PolicyFileError as error:
        print(error, file=sys.stderr)
        return 1
    except OSError as error:
        print(f"{args.file}: cannot be read: {error}", file=sys.stderr)
        return 1
    if args.check_only:
        print(f"{len(policies)} policies checked, none published")
        return 0

    settings = Settings.from_env(
        bootstrap_servers=args.bootstrap_servers,
        topic_prefix=args.topic_prefix,
        partitions=args.partitions,
    )
    if not kafka_ready(settings, SKU_POLICIES):
        return 1
    topic = settings.topic(SKU_POLICIES)
    try:
        published = publish_policies(policies, settings.bootstrap_servers, topic)
    except PolicyPublishError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{published} policies published to {topic}")
    return 0
