"""The Kafka topics of replenish, as data, and the function that creates them.

Every topic keyed by SKU has the same partition count, so that all of a SKU's
events, policy, forecasts and commands land in partitions with the same
number and one worker holds all of that SKU's state. ``model-updates`` has one
partition: every worker reads all of it.

Use the constants, never the literal names::

    from streams.topics import SALES_EVENTS, ensure_topics

    ensure_topics("127.0.0.1:9092", partitions=8)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    LeaderNotAvailableError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)

logger = logging.getLogger(__name__)

SALES_EVENTS = "sales-events"
PROMOTION_EVENTS = "promotion-events"
STOCK_EVENTS = "stock-events"
SKU_POLICIES = "sku-policies"
FORECASTS = "forecasts"
REORDER_COMMANDS = "reorder-commands"
DEAD_LETTERS = "dead-letters"
MODEL_UPDATES = "model-updates"

DEFAULT_SKU_PARTITIONS = 4
_COMPACT = MappingProxyType({"cleanup.policy": "compact"})
# Metadata errors of a topic that does not exist, or not yet everywhere.
_NOT_YET = frozenset(
    (UnknownTopicOrPartitionError.errno, LeaderNotAvailableError.errno)
)


class TopicError(RuntimeError):
    """A topic could not be created or does not match the catalogue."""


class TopicMismatchError(TopicError):
    """An existing topic has a partition count or cleanup policy other than ours."""


@dataclass(frozen=True)
class TopicSpec:
    """One topic of the catalogue.

    Attributes
    ----------
    name : str
        Topic name (without any prefix).
    description : str
        What the records are and what they are keyed by.
    keyed_by_sku : bool
        Whether the record key is the SKU. These topics, and the dead letters
        that mirror their partitions, share the SKU partition count.
    partitions : int or None
        Fixed partition count, or None for the shared SKU partition count.
    config : Mapping[str, str]
        Topic configuration set at creation, e.g. ``cleanup.policy``.
    """

    name: str
    description: str
    keyed_by_sku: bool = True
    partitions: int | None = None
    config: Mapping[str, str] = field(default_factory=dict)

    @property
    def compacted(self) -> bool:
        """Whether Kafka keeps only the latest record per key."""
        return "compact" in self.config.get("cleanup.policy", "delete").split(",")

    def partition_count(self, sku_partitions: int) -> int:
        """Partition count of this topic when SKU topics have ``sku_partitions``."""
        return self.partitions if self.partitions is not None else sku_partitions


CATALOGUE: tuple[TopicSpec, ...] = (
    TopicSpec(SALES_EVENTS, "sales and returns from order platforms; key SKU"),
    TopicSpec(PROMOTION_EVENTS, "planned promotions from merchandising; key SKU"),
    TopicSpec(STOCK_EVENTS, "receipts, adjustments and counts; key SKU"),
    TopicSpec(SKU_POLICIES, "latest policy of each SKU; key SKU", config=_COMPACT),
    TopicSpec(FORECASTS, "cumulative-demand quantiles per SKU; key SKU"),
    TopicSpec(REORDER_COMMANDS, "orders for the warehouse system; key SKU"),
    TopicSpec(
        DEAD_LETTERS,
        "rejected input with reason and raw bytes; key as received",
        keyed_by_sku=False,
    ),
    TopicSpec(
        MODEL_UPDATES,
        "model versions for the workers to load; key model name",
        keyed_by_sku=False,
        partitions=1,
        config=_COMPACT,
    ),
)
TOPICS: Mapping[str, TopicSpec] = MappingProxyType({t.name: t for t in CATALOGUE})


def ensure_topics(
    bootstrap_servers: str,
    partitions: int = DEFAULT_SKU_PARTITIONS,
    *,
    replication_factor: int = 1,
    prefix: str = "",
    topics: Sequence[TopicSpec] = CATALOGUE,
    timeout: float = 30.0,
) -> list[str]:
    """Create the catalogue's missing topics; check the existing ones.

    Safe to call any number of times, from any number of processes.

    Parameters
    ----------
    bootstrap_servers : str
        Kafka bootstrap address, ``host:port[,host:port...]``.
    partitions : int
        Partition count of every SKU-keyed topic (and of ``dead-letters``).
    replication_factor : int
        Replicas of every topic; 1 for a single broker.
    prefix : str
        Prepended to every topic name, e.g. to give a test its own topics.
    topics : Sequence[TopicSpec]
        The topics to ensure; default the whole catalogue.
    timeout : float
        Seconds for each admin request.

    Returns
    -------
    list[str]
        Names (with prefix) of the topics this call created.

    Raises
    ------
    ValueError
        If ``partitions`` or ``replication_factor`` is below 1.
    TopicMismatchError
        If an existing topic has another partition count or cleanup policy.
    TopicError
        If the broker refuses to create a topic.
    """
    _check_counts(partitions, replication_factor)
    coroutine = ensure_topics_async(
        bootstrap_servers,
        partitions,
        replication_factor=replication_factor,
        prefix=prefix,
        topics=topics,
        timeout=timeout,
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    coroutine.close()
    raise TopicError(
        "ensure_topics called from a running event loop; await ensure_topics_async"
    )


async def ensure_topics_async(
    bootstrap_servers: str,
    partitions: int = DEFAULT_SKU_PARTITIONS,
    *,
    replication_factor: int = 1,
    prefix: str = "",
    topics: Sequence[TopicSpec] = CATALOGUE,
    timeout: float = 30.0,
) -> list[str]:
    """Awaitable ``ensure_topics``, for code already inside an event loop."""
    _check_counts(partitions, replication_factor)
    wanted = {prefix + t.name: t for t in topics}
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        client_id="replenish-topics",
        request_timeout_ms=int(timeout * 1000),
    )
    await admin.start()
    try:
        existing = await _partition_counts(admin, list(wanted))
        missing = [name for name in wanted if name not in existing]
        if missing:
            await _create(admin, missing, wanted, partitions, replication_factor)
            existing = await _wait_visible(admin, list(wanted), timeout)
        policies = await _cleanup_policies(admin, list(wanted))
    finally:
        await admin.close()

    for name, spec in wanted.items():
        _check(name, spec, partitions, existing.get(name), policies.get(name))
    return missing


async def _partition_counts(
    admin: AIOKafkaAdminClient, names: list[str]
) -> dict[str, int]:
    described = await admin.describe_topics(names)
    counts = {}
    for topic in described:
        if topic["error_code"] in _NOT_YET:
            continue
        if topic["error_code"] != 0:
            raise TopicError(
                f"describing topic {topic['topic']!r} failed with Kafka error code "
                f"{topic['error_code']}"
            )
        counts[topic["topic"]] = len(topic["partitions"])
    return counts


async def _wait_visible(
    admin: AIOKafkaAdminClient, names: list[str], timeout: float
) -> dict[str, int]:
    """Poll metadata until every topic in ``names`` is listed with its partitions."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        counts = await _partition_counts(admin, names)
        absent = [name for name in names if name not in counts]
        if not absent:
            return counts
        if asyncio.get_running_loop().time() > deadline:
            raise TopicError(
                f"topics {absent} were created but are not in the broker's metadata "
                f"after {timeout:.0f} s"
            )
        await asyncio.sleep(0.1)


async def _create(
    admin: AIOKafkaAdminClient,
    names: list[str],
    wanted: Mapping[str, TopicSpec],
    partitions: int,
    replication_factor: int,
) -> None:
    new_topics = [
        NewTopic(
            name,
            wanted[name].partition_count(partitions),
            replication_factor,
            topic_configs=dict(wanted[name].config),
        )
        for name in names
    ]
    response = await admin.create_topics(new_topics)
    for name, code, message in (error[:3] for error in response.topic_errors):
        if code == TopicAlreadyExistsError.errno:  # created concurrently: checked
            continue
        if code != 0:
            raise TopicError(f"creating topic {name!r} failed: error {code}, {message}")
        logger.info(
            "Created topic %s (%d partitions)",
            name,
            wanted[name].partition_count(partitions),
        )


async def _cleanup_policies(
    admin: AIOKafkaAdminClient, names: list[str]
) -> dict[str, str]:
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, name, configs={"cleanup.policy": ""})
        for name in names
    ]
    policies = {}
    for response in await admin.describe_configs(resources):
        for _, _, _, resource_name, entries in response.resources:
            for entry in entries:
                if entry[0] == "cleanup.policy":
                    policies[resource_name] = entry[1]
    return policies


def _check_counts(partitions: int, replication_factor: int) -> None:
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1; got {partitions}")
    if replication_factor < 1:
        raise ValueError(f"replication_factor must be >= 1; got {replication_factor}")


def _check(
    name: str,
    spec: TopicSpec,
    partitions: int,
    actual_partitions: int | None,
    actual_policy: str | None,
) -> None:
    expected_partitions = spec.partition_count(partitions)
    if actual_partitions != expected_partitions:
        raise TopicMismatchError(
            f"topic {name!r} has {actual_partitions} partitions; the catalogue "
            f"requires {expected_partitions}. Partition counts cannot shrink and "
            "growing them moves SKUs between partitions: recreate the topic or "
            "pass the existing count"
        )
    expected_policy = spec.config.get("cleanup.policy", "delete")
    if actual_policy is not None and actual_policy != expected_policy:
        raise TopicMismatchError(
            f"topic {name!r} has cleanup.policy={actual_policy}; the catalogue "
            f"requires cleanup.policy={expected_policy}"
        )
